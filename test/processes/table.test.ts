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

  it('reports the deepest chain, and who lives at the threshold or deeper, by name and cgroup', () => {
    const procfs = new FakeProcfs({ 1: 'bomb', 50: 'make', 70: 'bomb' });
    procfs.cgroups.set(1, '/a');
    procfs.cgroups.set(70, '/b');
    const table = tableOver(procfs);
    for (let pid = 2; pid <= 5; pid++) table.apply(processFork(pid - 1, pid)); // bomb in /a: depths 1..4
    table.apply(processFork(50, 51)); // make: depth 1
    for (let pid = 71; pid <= 73; pid++) table.apply(processFork(pid - 1, pid)); // bomb in /b: depths 1..3

    expect(table.deepProcesses(3)).toEqual({ maxDepth: 4, byComm: new Map([['bomb', new Map([['/a', 2], ['/b', 1]])]]) });
  });
});

describe('ProcessTable: cgroup', () => {
  const POD = '/kubepods/burstable/pod0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
  const CONTAINER = `${POD}/${'3f'.repeat(32)}`;

  it('reads the cgroup of every process it seeds', () => {
    const procfs = new FakeProcfs({ 1: 'systemd', 300: 'containerd' });
    procfs.cgroups.set(1, '/init.scope');
    procfs.cgroups.set(300, '/system.slice/containerd.service');
    const table = tableOver(procfs);

    expect([table.get(1)?.cgroup, table.get(300)?.cgroup]).toEqual(['/init.scope', '/system.slice/containerd.service']);
  });

  it("gives a forked child its parent's cgroup without reading /proc", () => {
    const procfs = new FakeProcfs({ 100: 'containerd-shim' });
    procfs.cgroups.set(100, '/system.slice/containerd.service');
    const table = tableOver(procfs);
    procfs.cgroupReads.length = 0;

    table.apply(processFork(100, 200));
    table.apply(processFork(200, 201));

    expect(table.get(201)?.cgroup).toBe('/system.slice/containerd.service');
    expect(procfs.cgroupReads).toEqual([]);
  });

  it("catches a process moved into a container's cgroup, as runc and crun do, once it has exec'd: at its next fork", () => {
    const procfs = new FakeProcfs({ 100: 'runc' });
    procfs.cgroups.set(100, '/system.slice/containerd.service');
    const table = tableOver(procfs);
    table.apply(processFork(100, 200)); // runc:[2:INIT], in runc's cgroup
    procfs.names.set(200, 'nginx');
    procfs.cgroups.set(200, CONTAINER); // written to cgroup.procs: no event

    expect(table.get(200)?.cgroup).toBe('/system.slice/containerd.service');
    table.apply(execEvent(200));
    const parent = table.apply(processFork(200, 201));

    expect(parent?.cgroup).toBe(CONTAINER); // the parent a fork returns is up to date
    expect([table.get(200)?.cgroup, table.get(201)?.cgroup]).toEqual([CONTAINER, CONTAINER]);
  });

  it("takes the cgroup the reader read as the exec arrived, with no read of its own: right even for one gone at once", () => {
    const procfs = new FakeProcfs({ 100: 'runc' });
    procfs.cgroups.set(100, '/system.slice/containerd.service');
    const table = tableOver(procfs);
    procfs.cgroupReads.length = 0;
    table.apply(processFork(100, 200));
    const exec = execEvent(200);
    exec.procComm = new TextEncoder().encode('app\n');
    exec.procCgroup = new TextEncoder().encode(`12:pids:${CONTAINER}\n1:name=systemd:${CONTAINER}\n0::/\n`);

    expect(table.apply(exec)?.cgroup).toBe(CONTAINER);
    expect(table.apply(exitEvent(200, 200))?.cgroup).toBe(CONTAINER);
    expect(procfs.cgroupReads).toEqual([]);
  });

  it("reads it again when next needed all the same, for a process moved after its exec (a login into its session's scope)", () => {
    const procfs = new FakeProcfs({ 100: 'sshd' });
    procfs.cgroups.set(100, '/system.slice/ssh.service');
    const table = tableOver(procfs);
    table.apply(processFork(100, 200));
    const exec = execEvent(200);
    exec.procComm = new TextEncoder().encode('sshd-session\n');
    exec.procCgroup = new TextEncoder().encode('1:name=systemd:/system.slice/ssh.service\n');
    table.apply(exec);
    procfs.names.set(200, 'sshd-session');
    procfs.cgroups.set(200, '/user.slice/user-1000.slice/session-3.scope'); // pam_systemd's move

    expect(table.apply(processFork(200, 201))?.cgroup).toBe('/user.slice/user-1000.slice/session-3.scope');
  });

  it("catches it when the processes are listed, for one that never forks", () => {
    const procfs = new FakeProcfs({ 100: 'runc' });
    procfs.cgroups.set(100, '/system.slice/containerd.service');
    const table = tableOver(procfs);
    table.apply(processFork(100, 200));
    procfs.names.set(200, 'server');
    procfs.cgroups.set(200, CONTAINER);
    table.apply(execEvent(200));

    expect([...table.processes()].find((process) => process.tgid === 200)?.cgroup).toBe(CONTAINER);
  });

  it("reads no cgroup at an exec: a program that never forks and ends costs no read", () => {
    const procfs = new FakeProcfs({ 100: 'make' });
    procfs.cgroups.set(100, '/user.slice/user-1000.slice/session-3.scope');
    const table = tableOver(procfs);
    procfs.cgroupReads.length = 0;
    for (let pid = 200; pid < 210; pid++) {
      const exec = execEvent(pid);
      exec.procComm = new TextEncoder().encode('cc1\n');
      table.apply(processFork(100, pid));
      table.apply(exec);
      table.apply(exitEvent(pid, pid));
    }

    expect(procfs.cgroupReads).toEqual([]);
  });

  it('keeps the cgroup it had when the process is gone before its cgroup could be read', () => {
    const procfs = new FakeProcfs({ 100: 'sh' });
    procfs.cgroups.set(100, '/user.slice/user-1000.slice/session-3.scope');
    const table = tableOver(procfs);
    table.apply(processFork(100, 200));
    const exec = execEvent(200);
    exec.procComm = new TextEncoder().encode('sh\n');
    table.apply(exec);
    table.apply(processFork(200, 201)); // handled after 200 exited: its /proc is gone

    expect(table.get(201)?.cgroup).toBe('/user.slice/user-1000.slice/session-3.scope');
  });

  it('learns the cgroup of a parent it did not know, with its name', () => {
    const procfs = new FakeProcfs({});
    const table = tableOver(procfs);
    procfs.names.set(7, 'cron');
    procfs.cgroups.set(7, '/system.slice/cron.service');

    expect(table.apply(processFork(7, 8))?.cgroup).toBe('/system.slice/cron.service');
    expect(table.get(8)?.cgroup).toBe('/system.slice/cron.service');
  });

  it('has no cgroup for a process whose cgroup cannot be read', () => {
    const table = tableOver(new FakeProcfs({ 5: 'kthreadd' }));

    expect(table.get(5)?.cgroup).toBeUndefined();
  });

  it('lists every process it holds', () => {
    const table = tableOver(new FakeProcfs({ 1: 'systemd', 2: 'kthreadd' }));
    table.apply(processFork(1, 3));

    expect([...table.processes()].map((process) => process.tgid).sort()).toEqual([1, 2, 3]);
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
