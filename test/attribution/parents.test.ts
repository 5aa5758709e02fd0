import { describe, expect, it } from 'vitest';
import { Parents } from '../../src/attribution/parents.js';
import { TopParents } from '../../src/attribution/top-parents.js';
import { ForkBombDetector } from '../../src/detect/forkbomb.js';
import { UNKNOWN_COMM } from '../../src/processes/table.js';
import { atSecond, commEvent, execEvent, exitEvent, processFork, threadFork } from '../helpers/events.js';
import { testPipeline } from '../helpers/pipeline.js';
import { FakeProcfs } from '../helpers/procfs.js';
import { namedCounts } from '../helpers/comm-counts.js';

/**
 * The parents listener, and the detector behind it, fed through the real pipeline over a
 * stand-in /proc: `procfs.names` is what /proc/<pid>/comm says now.
 */
function setup(initial: Record<number, string>) {
  const procfs = new FakeProcfs(initial);
  const now = (): number => 0;
  const parents = new Parents({ maxComms: 100, windowSeconds: 60, now });
  let detector!: ForkBombDetector;
  const { feed, table } = testPipeline((table) => {
    detector = new ForkBombDetector(table, { chainDepth: 3, chainParents: 1000, chainProcesses: 1000, clearAfterSeconds: 60, maxComms: 100, now });
    return [parents, detector];
  }, procfs);
  procfs.reads.length = 0;
  /** Forks by parent name, as a plain object for one-line assertions. */
  const byComm = (): Record<string, number> => namedCounts(parents.byComm);
  return { feed, procfs, reads: procfs.reads, table, topParents: parents.top, detector, byComm };
}

describe('Parents: forks', () => {
  it('counts a process fork under the current name of the parent', () => {
    const { feed, byComm } = setup({ 100: 'bash' });

    feed(processFork(100, 200));

    expect(byComm()).toEqual({ bash: 1 });
  });

  it('ranks the parent by pid and name in the second of the fork', () => {
    const { feed, topParents } = setup({ 100: 'bash' });

    feed(processFork(100, 200, { timestampNs: atSecond(42.5) }));
    feed(processFork(100, 201, { timestampNs: atSecond(43.1) }));

    expect(topParents.top(10, 43)).toEqual([{ pid: 100, comm: 'bash', forks: 2 }]);
    // The fork of second 42 leaves a one-second window at 43; the one of 43 stays.
    expect(new TopParents({ windowSeconds: 1, now: () => 43 }).top(10, 43)).toEqual([]);
  });

  it('does not attribute a thread fork', () => {
    const { feed, byComm, topParents } = setup({ 100: 'bash' });

    feed(threadFork(100, 200, 201));

    expect(byComm()).toEqual({});
    expect(topParents.top(10, 1)).toEqual([]);
  });

  it('counts the fork of a child under the name it inherited, without reading /proc', () => {
    const { feed, byComm, reads } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    reads.length = 0;

    feed(processFork(200, 300));

    expect(byComm()).toEqual({ bash: 2 });
    expect(reads).toEqual([]);
  });

  it('counts a fork under __unknown__ when the name of the parent cannot be read', () => {
    const { feed, byComm } = setup({});

    feed(processFork(100, 200));

    expect(byComm()).toEqual({ [UNKNOWN_COMM]: 1 });
  });
});

describe('Parents: renames', () => {
  it('counts the next fork under the name a comm event on the main thread gave', () => {
    const { feed, byComm } = setup({ 100: 'bash' });
    feed(processFork(100, 200));

    feed(commEvent(100, 100, 'worker'));
    feed(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 1, worker: 1 });
  });

  it('takes the new name from the event, without reading /proc', () => {
    const { feed, byComm, reads } = setup({ 100: 'bash' });

    feed(commEvent(100, 100, 'worker'));
    feed(processFork(100, 200));

    expect(byComm()).toEqual({ worker: 1 });
    expect(reads).toEqual([]);
  });

  it('decodes invalid UTF-8 in the comm event as U+FFFD', () => {
    const { feed, byComm } = setup({ 100: 'bash' });

    feed(commEvent(100, 100, Uint8Array.from([0x77, 0xff])));
    feed(processFork(100, 200));

    expect(byComm()).toEqual({ 'w\uFFFD': 1 });
  });

  it('does not rename the process for a comm event on another thread', () => {
    const { feed, byComm } = setup({ 100: 'bash' });
    feed(processFork(100, 200));

    feed(commEvent(101, 100, 'worker'));
    feed(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 2 });
  });
});

describe('Parents: exec', () => {
  it('reads the name again for the first fork after an exec', () => {
    const { feed, byComm, procfs, reads } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    procfs.names.set(100, 'make');
    reads.length = 0;

    feed(execEvent(100));
    feed(processFork(100, 201));
    feed(processFork(100, 202));

    expect(byComm()).toEqual({ bash: 1, make: 2 });
    expect(reads).toEqual([100]);
  });
});

describe('Parents: exit', () => {
  it('removes the exited process, so a reused pid is read afresh', () => {
    const { feed, byComm, procfs } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    procfs.names.set(100, 'nginx'); // pid 100 reused

    feed(exitEvent(100, 100));
    feed(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 1, nginx: 1 });
  });

  it('keeps the process when only one of its threads exits', () => {
    const { feed, byComm, procfs } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    procfs.names.set(100, 'nginx');

    feed(exitEvent(101, 100));
    feed(processFork(100, 201));

    expect(byComm()).toEqual({ bash: 2 });
  });

  it('shrinks the table by the exited process', () => {
    const { feed, table } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    const before = table.size;

    feed(exitEvent(200, 200));

    expect(before).toBe(2);
    expect(table.size).toBe(1);
  });
});

describe('Parents: chains of forks without exec', () => {
  it('counts a chain fork once the forking process is chain-depth forks deep', () => {
    const { feed, detector } = setup({ 100: 'bomb' });
    // 100 -> 101 -> 102 -> 103: 103 is 3 forks deep, the chain depth here.
    feed(processFork(100, 101));
    feed(processFork(101, 102));
    feed(processFork(102, 103));
    expect(namedCounts(detector.chainForks)).toEqual({});

    feed(processFork(103, 104));
    expect(namedCounts(detector.chainForks)).toEqual({ bomb: 1 });
  });

  it('starts a new chain after exec', () => {
    const { feed, detector, procfs } = setup({ 100: 'make' });
    feed(processFork(100, 101));
    feed(processFork(101, 102));
    feed(processFork(102, 103));
    procfs.names.set(103, 'cc');
    feed(execEvent(103));
    feed(processFork(103, 104));

    expect(namedCounts(detector.chainForks)).toEqual({});
  });
});
