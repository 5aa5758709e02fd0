import { describe, expect, it } from 'vitest';
import { ProcessTable, UNKNOWN_COMM } from '../../src/processes/table.js';
import { atSecond, commEvent, execEvent, exitEvent, processFork, threadFork, uidEvent } from '../helpers/events.js';
import { FakeProcfs } from '../helpers/procfs.js';

function tableOver(procfs: FakeProcfs, maxEntries = 100): ProcessTable {
  const table = new ProcessTable({ procfs, maxEntries });
  table.seed();
  procfs.reads.length = 0;
  return table;
}

describe('ProcessTable: seed', () => {
  it('learns the name of every process listed in /proc', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 2: 'kthreadd' });
    const table = new ProcessTable({ procfs });

    table.seed();

    expect(procfs.reads).toEqual([1, 2]);
    expect([table.get(1)?.comm, table.get(2)?.comm]).toEqual(['systemd', 'kthreadd']);
  });

  it('skips a pid that exited between the listing and the read', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 99: 'gone' });
    procfs.pids = () => [1, 99, 100]; // 100 is listed but its comm cannot be read
    const table = new ProcessTable({ procfs });

    table.seed();

    expect(table.size).toBe(2);
    expect(table.get(100)).toBeUndefined();
  });

  it('sizes itself from pid_max, up to a cap', () => {
    expect(new ProcessTable({ procfs: new FakeProcfs({}, 4096) }).maxEntries).toBe(4096);
    expect(new ProcessTable({ procfs: new FakeProcfs({}, 4_194_304) }).maxEntries).toBe(262_144);
  });
});

describe('ProcessTable: fork', () => {
  it('gives a forked child the name of its parent, one fork deeper, without reading /proc', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    const table = tableOver(procfs);

    const parent = table.apply(processFork(100, 200));

    expect(parent).toMatchObject({ tgid: 100, comm: 'bash', forks: 1, depth: 0 });
    expect(table.get(200)).toMatchObject({ comm: 'bash', depth: 1, forks: 0, parent: 100 });
    expect(procfs.reads).toEqual([]);
  });

  it('learns an unknown parent from /proc once, then answers from the table', () => {
    const procfs = new FakeProcfs({});
    const table = tableOver(procfs);
    procfs.names.set(7, 'cron');

    table.apply(processFork(7, 8));
    const parent = table.apply(processFork(7, 9));

    expect(parent?.comm).toBe('cron');
    expect(parent?.forks).toBe(2);
    expect(procfs.reads).toEqual([7]);
  });

  it('returns no parent when it is gone before its name could be read, and forgets a reused child pid', () => {
    const procfs = new FakeProcfs({ 200: 'old' });
    const table = tableOver(procfs);

    const parent = table.apply(processFork(999, 200));

    expect(parent).toBeUndefined();
    expect(table.get(200)).toBeUndefined();
  });

  it('adds no process for a thread, and returns the process the thread belongs to', () => {
    const table = tableOver(new FakeProcfs({ 100: 'java' }));

    const process = table.apply(threadFork(1, 100, 101));

    expect(process?.tgid).toBe(100);
    expect(table.get(101)).toBeUndefined();
    expect(table.get(100)?.forks).toBe(0);
  });
});

describe('ProcessTable: exec', () => {
  it('takes the name the reader read on arrival, and starts a new chain', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    const table = tableOver(procfs);
    table.apply(processFork(100, 200));
    table.apply(processFork(200, 300));

    const exec = execEvent(300);
    exec.procComm = new TextEncoder().encode('make\n');
    const process = table.apply(exec);

    expect(process).toMatchObject({ tgid: 300, comm: 'make', depth: 0, forks: 0 });
    expect(procfs.reads).toEqual([]);
  });

  it('reads /proc when the reader could not', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    const table = tableOver(procfs);
    procfs.names.set(100, 'make');

    expect(table.apply(execEvent(100))?.comm).toBe('make');
    expect(procfs.reads).toEqual([100]);
  });

  it('names a process gone before its new name could be read __unknown__', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    const table = tableOver(procfs);
    procfs.names.delete(100);

    expect(table.apply(execEvent(100))?.comm).toBe(UNKNOWN_COMM);
    expect(UNKNOWN_COMM).toBe('__unknown__');
  });

  it('learns a process it did not know', () => {
    const procfs = new FakeProcfs({});
    const table = tableOver(procfs);
    procfs.names.set(100, 'nginx');

    table.apply(execEvent(100));

    expect(table.get(100)?.comm).toBe('nginx');
  });

  it('adds nothing for an exec of a process that is already gone', () => {
    const table = tableOver(new FakeProcfs({}));

    expect(table.apply(execEvent(100))).toBeUndefined();
    expect(table.size).toBe(0);
  });
});

describe('ProcessTable: rename', () => {
  it("sets the name from the main thread's COMM event, keeping the depth", () => {
    const table = tableOver(new FakeProcfs({ 1: 'bash' }));
    table.apply(processFork(1, 2));
    table.apply(processFork(2, 3));

    table.apply(commEvent(3, 3, 'worker'));

    expect(table.get(3)).toMatchObject({ comm: 'worker', depth: 2 });
  });

  it("ignores another thread's rename: only the main thread's name is the process's", () => {
    const table = tableOver(new FakeProcfs({ 100: 'java' }));

    table.apply(commEvent(101, 100, 'GC Thread#0'));

    expect(table.get(100)?.comm).toBe('java');
  });

  it('learns a pid it did not know, without reading /proc', () => {
    const procfs = new FakeProcfs({});
    const table = tableOver(procfs);

    table.apply(commEvent(100, 100, 'worker'));

    expect(table.get(100)?.comm).toBe('worker');
    expect(procfs.reads).toEqual([]);
  });
});

describe('ProcessTable: exit', () => {
  it('removes the process and returns it as it was', () => {
    const table = tableOver(new FakeProcfs({ 100: 'bash' }));

    const ended = table.apply(exitEvent(100, 100));

    expect(ended?.comm).toBe('bash');
    expect(table.size).toBe(0);
  });

  it("keeps the process when one of its threads ends", () => {
    const table = tableOver(new FakeProcfs({ 100: 'java' }));

    table.apply(exitEvent(101, 100));

    expect(table.get(100)?.comm).toBe('java');
  });

  it('reads a reused pid afresh after the exit', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    const table = tableOver(procfs);
    table.apply(exitEvent(100, 100));
    procfs.names.set(100, 'nginx');

    expect(table.apply(processFork(100, 101))?.comm).toBe('nginx');
  });
});

describe('ProcessTable: maxEntries', () => {
  it('holds no more than maxEntries processes', () => {
    const procfs = new FakeProcfs({ 1: 'a', 2: 'b', 3: 'c', 4: 'd' });
    const table = new ProcessTable({ procfs, maxEntries: 2 });

    table.seed();

    expect(table.size).toBe(2);
  });

  it('evicts a process that is gone before older ones still running (a lost exit left it)', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 2: 'sshd', 3: 'cron' });
    const table = tableOver(procfs, 4);
    table.apply(processFork(3, 40)); // its exit will be lost
    procfs.names.delete(40);

    table.apply(processFork(3, 41));

    expect(table.tgids().sort((a, b) => a - b)).toEqual([1, 2, 3, 41]);
  });

  it('evicts a process whose pid now belongs to a later one, as a stray', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 2: 'sshd' });
    const table = tableOver(procfs, 3);
    table.apply(processFork(2, 30, { timestampNs: atSecond(100) }));
    procfs.names.set(30, 'other'); // exit and the new fork both lost
    procfs.starts.set(30, atSecond(500));

    table.apply(processFork(2, 31, { timestampNs: atSecond(600) }));

    expect(table.get(30)).toBeUndefined();
    expect([table.get(1)?.comm, table.get(2)?.comm]).toEqual(['systemd', 'sshd']);
  });

  it('evicts the least recently changed entry when every one is still running', () => {
    const procfs = new FakeProcfs({ 1: 'a', 2: 'b' });
    const table = tableOver(procfs, 2);
    table.apply(commEvent(1, 1, 'a2')); // 1 is now the most recently changed
    procfs.names.set(3, 'c');

    table.apply(commEvent(3, 3, 'c'));

    expect(table.size).toBe(2);
    expect(table.get(3)?.comm).toBe('c');
  });

  it('evicts nothing when an entry already held changes', () => {
    const table = tableOver(new FakeProcfs({ 1: 'a', 2: 'b' }), 2);

    table.apply(commEvent(2, 2, 'b2'));

    expect([table.get(1)?.comm, table.get(2)?.comm]).toEqual(['a', 'b2']);
  });
});

describe('ProcessTable: fork-without-exec chain depth', () => {
  it('counts one more fork per generation, and exec resets it', () => {
    const table = tableOver(new FakeProcfs({ 1: 'bash' }));
    table.apply(processFork(1, 2));
    table.apply(processFork(2, 3));
    table.apply(processFork(3, 4));
    const depths = (...pids: number[]): (number | undefined)[] => pids.map((pid) => table.get(pid)?.depth);

    expect(depths(1, 2, 3, 4)).toEqual([0, 1, 2, 3]);
    table.apply(execEvent(3));
    table.apply(processFork(3, 5));
    expect(depths(3, 5)).toEqual([0, 1]);
  });

  it('reports the deepest chain, and who lives at the threshold or deeper, by name', () => {
    const table = tableOver(new FakeProcfs({ 1: 'bomb', 50: 'make' }));
    for (let pid = 2; pid <= 5; pid++) table.apply(processFork(pid - 1, pid)); // bomb: depths 1..4
    table.apply(processFork(50, 51)); // make: depth 1

    expect(table.deepProcesses(3)).toEqual({ maxDepth: 4, byComm: new Map([['bomb', 2]]) });
  });
});

describe('ProcessTable: what lifecycle metrics need', () => {
  it('learns the effective user and the threads of each process at seed, and skips those whose main thread has ended', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 100: 'java', 200: 'zombie' });
    procfs.statuses.set(1, { effectiveUid: 0, exited: false });
    procfs.statuses.set(100, { effectiveUid: 1000, exited: false });
    procfs.statuses.set(200, { effectiveUid: 0, exited: true });
    procfs.threads.set(100, [101, 102]);
    const table = new ProcessTable({ procfs });

    table.seed();

    expect(table.get(1)).toMatchObject({ euid: 0, threads: undefined, bornNs: undefined });
    expect(table.get(100)).toMatchObject({ euid: 1000, threads: new Set([101, 102]) });
    expect(table.get(200)).toBeUndefined();
    expect(table.taskCounts()).toEqual({ processes: 2, threads: 2 });
  });

  it('gives a forked child its birth time and its parent\'s user, and no threads', () => {
    const procfs = new FakeProcfs({ 100: 'bash' });
    procfs.statuses.set(100, { effectiveUid: 1000, exited: false });
    procfs.threads.set(100, [101]);
    const table = tableOver(procfs);

    table.apply(processFork(100, 200, { timestampNs: atSecond(42) }));

    expect(table.get(200)).toMatchObject({ bornNs: atSecond(42), euid: 1000, threads: undefined });
    expect(table.get(100)?.bornNs).toBeUndefined();
  });

  it('counts threads as they start and end, once each, whatever the order of seed and events', () => {
    const procfs = new FakeProcfs({ 100: 'java' });
    procfs.threads.set(100, [101]); // 101 started after the subscription, before the seed
    const table = tableOver(procfs);

    table.apply(threadFork(1, 100, 101)); // its fork event arrives after the seed
    table.apply(threadFork(1, 100, 102));
    table.apply(threadFork(1, 100, 103));
    table.apply(exitEvent(102, 100));
    table.apply(exitEvent(999, 100)); // a thread that ended before the seed

    expect(table.get(100)?.threads).toEqual(new Set([101, 103]));
    expect(table.taskCounts()).toEqual({ processes: 1, threads: 2 });
  });

  it('drops the threads with their process, and after an exec, which leaves one thread', () => {
    const procfs = new FakeProcfs({ 100: 'java', 200: 'node' });
    procfs.threads.set(100, [101, 102]);
    procfs.threads.set(200, [201]);
    const table = tableOver(procfs);

    table.apply(exitEvent(100, 100));
    table.apply(execEvent(200));

    expect(table.taskCounts()).toEqual({ processes: 1, threads: 0 });
  });

  it('keeps the birth time across an exec', () => {
    const table = tableOver(new FakeProcfs({ 100: 'bash' }));
    table.apply(processFork(100, 200, { timestampNs: atSecond(7) }));

    table.apply(execEvent(200));

    expect(table.get(200)?.bornNs).toBe(atSecond(7));
  });

  it('keeps the effective user before each change of user', () => {
    const procfs = new FakeProcfs({ 100: 'sshd' });
    procfs.statuses.set(100, { effectiveUid: 0, exited: false });
    const table = tableOver(procfs);

    const dropped = table.apply(uidEvent(100, 100, 1000));
    expect(dropped).toMatchObject({ previousEuid: 0, euid: 1000 });
    const back = table.apply(uidEvent(100, 100, 0));
    expect(back).toMatchObject({ previousEuid: 1000, euid: 0 });
  });

  it('leaves the user unknown where /proc could not tell it', () => {
    const table = tableOver(new FakeProcfs({ 100: 'sshd' }));

    expect(table.apply(uidEvent(100, 100, 0))).toMatchObject({ previousEuid: undefined, euid: 0 });
  });
});
