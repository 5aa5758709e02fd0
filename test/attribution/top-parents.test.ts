import { describe, expect, it } from 'vitest';
import { type ParentForks, TopParents } from '../../src/attribution/top-parents.js';

/** Adds `count` forks by `pid`, named `comm`, in `second`. */
function addForks(top: TopParents, pid: number, comm: string, second: number, count = 1): void {
  for (let i = 0; i < count; i++) top.add(pid, comm, second);
}

describe('TopParents: ranking', () => {
  it('is empty before any fork', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });

    expect(top.top(10, 100)).toEqual([]);
  });

  it('lists the busiest parent first', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'bash', 50, 1);
    addForks(top, 200, 'make', 50, 3);
    addForks(top, 300, 'cron', 50, 2);

    expect(top.top(10, 50)).toEqual([
      { pid: 200, comm: 'make', forks: 3 },
      { pid: 300, comm: 'cron', forks: 2 },
      { pid: 100, comm: 'bash', forks: 1 },
    ]);
  });

  it('breaks ties by pid, lowest first', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 300, 'c', 50, 2);
    addForks(top, 100, 'a', 50, 2);
    addForks(top, 200, 'b', 50, 2);

    expect(top.top(10, 50).map((parent) => parent.pid)).toEqual([100, 200, 300]);
  });

  it('returns at most n parents', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'a', 50, 1);
    addForks(top, 200, 'b', 50, 2);
    addForks(top, 300, 'c', 50, 3);

    expect(top.top(2, 50).map((parent) => parent.pid)).toEqual([300, 200]);
  });

  it('sums a parent over every second of the window', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'bash', 41, 2);
    addForks(top, 100, 'bash', 45, 3);
    addForks(top, 100, 'bash', 50, 1);

    expect(top.top(10, 50)).toEqual([{ pid: 100, comm: 'bash', forks: 6 }]);
  });
});

describe('TopParents: names', () => {
  it('takes the latest name a pid had within one second', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'bash', 50);
    addForks(top, 100, 'make', 50);

    expect(top.top(10, 50)).toEqual([{ pid: 100, comm: 'make', forks: 2 }]);
  });

  it('takes the name from the latest second', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'bash', 48);
    addForks(top, 100, 'make', 49);

    expect(top.top(10, 50)[0]?.comm).toBe('make');
  });

  it('takes the name from the latest second even when an earlier second arrives last', () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    addForks(top, 100, 'make', 49);
    addForks(top, 100, 'bash', 48);

    expect(top.top(10, 50)[0]?.comm).toBe('make');
  });

  it("takes the cgroup (the parent's workload) from the latest second, as the name", () => {
    const top = new TopParents({ windowSeconds: 60, now: () => 0 });
    top.add(100, 'runc:[2:INIT]', 49, '/kubepods/burstable/pod0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c');
    top.add(100, 'bash', 48, '/system.slice/containerd.service');

    expect(top.top(10, 50)).toEqual([{ pid: 100, comm: 'runc:[2:INIT]', cgroup: '/kubepods/burstable/pod0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c', forks: 2 }]);
  });

  it('takes the name from the latest second when the ring has wrapped between them', () => {
    // With a 10 s window there are 11 buckets: second 21 is in the last, second 22 in the first.
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 21);
    addForks(top, 100, 'make', 22);

    expect(top.top(10, 22)[0]?.comm).toBe('make');
  });
});

describe('TopParents: the window', () => {
  it('counts the second in progress', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 110);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('counts the oldest second of the window', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 101);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('leaves out a second that has left the window', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100);

    expect(top.top(10, 110)).toEqual([]);
  });

  it('counts only the seconds still in the window for a parent', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100, 5);
    addForks(top, 100, 'bash', 105, 2);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 2 }]);
  });
});

describe('TopParents: bucket reuse', () => {
  // With a 10 s window there are 11 buckets: seconds 100 and 111 share one.

  it('starts a reused bucket from zero for the newer second', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100, 3);

    addForks(top, 100, 'bash', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('drops the parents of the older second when its bucket is reused', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100, 3);

    addForks(top, 200, 'make', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 200, comm: 'make', forks: 1 }]);
  });

  it('subtracts only the older second when its bucket is reused, keeping the other seconds', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100, 3);
    addForks(top, 100, 'bash', 105, 2);

    addForks(top, 100, 'bash', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 3 }]);
  });

  it('does not subtract a second twice when the window left it before its bucket is reused', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 100, 3);
    addForks(top, 100, 'bash', 105, 2);
    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 2 }]);

    addForks(top, 100, 'bash', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 3 }]);
  });

  it('ignores a fork for a second older than the one its bucket holds', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 111, 1);

    addForks(top, 100, 'bash', 100, 4); // arrives late
    addForks(top, 200, 'make', 100, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });
});


describe('TopParents: expiry', () => {
  it('subtracts exactly the forks of each second that leaves the window', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 50, 2);
    addForks(top, 100, 'bash', 55, 3);
    addForks(top, 100, 'bash', 60, 4);
    const forksAt = (now: number): number | undefined => top.top(1, now)[0]?.forks;

    expect([60, 64, 65, 69].map(forksAt)).toEqual([7, 7, 4, 4]);
    expect(top.top(10, 70)).toEqual([]);
  });

  it('stops tracking a pid once all its forks have left the window', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 50, 2);
    addForks(top, 200, 'make', 55, 1);

    top.top(10, 60);

    expect(top.trackedPids).toBe(1);
  });

  it('ignores a fork that arrives after the window has left its second', () => {
    const top = new TopParents({ windowSeconds: 10, now: () => 0 });
    addForks(top, 100, 'bash', 110);
    top.top(10, 120);

    addForks(top, 200, 'make', 105); // arrives late

    expect(top.top(10, 120)).toEqual([]);
    expect(top.trackedPids).toBe(0);
  });
});

describe('TopParents: tracked pids cap', () => {
  it('never tracks more than maxTrackedPids pids', () => {
    const top = new TopParents({ windowSeconds: 60, maxTrackedPids: 3, now: () => 0 });
    const tracked: number[] = [];

    for (let pid = 100; pid < 110; pid++) {
      addForks(top, pid, 'a', 50);
      tracked.push(top.trackedPids);
    }

    expect(Math.max(...tracked)).toBe(3);
  });

  it('prunes the pids with the fewest forks to let a new pid in, and keeps counting the others', () => {
    const top = new TopParents({ windowSeconds: 60, maxTrackedPids: 3, now: () => 0 });
    addForks(top, 100, 'a', 50, 3);
    addForks(top, 200, 'b', 50);
    addForks(top, 300, 'c', 50);

    addForks(top, 400, 'd', 50);
    addForks(top, 100, 'a', 50, 2);

    expect(top.top(10, 50)).toEqual([
      { pid: 100, comm: 'a', forks: 5 },
      { pid: 400, comm: 'd', forks: 1 },
    ]);
  });

  it('prunes more than the minimum when too few pids share it, freeing a quarter of the cap', () => {
    const top = new TopParents({ windowSeconds: 60, maxTrackedPids: 8, now: () => 0 });
    [1, 2, 2, 3, 3, 3, 4, 4].forEach((forks, i) => addForks(top, 100 + i, 'a', 50, forks));

    addForks(top, 200, 'b', 50);

    // The quarter least busy (two pids) have at most 2 forks: every pid with 1 or 2 goes.
    expect(top.top(10, 50).map(({ pid, forks }) => [pid, forks])).toEqual([
      [106, 4],
      [107, 4],
      [103, 3],
      [104, 3],
      [105, 3],
      [200, 1],
    ]);
  });

  it('lets a busy parent that arrives late in a fork bomb in, and counts it exactly from then', () => {
    const top = new TopParents({ windowSeconds: 60, maxTrackedPids: 100, now: () => 0 });
    for (let i = 0; i < 1000; i++) {
      addForks(top, 1000 + i, 'bomb', 50);
      if (i === 500) addForks(top, 7, 'make', 50, 2);
      if (i > 500 && i % 10 === 0) addForks(top, 7, 'make', 50);
    }

    expect(top.top(1, 50)).toEqual([{ pid: 7, comm: 'make', forks: 2 + 49 }]);
  });

  it('restarts a pruned pid from its later forks, never subtracting its earlier ones', () => {
    const top = new TopParents({ windowSeconds: 10, maxTrackedPids: 2, now: () => 0 });
    for (let second = 43; second <= 50; second++) addForks(top, 200, 'b', second);
    addForks(top, 100, 'a', 50);
    addForks(top, 300, 'c', 51); // prunes 100
    addForks(top, 100, 'a', 52); // prunes 300

    expect(top.top(10, 52)).toEqual([
      { pid: 200, comm: 'b', forks: 8 },
      { pid: 100, comm: 'a', forks: 1 },
    ]);
    // Second 50 leaves the window: 200 goes, and 100's pruned fork in it is not subtracted.
    expect(top.top(10, 60)).toEqual([{ pid: 100, comm: 'a', forks: 1 }]);
  });

  it('rejects a window or cap that is not a whole number of at least 1', () => {
    expect(() => new TopParents({ windowSeconds: 0, now: () => 0 })).toThrow(/windowSeconds must be a whole number of at least 1, not 0/);
    expect(() => new TopParents({ windowSeconds: 60, maxTrackedPids: 1.5, now: () => 0 })).toThrow(/maxTrackedPids must be/);
  });
});

/** The plain definition: keeps every fork, and sums and sorts them all on each call. */
class NaiveTopParents {
  private readonly forks: { pid: number; comm: string; second: number; cgroup: string | undefined }[] = [];

  constructor(private readonly windowSeconds: number) {}

  add(pid: number, comm: string, second: number, cgroup?: string): void {
    this.forks.push({ pid, comm, second, cgroup });
  }

  top(n: number, now: number): ParentForks[] {
    const totals = new Map<number, ParentForks & { commSecond: number }>();
    for (const { pid, comm, second, cgroup } of this.forks) {
      if (second <= now - this.windowSeconds || second > now) continue;
      const total = totals.get(pid) ?? { pid, comm, cgroup, forks: 0, commSecond: second };
      total.forks++;
      if (second >= total.commSecond) Object.assign(total, { comm, cgroup, commSecond: second });
      totals.set(pid, total);
    }
    return [...totals.values()]
      .map(({ pid, comm, cgroup, forks }) => ({ pid, comm, cgroup, forks }))
      .sort((a, b) => b.forks - a.forks || a.pid - b.pid)
      .slice(0, n);
  }
}

/** A seeded generator of numbers in [0, 1) (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('TopParents: selection', () => {
  it('ranks like a full sort of every fork, on random forks', () => {
    const next = random(42);
    const top = new TopParents({ windowSeconds: 30, now: () => 0 });
    const naive = new NaiveTopParents(30);
    const ns = [1, 3, 10, 50, 1000];
    const results: { now: number; n: number; got: ParentForks[]; want: ParentForks[] }[] = [];

    for (let fork = 0; fork < 2000; fork++) {
      const now = Math.floor(fork / 20); // 100 seconds
      // Skewed towards low pids, so ranks have clear leaders and many ties; a little out of order.
      const pid = 1000 + Math.floor(next() ** 3 * 150);
      const comm = `${pid}-${Math.floor(next() * 3)}`;
      const cgroup = `/system.slice/unit-${Math.floor(next() * 2)}.service`;
      const second = Math.max(0, now - Math.floor(next() * 3));
      top.add(pid, comm, second, cgroup);
      naive.add(pid, comm, second, cgroup);
      if (fork % 20 === 19 && now % 7 === 0) {
        for (const n of ns) results.push({ now, n, got: top.top(n, now), want: naive.top(n, now) });
      }
    }

    expect(results.length).toBeGreaterThan(50);
    for (const { got, want } of results) expect(got).toEqual(want);
  });
});

describe('TopParents: scale', () => {
  it('stays within the cap through 600,000 single-fork parents in 60 s, and still ranks a late busy parent first', () => {
    const maxTrackedPids = 10_000;
    const top = new TopParents({ windowSeconds: 60, maxTrackedPids, now: () => 0 });
    let mostTracked = 0;

    for (let fork = 0; fork < 600_000; fork++) {
      const second = Math.floor(fork / 10_000);
      // A busy parent that appears halfway: ten forks at the start of each second from 30 on.
      if (second >= 30 && fork % 10_000 === 0) addForks(top, 7, 'make', second, 10);
      top.add(100_000 + fork, 'bomb', second);
      mostTracked = Math.max(mostTracked, top.trackedPids);
    }
    const busiest = top.top(10, 59);

    expect(mostTracked).toBeLessThanOrEqual(maxTrackedPids);
    expect(busiest).toHaveLength(10);
    expect(busiest[0]).toEqual({ pid: 7, comm: 'make', forks: 300 });
    // The rest are bomb copies, one fork each, lowest pid first.
    const rest = busiest.slice(1);
    expect(rest.every(({ comm, forks }) => comm === 'bomb' && forks === 1)).toBe(true);
    const pids = rest.map(({ pid }) => pid);
    expect(pids.every((pid) => pid >= 100_000 && pid < 700_000)).toBe(true);
    expect(pids).toEqual([...new Set(pids)].sort((a, b) => a - b));
  });
});
