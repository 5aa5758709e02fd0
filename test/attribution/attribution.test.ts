import { describe, expect, it } from 'vitest';
import { Attribution } from '../../src/attribution/attribution.js';
import { ForkBombDetector } from '../../src/detect/forkbomb.js';
import { CommCounts } from '../../src/attribution/comm-counts.js';
import { TopParents } from '../../src/attribution/top-parents.js';
import { ProcessTable, UNKNOWN_COMM } from '../../src/processes/table.js';
import { atSecond, commEvent, execEvent, exitEvent, processFork, threadFork } from '../helpers/events.js';

/**
 * An Attribution over real counters and a real table, with /proc faked: `proc` is what
 * /proc/<pid>/comm says now, and `reads` lists the pids the table read.
 */
function setup(initial: Record<number, string>) {
  const proc = new Map(Object.entries(initial).map(([pid, comm]) => [Number(pid), comm]));
  const reads: number[] = [];
  const table = new ProcessTable({
    maxEntries: 100,
    readComm: (pid) => {
      reads.push(pid);
      return proc.get(pid);
    },
  });
  const parentComms = new CommCounts(100);
  const topParents = new TopParents({ windowSeconds: 60 });
  const detector = new ForkBombDetector({ chainDepth: 3, chainParents: 1000, chainProcesses: 1000, clearAfterSeconds: 60, maxComms: 100 });
  const attribution = new Attribution(table, parentComms, topParents, detector);
  /** Forks by parent name, as a plain object for one-line assertions. */
  const byComm = (): Record<string, number> => Object.fromEntries(parentComms.counts);
  return { attribution, proc, reads, table, topParents, detector, byComm };
}

describe('Attribution: forks', () => {
  it('counts a process fork under the current name of the parent', () => {
    const { attribution, byComm } = setup({ 100: 'bash' });

    attribution.record(processFork(100, 200));

    expect(byComm()).toEqual({ bash: 1 });
  });

  it('ranks the parent by pid and name in the second of the fork', () => {
    const { attribution, topParents } = setup({ 100: 'bash' });

    attribution.record(processFork(100, 200, { timestampNs: atSecond(42.5) }));
    attribution.record(processFork(100, 201, { timestampNs: atSecond(43.1) }));

    expect(topParents.top(10, 43)).toEqual([{ pid: 100, comm: 'bash', forks: 2 }]);
    // The fork of second 42 leaves a one-second window at 43; the one of 43 stays.
    expect(new TopParents({ windowSeconds: 1 }).top(10, 43)).toEqual([]);
  });

  it('does not attribute a thread fork', () => {
    const { attribution, byComm, topParents } = setup({ 100: 'bash' });

    attribution.record(threadFork(100, 200, 201));

    expect(byComm()).toEqual({});
    expect(topParents.top(10, 1)).toEqual([]);
  });

  it('counts the fork of a child under the name it inherited, without reading /proc', () => {
    const { attribution, byComm, reads } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));
    reads.length = 0;

    attribution.record(processFork(200, 300));

    expect(byComm()).toEqual({ bash: 2 });
    expect(reads).toEqual([]);
  });

  it('counts a fork under __unknown__ when the name of the parent cannot be read', () => {
    const { attribution, byComm } = setup({});

    attribution.record(processFork(100, 200));

    expect(byComm()).toEqual({ [UNKNOWN_COMM]: 1 });
  });
});

describe('Attribution: renames', () => {
  it('counts the next fork under the name a comm event on the main thread gave', () => {
    const { attribution, byComm } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));

    attribution.record(commEvent(100, 100, 'worker'));
    attribution.record(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 1, worker: 1 });
  });

  it('takes the new name from the event, without reading /proc', () => {
    const { attribution, byComm, reads } = setup({ 100: 'bash' });

    attribution.record(commEvent(100, 100, 'worker'));
    attribution.record(processFork(100, 200));

    expect(byComm()).toEqual({ worker: 1 });
    expect(reads).toEqual([]);
  });

  it('decodes invalid UTF-8 in the comm event as U+FFFD', () => {
    const { attribution, byComm } = setup({ 100: 'bash' });

    attribution.record(commEvent(100, 100, Uint8Array.from([0x77, 0xff])));
    attribution.record(processFork(100, 200));

    expect(byComm()).toEqual({ 'w\uFFFD': 1 });
  });

  it('does not rename the process for a comm event on another thread', () => {
    const { attribution, byComm } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));

    attribution.record(commEvent(101, 100, 'worker'));
    attribution.record(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 2 });
  });
});

describe('Attribution: exec', () => {
  it('reads the name again for the first fork after an exec', () => {
    const { attribution, byComm, proc, reads } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));
    proc.set(100, 'make');
    reads.length = 0;

    attribution.record(execEvent(100));
    attribution.record(processFork(100, 201));
    attribution.record(processFork(100, 202));

    expect(byComm()).toEqual({ bash: 1, make: 2 });
    expect(reads).toEqual([100]);
  });
});

describe('Attribution: exit', () => {
  it('removes the exited process, so a reused pid is read afresh', () => {
    const { attribution, byComm, proc } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));
    proc.set(100, 'nginx'); // pid 100 reused

    attribution.record(exitEvent(100, 100));
    attribution.record(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 1, nginx: 1 });
  });

  it('keeps the process when only one of its threads exits', () => {
    const { attribution, byComm, proc } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));
    proc.set(100, 'nginx');

    attribution.record(exitEvent(101, 100));
    attribution.record(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 2 });
  });

  it('shrinks the table by the exited process', () => {
    const { attribution, table } = setup({ 100: 'bash' });
    attribution.record(processFork(100, 200));
    const before = table.size;

    attribution.record(exitEvent(200, 200));

    expect(before).toBe(2);
    expect(table.size).toBe(1);
  });
});

describe('Attribution: chains of forks without exec', () => {
  it('counts a chain fork once the forking process is chain-depth forks deep', () => {
    const { attribution, detector } = setup({ 100: 'bomb' });
    // 100 -> 101 -> 102 -> 103: 103 is 3 forks deep, the chain depth here.
    attribution.record(processFork(100, 101));
    attribution.record(processFork(101, 102));
    attribution.record(processFork(102, 103));
    expect(detector.chainForks.counts.size).toBe(0);

    attribution.record(processFork(103, 104));
    expect(Object.fromEntries(detector.chainForks.counts)).toEqual({ bomb: 1 });
  });

  it('starts a new chain after exec', () => {
    const { attribution, detector, proc } = setup({ 100: 'make' });
    attribution.record(processFork(100, 101));
    attribution.record(processFork(101, 102));
    attribution.record(processFork(102, 103));
    proc.set(103, 'cc');
    attribution.record(execEvent(103));
    attribution.record(processFork(103, 104));

    expect(detector.chainForks.counts.size).toBe(0);
  });
});
