import { describe, expect, it } from 'vitest';
import { TopParents } from '../../src/attribution/top-parents.js';

/** Adds `count` forks by `pid`, named `comm`, in `second`. */
function addForks(top: TopParents, pid: number, comm: string, second: number, count = 1): void {
  for (let i = 0; i < count; i++) top.add(pid, comm, second);
}

describe('TopParents: ranking', () => {
  it('is empty before any fork', () => {
    const top = new TopParents({ windowSeconds: 60 });

    expect(top.top(10, 100)).toEqual([]);
  });

  it('lists the busiest parent first', () => {
    const top = new TopParents({ windowSeconds: 60 });
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
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 300, 'c', 50, 2);
    addForks(top, 100, 'a', 50, 2);
    addForks(top, 200, 'b', 50, 2);

    expect(top.top(10, 50).map((parent) => parent.pid)).toEqual([100, 200, 300]);
  });

  it('returns at most n parents', () => {
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 100, 'a', 50, 1);
    addForks(top, 200, 'b', 50, 2);
    addForks(top, 300, 'c', 50, 3);

    expect(top.top(2, 50).map((parent) => parent.pid)).toEqual([300, 200]);
  });

  it('sums a parent over every second of the window', () => {
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 100, 'bash', 41, 2);
    addForks(top, 100, 'bash', 45, 3);
    addForks(top, 100, 'bash', 50, 1);

    expect(top.top(10, 50)).toEqual([{ pid: 100, comm: 'bash', forks: 6 }]);
  });
});

describe('TopParents: names', () => {
  it('takes the latest name a pid had within one second', () => {
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 100, 'bash', 50);
    addForks(top, 100, 'make', 50);

    expect(top.top(10, 50)).toEqual([{ pid: 100, comm: 'make', forks: 2 }]);
  });

  it('takes the name from the latest second', () => {
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 100, 'bash', 48);
    addForks(top, 100, 'make', 49);

    expect(top.top(10, 50)[0]?.comm).toBe('make');
  });

  it('takes the name from the latest second even when an earlier second arrives last', () => {
    const top = new TopParents({ windowSeconds: 60 });
    addForks(top, 100, 'make', 49);
    addForks(top, 100, 'bash', 48);

    expect(top.top(10, 50)[0]?.comm).toBe('make');
  });

  it('takes the name from the latest second when the ring has wrapped between them', () => {
    // With a 10 s window there are 11 buckets: second 21 is in the last, second 22 in the first.
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 21);
    addForks(top, 100, 'make', 22);

    expect(top.top(10, 22)[0]?.comm).toBe('make');
  });
});

describe('TopParents: the window', () => {
  it('counts the second in progress', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 110);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('counts the oldest second of the window', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 101);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('leaves out a second that has left the window', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 100);

    expect(top.top(10, 110)).toEqual([]);
  });

  it('leaves out a second after now', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 111);

    expect(top.top(10, 110)).toEqual([]);
  });

  it('counts only the seconds still in the window for a parent', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 100, 5);
    addForks(top, 100, 'bash', 105, 2);

    expect(top.top(10, 110)).toEqual([{ pid: 100, comm: 'bash', forks: 2 }]);
  });
});

describe('TopParents: bucket reuse', () => {
  // With a 10 s window there are 11 buckets: seconds 100 and 111 share one.

  it('starts a reused bucket from zero for the newer second', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 100, 3);

    addForks(top, 100, 'bash', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });

  it('drops the parents of the older second when its bucket is reused', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 100, 3);

    addForks(top, 200, 'make', 111, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 200, comm: 'make', forks: 1 }]);
  });

  it('ignores a fork for a second older than the one its bucket holds', () => {
    const top = new TopParents({ windowSeconds: 10 });
    addForks(top, 100, 'bash', 111, 1);

    addForks(top, 100, 'bash', 100, 4); // arrives late
    addForks(top, 200, 'make', 100, 1);

    expect(top.top(10, 111)).toEqual([{ pid: 100, comm: 'bash', forks: 1 }]);
  });
});

describe('TopParents: pids per second cap', () => {
  it('stops tracking new pids in a second once maxPidsPerSecond is reached', () => {
    const top = new TopParents({ windowSeconds: 60, maxPidsPerSecond: 2 });

    addForks(top, 100, 'a', 50);
    addForks(top, 200, 'b', 50);
    addForks(top, 300, 'c', 50);

    expect(top.top(10, 50).map((parent) => parent.pid)).toEqual([100, 200]);
  });

  it('keeps counting the pids already tracked in that second', () => {
    const top = new TopParents({ windowSeconds: 60, maxPidsPerSecond: 2 });
    addForks(top, 100, 'a', 50);
    addForks(top, 200, 'b', 50);
    addForks(top, 300, 'c', 50);

    addForks(top, 200, 'b', 50, 2);

    expect(top.top(10, 50)).toEqual([
      { pid: 200, comm: 'b', forks: 3 },
      { pid: 100, comm: 'a', forks: 1 },
    ]);
  });

  it('applies the cap to each second separately', () => {
    const top = new TopParents({ windowSeconds: 60, maxPidsPerSecond: 1 });
    addForks(top, 100, 'a', 50);
    addForks(top, 200, 'b', 50);

    addForks(top, 200, 'b', 51);

    expect(top.top(10, 51)).toEqual([
      { pid: 100, comm: 'a', forks: 1 },
      { pid: 200, comm: 'b', forks: 1 },
    ]);
  });
});
