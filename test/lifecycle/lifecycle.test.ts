import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle/lifecycle.js';
import { UNKNOWN_COMM } from '../../src/processes/table.js';
import { atSecond, coredumpEvent, execEvent, exitEvent, processFork, ptraceEvent, threadFork, uidEvent } from '../helpers/events.js';
import { namedCounts } from '../helpers/comm-counts.js';
import { testPipeline } from '../helpers/pipeline.js';
import { FakeProcfs } from '../helpers/procfs.js';

/**
 * The lifecycle listener behind the real table, over a stand-in /proc whose processes run
 * as root unless `euids` says otherwise.
 */
function setup(initial: Record<number, string>, { maxComms = 100, euids = {} }: { maxComms?: number; euids?: Record<number, number> } = {}) {
  const procfs = new FakeProcfs(initial);
  for (const pid of Object.keys(initial)) procfs.statuses.set(Number(pid), { effectiveUid: euids[Number(pid)] ?? 0, exited: false });
  const lifetimes: number[] = [];
  let lifecycle!: Lifecycle;
  const { feed, table } = testPipeline((table) => {
    lifecycle = new Lifecycle(table, { maxComms, lifetime: (seconds) => lifetimes.push(seconds) });
    return [lifecycle];
  }, procfs);
  const exits = (): Record<string, Record<string, number>> => Object.fromEntries(lifecycle.exits.byComm);
  return { feed, table, procfs, lifecycle, lifetimes, exits };
}

describe('Lifecycle: execs', () => {
  it('counts an exec under the name after it', () => {
    const { feed, procfs, lifecycle } = setup({ 100: 'bash' });
    feed(processFork(100, 200));
    procfs.names.set(200, 'make');

    feed(execEvent(200));

    expect(namedCounts(lifecycle.execs)).toEqual({ make: 1 });
  });

  it('counts an exec of a process gone before its name could be read as __unknown__', () => {
    const { feed, lifecycle } = setup({});

    feed(execEvent(300));

    expect(namedCounts(lifecycle.execs)).toEqual({ [UNKNOWN_COMM]: 1 });
  });
});

describe('Lifecycle: exits', () => {
  it('counts processes by name and reason, and the killing signal by name', () => {
    const { feed, exits, lifecycle } = setup({ 1: 'init', 10: 'ok', 11: 'bad', 12: 'killed', 13: 'crashed' });

    feed(exitEvent(10, 10, {}, 0), exitEvent(11, 11, {}, 3 << 8), exitEvent(12, 12, {}, 9), exitEvent(13, 13, {}, 11 | 0x80));

    expect(exits()).toEqual({
      ok: { success: 1, failure: 0, signal: 0 },
      bad: { success: 0, failure: 1, signal: 0 },
      killed: { success: 0, failure: 0, signal: 1 },
      crashed: { success: 0, failure: 0, signal: 1 },
    });
    expect(Object.fromEntries(lifecycle.signals)).toEqual({ SIGKILL: 1, SIGSEGV: 1 });
  });

  it('does not count the end of a thread', () => {
    const { feed, exits, lifecycle } = setup({ 100: 'java' });
    feed(threadFork(1, 100, 101));

    feed(exitEvent(101, 100, {}, 9));

    expect(exits()).toEqual({});
    expect(lifecycle.signals.size).toBe(0);
  });

  it('counts a process it never knew as __unknown__', () => {
    const { feed, exits } = setup({});

    feed(exitEvent(555, 555, {}, 0));

    expect(exits()).toEqual({ [UNKNOWN_COMM]: { success: 1, failure: 0, signal: 0 } });
  });

  it('caps the names of each reason, counting the rest under __other__', () => {
    const { feed, exits } = setup({ 1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'e' }, { maxComms: 2 });

    feed(exitEvent(1, 1), exitEvent(2, 2), exitEvent(3, 3), exitEvent(4, 4, {}, 256), exitEvent(5, 5, {}, 15));

    expect(exits()).toEqual({
      a: { success: 1, failure: 0, signal: 0 },
      b: { success: 1, failure: 0, signal: 0 },
      __other__: { success: 1, failure: 0, signal: 0 },
      d: { success: 0, failure: 1, signal: 0 },
      e: { success: 0, failure: 0, signal: 1 },
    });
  });
});

describe('Lifecycle: lifetimes', () => {
  it('takes the fork-to-exit time of processes born since start-up, in seconds, across an exec', () => {
    const { feed, lifetimes } = setup({ 100: 'bash' });
    feed(processFork(100, 200, { timestampNs: atSecond(10) }), processFork(100, 300, { timestampNs: atSecond(10) }));
    feed(execEvent(200, { timestampNs: atSecond(10.1) }));

    feed(exitEvent(200, 200, { timestampNs: atSecond(10.6) }), exitEvent(300, 300, { timestampNs: atSecond(10.002) }));

    expect(lifetimes.map((seconds) => Number(seconds.toFixed(6)))).toEqual([0.6, 0.002]);
  });

  it('takes none for a process that was there at start-up, or for a thread', () => {
    const { feed, lifetimes } = setup({ 100: 'bash' });
    feed(threadFork(1, 100, 101, { timestampNs: atSecond(1) }));

    feed(exitEvent(101, 100, { timestampNs: atSecond(2) }), exitEvent(100, 100, { timestampNs: atSecond(3) }));

    expect(lifetimes).toEqual([]);
  });
});

describe('Lifecycle: core dumps, root, ptrace', () => {
  it('counts core dumps by the name of the process', () => {
    const { feed, lifecycle } = setup({ 100: 'nginx' });

    feed(coredumpEvent(100));

    expect(namedCounts(lifecycle.coredumps)).toEqual({ nginx: 1 });
  });

  it('counts a process that became root from another user once, and no other change of user', () => {
    const { feed, lifecycle } = setup({ 100: 'sshd' });
    feed(threadFork(1, 100, 101));

    feed(uidEvent(100, 100, 0)); // root to root
    feed(uidEvent(101, 100, 1000), uidEvent(100, 100, 1000)); // root to user: each thread sends one
    feed(uidEvent(101, 100, 0), uidEvent(100, 100, 0)); // back to root: the process counts once

    expect(namedCounts(lifecycle.setuidRoot)).toEqual({ sshd: 1 });
  });

  it('counts the root of a child that inherited a user from its parent', () => {
    const { feed, lifecycle } = setup({ 100: 'bash' }, { euids: { 100: 1000 } });
    feed(processFork(100, 200));

    feed(uidEvent(200, 200, 0));

    expect(namedCounts(lifecycle.setuidRoot)).toEqual({ bash: 1 });
  });

  it('does not count a process whose user before was not known', () => {
    const { feed, procfs, lifecycle } = setup({});
    procfs.names.set(100, 'mystery');

    feed(execEvent(100)); // learned from its exec: its user is unknown
    feed(uidEvent(100, 100, 0));

    expect(namedCounts(lifecycle.setuidRoot)).toEqual({});
  });

  it("counts ptrace attaches by the tracer's name, and not the detach", () => {
    const { feed, lifecycle } = setup({ 100: 'gdb', 200: 'victim' });

    feed(ptraceEvent(200, 100), ptraceEvent(200, 0), ptraceEvent(200, 999));

    expect(namedCounts(lifecycle.ptraceAttaches)).toEqual({ gdb: 1, [UNKNOWN_COMM]: 1 });
  });
});
