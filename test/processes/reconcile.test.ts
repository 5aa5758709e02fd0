// Reconciliation after lost events, over a fake /proc tree read by the real Procfs.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ForkBombDetector } from '../../src/detect/forkbomb.js';
import type { ProcEvent } from '../../src/kernel/decode.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { Reconciler } from '../../src/processes/reconcile.js';
import { ProcessTable } from '../../src/processes/table.js';
import { atSecond, execEvent, exitEvent, processFork } from '../helpers/events.js';
import { FakeProcTree } from '../helpers/proc-tree.js';

let tree: FakeProcTree;
let table: ProcessTable;
let reconciler: Reconciler;

/** The events the kernel sent; `seen` says whether each reached forkwatch. */
function happen(seen: boolean, ...events: ProcEvent[]): void {
  for (const event of events) {
    if (event.what === 'fork') tree.add(event.childTgid, { comm: tree.procfs.running(event.parentTgid)!.comm, ppid: event.parentTgid, startedNs: event.timestampNs });
    if (event.what === 'exit') tree.remove(event.tgid);
    if (seen) table.apply(event);
  }
}

const depths = (...pids: number[]): (number | undefined)[] => pids.map((pid) => table.get(pid)?.depth);

beforeEach(() => {
  tree = new FakeProcTree();
  tree.add(1, { comm: 'systemd', ppid: 0, startedNs: atSecond(1) });
  tree.add(100, { comm: 'bash', ppid: 1, startedNs: atSecond(10) });
  table = new ProcessTable({ procfs: tree.procfs, maxEntries: 1000 });
  table.seed();
  reconciler = new Reconciler(table, tree.procfs);
});

afterEach(() => {
  reconciler.close();
  tree.destroy();
});

describe('a reconciliation pass', () => {
  it('removes processes whose exit was lost, zombies too', async () => {
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }), processFork(100, 102, { timestampNs: atSecond(20) }));
    happen(false, exitEvent(101, 101));
    tree.add(102, { comm: 'bash', ppid: 100, startedNs: atSecond(20), state: 'Z' });

    const summary = await reconciler.pass();

    expect(table.tgids().sort((a, b) => a - b)).toEqual([1, 100]);
    expect(summary).toMatchObject({ removed: 2, added: 0, replaced: 0, renamed: 0 });
  });

  it('adds processes whose fork was lost, at depth 0, with their name and parent from /proc', async () => {
    tree.add(200, { comm: 'nginx', ppid: 1, startedNs: atSecond(30) });

    const summary = await reconciler.pass();

    expect(table.get(200)).toMatchObject({ comm: 'nginx', depth: 0, forks: 0, parent: 1 });
    expect(summary.added).toBe(1);
  });

  it('replaces a process whose pid was reused while its exit and the new fork were lost: old name and depth go', async () => {
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }), processFork(101, 102, { timestampNs: atSecond(21) }));
    happen(false, exitEvent(102, 102));
    tree.add(102, { comm: 'python3', ppid: 1, startedNs: atSecond(900) }); // the pid, reused
    expect(depths(102)).toEqual([2]);

    const summary = await reconciler.pass();

    expect(table.get(102)).toMatchObject({ comm: 'python3', depth: 0, parent: 1 });
    expect(summary.replaced).toBe(1);
  });

  it('keeps what the events said of a process /proc confirms: same start, same name, its chain', async () => {
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }), processFork(101, 102, { timestampNs: atSecond(21) }));
    happen(true, processFork(102, 103, { timestampNs: atSecond(22) }));

    const summary = await reconciler.pass();

    expect(depths(100, 101, 102, 103)).toEqual([0, 1, 2, 3]);
    expect(summary).toMatchObject({ removed: 0, added: 0, replaced: 0, renamed: 0, lowered: 0 });
  });

  it('ends the chain of a process renamed without an event (its exec was lost), and those of its children', async () => {
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }), processFork(101, 102, { timestampNs: atSecond(21) }));
    happen(false, execEvent(102));
    tree.add(102, { comm: 'make', ppid: 101, startedNs: atSecond(21) });
    happen(true, processFork(102, 103, { timestampNs: atSecond(22) }), processFork(103, 104, { timestampNs: atSecond(23) }));
    expect(depths(102, 103, 104)).toEqual([2, 3, 4]);

    const summary = await reconciler.pass();

    // The children got the old name from the table; /proc shows the new one.
    expect([102, 103, 104].map((pid) => table.get(pid)?.comm)).toEqual(['make', 'make', 'make']);
    expect(depths(102, 103, 104)).toEqual([0, 0, 0]);
    expect(summary).toMatchObject({ renamed: 3 });
  });

  it('shortens the chains of children forked by a reused pid that inherited a ghost\'s depth', async () => {
    for (let pid = 101; pid <= 110; pid++) happen(true, processFork(pid - 1, pid, { timestampNs: atSecond(pid) }));
    happen(false, exitEvent(110, 110));
    tree.add(110, { comm: 'bash', ppid: 1, startedNs: atSecond(500) }); // reused, its fork lost
    happen(true, processFork(110, 111, { timestampNs: atSecond(501) })); // so the child got 11
    expect(depths(110, 111)).toEqual([10, 11]);

    const summary = await reconciler.pass();

    expect(depths(110, 111)).toEqual([0, 1]);
    expect(summary).toMatchObject({ replaced: 1, lowered: 1 });
  });

  it('only updates the name of a process that had no chain (kernel workers rename with their work)', async () => {
    tree.add(100, { comm: 'bash2', ppid: 1, startedNs: atSecond(10) });

    const summary = await reconciler.pass();

    expect(table.get(100)).toMatchObject({ comm: 'bash2', depth: 0 });
    expect(summary.renamed).toBe(0);
  });

  it('clears a fork-bomb suspicion held up by ghosts', async () => {
    const detector = new ForkBombDetector(table, { chainDepth: 3, chainParents: 1000, chainProcesses: 5, clearAfterSeconds: 60, maxComms: 10, now: () => 0 });
    // A bomb's copies 3 to 12 deep, then killed while every exit was lost.
    for (let pid = 101; pid <= 112; pid++) happen(true, processFork(pid - 1, pid, { timestampNs: atSecond(pid) }));
    detector.evaluate();
    expect([detector.suspected.map((suspect) => suspect.comm), detector.maxDepth]).toEqual([['bash'], 12]);
    for (let pid = 101; pid <= 112; pid++) happen(false, exitEvent(pid, pid));

    await reconciler.pass();
    detector.evaluate();

    expect(detector.maxDepth).toBe(0);
    expect(table.deepProcesses(3).byComm.size).toBe(0);
  });
});

describe('when passes run', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'Date'] });
    reconciler = new Reconciler(table, tree.procfs, { delayMs: 1000, intervalMs: 2000 });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs one pass for a burst of losses, after the delay, once the subscription is confirmed', async () => {
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }));
    happen(false, exitEvent(101, 101));
    const dispatcher = new Dispatcher(table, [reconciler]);
    for (let i = 0; i < 100; i++) dispatcher.lost(3);
    await vi.advanceTimersByTimeAsync(5000);
    expect(reconciler.passes).toBe(0); // not started yet

    dispatcher.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(reconciler.passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);

    expect(reconciler.passes).toBe(1);
    expect(table.get(101)).toBeUndefined();
  });

  it('starts passes at least intervalMs apart, however often events are lost', async () => {
    reconciler.start();
    for (let ms = 0; ms < 10_000; ms += 100) {
      reconciler.lost();
      await vi.advanceTimersByTimeAsync(100);
    }

    expect(reconciler.passes).toBeGreaterThanOrEqual(4);
    expect(reconciler.passes).toBeLessThanOrEqual(5);
  });

  it('follows a pass that corrected something with another, a few at most, then stops', async () => {
    reconciler.start();
    happen(true, processFork(100, 101, { timestampNs: atSecond(20) }));
    happen(false, exitEvent(101, 101));
    reconciler.lost();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reconciler.passes).toBe(1);

    // Events queued before the loss bring a ghost back after the pass: the next one removes it.
    happen(true, processFork(100, 102, { timestampNs: atSecond(21) }));
    happen(false, exitEvent(102, 102));
    await vi.advanceTimersByTimeAsync(2000);
    expect(reconciler.passes).toBe(2);
    expect(table.get(102)).toBeUndefined();

    await vi.advanceTimersByTimeAsync(60_000);
    expect(reconciler.passes).toBe(3); // the one after it found nothing to correct
  });

  it('stops at close', async () => {
    reconciler.start();
    reconciler.lost();
    reconciler.close();
    await vi.advanceTimersByTimeAsync(10_000);

    expect(reconciler.passes).toBe(0);
  });
});
