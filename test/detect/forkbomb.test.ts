import { describe, expect, it } from 'vitest';
import { ForkBombDetector, RECENT_SECONDS, type ForkBombOptions } from '../../src/detect/forkbomb.js';
import type { DeepProcesses, Process } from '../../src/processes/table.js';
import { namedCounts } from '../helpers/comm-counts.js';
import { atSecond, processFork } from '../helpers/events.js';

const POD_UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const POD = `/kubepods/burstable/pod${POD_UID}`;
const CONTAINER_A = `${POD}/${'a'.repeat(64)}`;
const CONTAINER_B = `${POD}/${'b'.repeat(64)}`;

const OPTIONS: Omit<ForkBombOptions, 'now'> = { chainDepth: 3, chainParents: 20, chainProcesses: 32, clearAfterSeconds: 30, maxComms: 3 };

function nothingDeep(maxDepth = 0): DeepProcesses {
  return { maxDepth, byComm: new Map() };
}

/** The live table's view: `count` processes of each name in chains, in `cgroup`. */
function deep(maxDepth: number, counts: [comm: string, count: number, cgroup?: string][]): DeepProcesses {
  const byComm: DeepProcesses['byComm'] = new Map();
  for (const [comm, count, cgroup] of counts) {
    const byCgroup = byComm.get(comm) ?? new Map<string | undefined, number>();
    byCgroup.set(cgroup, count);
    byComm.set(comm, byCgroup);
  }
  return { maxDepth, byComm };
}

/** The names suspected now. */
function names(detector: ForkBombDetector): string[] {
  return detector.suspected.map((suspect) => suspect.comm);
}

/**
 * A detector whose clock and view of the live table the test sets: `evaluate(now, deep)`
 * decides at second `now` with `deep` as the table's answer.
 */
function detectorUnderTest() {
  let now = 0;
  let deep = nothingDeep();
  const detector = new ForkBombDetector({ deepProcesses: () => deep }, { ...OPTIONS, now: () => now });
  const evaluate = (at: number, view: DeepProcesses): void => {
    now = at;
    deep = view;
    detector.evaluate();
  };
  return { detector, evaluate };
}

/** Process `pid`, as the table has it after its fork of `child` in `second`, forked. */
function recordFork(detector: ForkBombDetector, pid: number, forker: Omit<Process, 'tgid' | 'comm'>, comm: string, child: number, second: number): void {
  detector.fork(processFork(pid, child, { timestampNs: atSecond(second) }), { tgid: pid, comm, ...forker });
}

/**
 * Feeds the detector the forks of a little process tree, as the process table would
 * describe each forking process: its depth, its forks so far, and its parent.
 */
class Tree {
  private nextPid: number;
  private readonly known = new Map<number, { depth: number; forks: number; parent: number; cgroup: string | undefined }>();

  constructor(
    private readonly detector: ForkBombDetector,
    private readonly comm: string,
    private readonly cgroup?: string,
    firstPid = 10_000,
  ) {
    this.nextPid = firstPid;
  }

  /** A process `depth` forks deep (its parent unknown to the detector). */
  process(depth: number, parent = 0): number {
    const pid = this.nextPid++;
    this.known.set(pid, { depth, forks: 0, parent, cgroup: this.cgroup });
    return pid;
  }

  /** `pid` forks a child in `second`; returns the child. */
  fork(pid: number, second: number): number {
    const forker = this.known.get(pid)!;
    forker.forks++;
    const child = this.process(forker.depth + 1, pid);
    recordFork(this.detector, pid, forker, this.comm, child, second);
    return child;
  }

  /** A bomb's generation: each of `pids` forks twice; returns the children. */
  copy(pids: number[], second: number): number[] {
    return pids.flatMap((pid) => [this.fork(pid, second), this.fork(pid, second)]);
  }
}

describe('ForkBombDetector', () => {
  it('counts forks by processes at the chain depth or deeper, and no others', () => {
    const { detector } = detectorUnderTest();
    const shallow = new Tree(detector, 'shallow');
    shallow.fork(shallow.process(2), 100);
    const deep = new Tree(detector, 'deep');
    deep.fork(deep.process(3), 100);
    deep.fork(deep.process(30), 100);

    expect(namedCounts(detector.chainForks)).toEqual({ deep: 2 });
  });

  it('suspects a name whose processes in chains copy, and whose copies copy', () => {
    const { detector, evaluate } = detectorUnderTest();
    const bomb = new Tree(detector, 'bomb');
    let generation = [bomb.process(3)];
    while (generation.length < 256) generation = bomb.copy(generation, 100);
    evaluate(101, nothingDeep(9));

    expect(names(detector)).toEqual(['bomb']);
    expect(detector.maxDepth).toBe(9);
  });

  it('does not suspect copies whose copies do not copy: two generations are not a bomb', () => {
    const { detector, evaluate } = detectorUnderTest();
    const tree = new Tree(detector, 'twice');
    // Many processes in chains fork twice, and so do their children; the grandchildren exec.
    for (let i = 0; i < 100; i++) tree.copy(tree.copy([tree.process(3)], 100), 100);
    evaluate(100, nothingDeep());

    expect(names(detector)).toEqual([]);
  });

  it('does not suspect processes in chains whose children fork once at most: a loop of command substitutions', () => {
    const { detector, evaluate } = detectorUnderTest();
    const script = new Tree(detector, 'bash');
    // Forty loops, each 3 subshells deep: every substitution forks a pipeline of two, whose
    // members exec or end.
    for (let loop = 0; loop < 40; loop++) {
      const looping = script.process(3);
      for (let i = 0; i < 10; i++) {
        const substitution = script.fork(looping, 100);
        script.fork(substitution, 100);
        script.fork(substitution, 100);
      }
    }
    evaluate(100, nothingDeep());

    expect(names(detector)).toEqual([]);
  });

  it('does not suspect a few busy parents whose children copy: loops with pipelines', () => {
    const { detector, evaluate } = detectorUnderTest();
    const script = new Tree(detector, 'bash');
    for (let loop = 0; loop < OPTIONS.chainParents - 1; loop++) {
      const looping = script.process(3);
      for (let i = 0; i < 100; i++) script.copy([script.fork(looping, 100)], 100);
    }
    evaluate(100, nothingDeep());

    expect(names(detector)).toEqual([]);
  });

  it('counts a process only when its last two forks fall within the recent seconds', () => {
    const { detector, evaluate } = detectorUnderTest();
    const slow = new Tree(detector, 'slow');
    for (let i = 0; i < 40; i++) {
      const parent = slow.process(3);
      slow.copy([slow.fork(parent, 100)], 100);
      slow.copy([slow.fork(parent, 100 + RECENT_SECONDS)], 100 + RECENT_SECONDS);
    }
    evaluate(100 + RECENT_SECONDS, nothingDeep());
    expect(names(detector)).toEqual([]);
  });

  it('forgets what it knew of a pid once that pid is forked as a new process', () => {
    const { detector, evaluate } = detectorUnderTest();
    const tree = new Tree(detector, 'reused');
    const pids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const parent = tree.process(3);
      tree.copy([tree.fork(parent, 100)], 100);
      pids.push(parent);
    }
    // Every one of those pids now belongs to a new process, forked by someone else.
    const other = new Tree(detector, 'other');
    for (const pid of pids) recordFork(detector, 1, { depth: 0, forks: 1, parent: 0, cgroup: undefined }, 'other', pid, 100);
    for (const pid of pids) recordFork(detector, pid, { depth: 3, forks: 1, parent: 1, cgroup: undefined }, 'reused', other.process(4), 100);
    evaluate(100, nothingDeep());

    expect(names(detector)).toEqual([]);
  });

  it('suspects a name with many live processes in chains, even when they no longer fork', () => {
    const { detector, evaluate } = detectorUnderTest();
    evaluate(100, deep(6, [['cbomb', 32], ['other', 31]]));

    expect(names(detector)).toEqual(['cbomb']);
  });

  it('clears a suspicion once neither sign was seen for the clear-after time', () => {
    const { detector, evaluate } = detectorUnderTest();
    evaluate(100, deep(6, [['cbomb', 60]]));
    evaluate(100 + OPTIONS.clearAfterSeconds - 1, nothingDeep());
    expect(names(detector)).toEqual(['cbomb']);

    evaluate(100 + OPTIONS.clearAfterSeconds, nothingDeep());
    expect(names(detector)).toEqual([]);
  });

  it("names a suspect by its own name even when other names hold every counter's slot", () => {
    const { detector, evaluate } = detectorUnderTest();
    for (const comm of ['a', 'b', 'c']) {
      const tree = new Tree(detector, comm);
      tree.fork(tree.process(3), 100);
    }
    expect([...detector.chainForks.counts.keys()].sort()).toEqual(['__other__', 'a', 'b', 'c']);

    evaluate(101, deep(9, [['bomb', 50]]));

    expect(names(detector)).toEqual(['bomb']);
  });

  it('names the workload where the copies are: the pod and container of their cgroup', () => {
    const { detector, evaluate } = detectorUnderTest();
    const bomb = new Tree(detector, 'bomb', CONTAINER_A);
    let generation = [bomb.process(3)];
    while (generation.length < 256) generation = bomb.copy(generation, 100);
    evaluate(101, deep(9, [['bomb', 40, CONTAINER_A]]));

    expect(detector.suspected).toEqual([
      { comm: 'bomb', workload: { kind: 'pod', podUid: POD_UID, containerId: 'a'.repeat(64), podCgroups: [POD] } },
    ]);
  });

  it('does not add up one name across workloads: copiers and live processes count per workload', () => {
    const { detector, evaluate } = detectorUnderTest();
    // Each of two containers has fewer copiers than the threshold; together they have more.
    for (const [cgroup, firstPid] of [[CONTAINER_A, 10_000], [CONTAINER_B, 50_000]] as const) {
      const tree = new Tree(detector, 'worker', cgroup, firstPid);
      for (let i = 0; i < OPTIONS.chainParents - 5; i++) tree.copy(tree.copy(tree.copy([tree.process(3)], 100), 100), 100);
    }
    evaluate(101, deep(9, [['worker', OPTIONS.chainProcesses - 1, CONTAINER_A]]));
    expect(names(detector)).toEqual([]);

    // The live table: 31 in one container, 31 in the other, none suspected; 32 in one is.
    const live = deep(9, [['worker', OPTIONS.chainProcesses - 1, CONTAINER_A]]);
    live.byComm.get('worker')!.set(CONTAINER_B, OPTIONS.chainProcesses - 1);
    evaluate(102, live);
    expect(names(detector)).toEqual([]);

    live.byComm.get('worker')!.set(`${CONTAINER_B}/nested`, 1); // a cgroup inside container B: the same workload
    evaluate(103, live);
    expect(detector.suspected).toEqual([{ comm: 'worker', workload: expect.objectContaining({ containerId: 'b'.repeat(64) }) }]);
  });

  it('suspects a name whose cgroup is not known under the workload __unknown__', () => {
    const { detector, evaluate } = detectorUnderTest();
    evaluate(100, deep(6, [['cbomb', 40]]));

    expect(detector.suspected).toEqual([{ comm: 'cbomb', workload: { kind: 'unit', unit: '__unknown__' } }]);
  });

  it('keeps labels bounded: suspects past the cap are suspected as __other__', () => {
    const { detector, evaluate } = detectorUnderTest();
    evaluate(101, deep(9, ['d', 'e', 'f', 'g', 'h'].map((comm) => [comm, 50])));

    expect(names(detector)).toEqual(['d', 'e', 'f', '__other__']);
  });
});
