import { describe, expect, it } from 'vitest';
import { ProcessTable, UNKNOWN_COMM } from '../../src/processes/table.js';

/**
 * A stand-in for /proc: `names` is what /proc/<pid>/comm would say now (change it to
 * model an exec), and `reads` lists every pid the table asked about, in order.
 */
function fakeProc(initial: Record<number, string>) {
  const names = new Map(Object.entries(initial).map(([pid, comm]) => [Number(pid), comm]));
  const reads: number[] = [];
  const readComm = (pid: number): string | undefined => {
    reads.push(pid);
    return names.get(pid);
  };
  return { names, reads, readComm };
}

function tableOver(proc: ReturnType<typeof fakeProc>, maxEntries = 100): ProcessTable {
  return new ProcessTable({ maxEntries, readComm: proc.readComm });
}

describe('ProcessTable: seed', () => {
  it('learns the name of every pid it is given', () => {
    const proc = fakeProc({ 1: 'systemd', 2: 'kthreadd' });
    const table = tableOver(proc);

    table.seed([1, 2]);

    expect(proc.reads).toEqual([1, 2]);
    expect(table.size).toBe(2);
  });

  it('answers from what it learnt, without reading again', () => {
    const proc = fakeProc({ 1: 'systemd', 2: 'kthreadd' });
    const table = tableOver(proc);
    table.seed([1, 2]);
    proc.reads.length = 0;

    const names = [table.comm(1), table.comm(2)];

    expect(names).toEqual(['systemd', 'kthreadd']);
    expect(proc.reads).toEqual([]);
  });

  it('skips a pid that exited before it was read', () => {
    const proc = fakeProc({ 1: 'systemd' });
    const table = tableOver(proc);

    table.seed([1, 99]);

    expect(table.size).toBe(1);
  });
});

describe('ProcessTable: fork', () => {
  it('gives a forked child the name of its parent without reading /proc', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    proc.reads.length = 0;

    table.forked(100, 200);

    expect(table.comm(200)).toBe('bash');
    expect(proc.reads).toEqual([]);
  });

  it('makes the child of a stale parent stale too', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    table.execed(100);
    proc.names.set(200, 'make');
    proc.reads.length = 0;

    table.forked(100, 200);

    expect(table.comm(200)).toBe('make');
    expect(proc.reads).toEqual([200]);
  });

  it('forgets what it knew of a reused child pid when the parent is unknown', () => {
    const proc = fakeProc({ 200: 'old' });
    const table = tableOver(proc);
    table.seed([200]);
    proc.names.set(200, 'new');
    proc.reads.length = 0;

    table.forked(999, 200);

    expect(table.comm(200)).toBe('new');
    expect(proc.reads).toEqual([200]);
  });
});

describe('ProcessTable: exec', () => {
  it('reads the name again on the first comm() after an exec', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    proc.names.set(100, 'make');
    proc.reads.length = 0;

    table.execed(100);

    expect(table.comm(100)).toBe('make');
    expect(proc.reads).toEqual([100]);
  });

  it('caches the name read after an exec', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    table.execed(100);
    proc.reads.length = 0;

    const names = [table.comm(100), table.comm(100), table.comm(100)];

    expect(names).toEqual(['bash', 'bash', 'bash']);
    expect(proc.reads).toEqual([100]);
  });

  it('adds nothing for an exec of a pid it does not know', () => {
    const proc = fakeProc({});
    const table = tableOver(proc);

    table.execed(100);

    expect(table.size).toBe(0);
  });
});

describe('ProcessTable: rename', () => {
  it('sets the name', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);

    table.renamed(100, 'worker');

    expect(table.comm(100)).toBe('worker');
  });

  it('clears staleness, so no read follows', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    table.execed(100);
    proc.reads.length = 0;

    table.renamed(100, 'worker');

    expect(table.comm(100)).toBe('worker');
    expect(proc.reads).toEqual([]);
  });

  it('learns a pid it did not know', () => {
    const proc = fakeProc({});
    const table = tableOver(proc);

    table.renamed(100, 'worker');

    expect(table.comm(100)).toBe('worker');
    expect(proc.reads).toEqual([]);
  });
});

describe('ProcessTable: exit', () => {
  it('removes the entry', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);

    table.exited(100);

    expect(table.size).toBe(0);
  });

  it('reads a reused pid afresh after the exit', () => {
    const proc = fakeProc({ 100: 'bash' });
    const table = tableOver(proc);
    table.seed([100]);
    proc.names.set(100, 'nginx');
    proc.reads.length = 0;

    table.exited(100);

    expect(table.comm(100)).toBe('nginx');
    expect(proc.reads).toEqual([100]);
  });
});

describe('ProcessTable: unknown pids', () => {
  it('reads an unknown pid once and then answers from the table', () => {
    const proc = fakeProc({ 7: 'cron' });
    const table = tableOver(proc);

    const names = [table.comm(7), table.comm(7)];

    expect(names).toEqual(['cron', 'cron']);
    expect(proc.reads).toEqual([7]);
  });

  it('answers __unknown__ when the read fails', () => {
    const proc = fakeProc({});
    const table = tableOver(proc);

    expect(table.comm(8)).toBe(UNKNOWN_COMM);
    expect(UNKNOWN_COMM).toBe('__unknown__');
  });

  it('does not remember a failed read', () => {
    const proc = fakeProc({});
    const table = tableOver(proc);

    table.comm(8);
    table.comm(8);

    expect(proc.reads).toEqual([8, 8]);
    expect(table.size).toBe(0);
  });
});

describe('ProcessTable: maxEntries', () => {
  it('holds no more than maxEntries processes', () => {
    const proc = fakeProc({ 1: 'a', 2: 'b', 3: 'c', 4: 'd' });
    const table = tableOver(proc, 2);

    table.seed([1, 2, 3, 4]);

    expect(table.size).toBe(2);
  });

  it('evicts the oldest entry first', () => {
    const proc = fakeProc({ 1: 'a', 2: 'b', 3: 'c' });
    const table = tableOver(proc, 2);
    table.seed([1, 2, 3]);
    proc.reads.length = 0;

    table.comm(2);
    table.comm(3);
    table.comm(1);

    expect(proc.reads).toEqual([1]);
  });

  it('orders entries by their last change, not by when they were first learnt', () => {
    const proc = fakeProc({ 1: 'a', 2: 'b' });
    const table = tableOver(proc, 2);
    table.seed([1, 2]);
    table.renamed(1, 'a2'); // 1 is now the most recently changed

    table.renamed(3, 'c');
    proc.reads.length = 0;

    expect([table.comm(1), table.comm(3), table.comm(2)]).toEqual(['a2', 'c', 'b']);
    expect(proc.reads).toEqual([2]);
  });

  it('evicts nothing when an entry already held changes', () => {
    const proc = fakeProc({ 1: 'a', 2: 'b' });
    const table = tableOver(proc, 2);
    table.seed([1, 2]);
    proc.reads.length = 0;

    table.renamed(2, 'b2');

    expect([table.comm(1), table.comm(2)]).toEqual(['a', 'b2']);
    expect(proc.reads).toEqual([]);
  });
});

describe('ProcessTable: fork-without-exec chain depth', () => {
  it('counts one more fork per generation, and exec resets it', () => {
    const table = tableOver(fakeProc({ 1: 'bash' }));
    table.seed([1]);
    table.forked(1, 2);
    table.forked(2, 3);
    table.forked(3, 4);

    expect([table.depth(1), table.depth(2), table.depth(3), table.depth(4)]).toEqual([0, 1, 2, 3]);
    table.execed(3);
    table.forked(3, 5);
    expect([table.depth(3), table.depth(5)]).toEqual([0, 1]);
  });

  it('keeps the depth when a process renames itself or its stale name is read again', () => {
    const proc = fakeProc({ 1: 'bash' });
    const table = tableOver(proc);
    table.seed([1]);
    table.forked(1, 2);
    table.forked(2, 3);
    table.renamed(3, 'renamed');
    expect(table.depth(3)).toBe(2);
  });

  it('reports the deepest chain, and who lives at the threshold or deeper, by name', () => {
    const table = tableOver(fakeProc({ 1: 'bomb', 50: 'make' }));
    table.seed([1, 50]);
    for (let pid = 2; pid <= 5; pid++) table.forked(pid - 1, pid); // bomb: depths 1..4
    table.forked(50, 51); // make: depth 1

    expect(table.deepProcesses(3)).toEqual({ maxDepth: 4, byComm: new Map([['bomb', 2]]) });
  });

  it('treats an unknown process as not deep', () => {
    expect(tableOver(fakeProc({})).depth(999)).toBe(0);
  });
});
