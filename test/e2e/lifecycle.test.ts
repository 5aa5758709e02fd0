// The real kernel, the real command: execs, exits, signals, core dumps, lifetimes, changes
// to root, ptrace attaches, and the live process and thread counts, each made by a test
// program running under a name of its own (so the counts of that name are exact while
// other processes on the machine fork, exec and exit).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settle, sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { holdAs, removeCopies, runAs, runAsInBackground } from '../helpers/lifecycle.js';
import { aliveThroughout, liveTasks, threadsOf, threadsThroughout } from '../helpers/live-tasks.js';
import { kernelForks } from '../helpers/kernel-forks.js';
import { createExporter } from '../helpers/exporter.js';
import type { Exporter } from '../../src/exporter.js';
import { uniqueName } from '../helpers/forker.js';
import { parseSamples, sampleValue } from '../helpers/metrics-text.js';

const counter =
  (metric: string, labels: Record<string, string>) =>
  (page: string): number =>
    sampleValue(page, metric, labels);

/** Every sample of `metric` whose labels include `labels`, summed. */
function sum(page: string, metric: string, labels: Record<string, string> = {}): number {
  return parseSamples(page)
    .filter((sample) => sample.name === metric && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((total, sample) => total + sample.value, 0);
}

describeKernel('process lifecycles from the kernel', () => {
  let forkwatch: RunningForkwatch;

  beforeAll(async () => {
    forkwatch = await startForkwatch();
  });

  afterAll(async () => {
    await forkwatch?.stop();
    removeCopies();
  });

  it('counts a program that execs itself N times under its name: N execs, and the one that started it', async () => {
    const name = uniqueName('fw-exec-');
    const ended = runAs(name, ['exec', '24']);
    expect(ended.status, ended.stderr).toBe(0);

    const execs = counter('forkwatch_execs_total', { comm: name });
    expect(await settle(forkwatch, execs, 25)).toBe(25);
    await sleep(300);
    expect(execs(await forkwatch.scrape())).toBe(25);
    // One process, one exit, however many programs it ran.
    expect(sampleValue(await forkwatch.scrape(), 'forkwatch_exits_total', { comm: name, reason: 'success' })).toBe(1);
  });

  it('counts exits by reason, and deaths by the signal that killed them, exactly', async () => {
    const RUNS = 3;
    const names = { zero: uniqueName('fw-exit0-'), three: uniqueName('fw-exit3-'), kill: uniqueName('fw-kill-'), segv: uniqueName('fw-segv-') };
    const before = await forkwatch.scrape();
    for (let run = 0; run < RUNS; run++) {
      expect(runAs(names.zero, ['exit', '0']).status).toBe(0);
      expect(runAs(names.three, ['exit', '3']).status).toBe(3);
      expect(runAs(names.kill, ['signal', '9']).signal).toBe('SIGKILL');
      expect(runAs(names.segv, ['signal', '11']).signal).toBe('SIGSEGV');
    }
    await settle(forkwatch, counter('forkwatch_exits_total', { comm: names.segv, reason: 'signal' }), RUNS);
    const after = await forkwatch.scrape();

    const byReason = (comm: string): Record<string, number> =>
      Object.fromEntries(['success', 'failure', 'signal'].map((reason) => [reason, sampleValue(after, 'forkwatch_exits_total', { comm, reason })]));
    expect(byReason(names.zero)).toEqual({ success: RUNS, failure: 0, signal: 0 });
    expect(byReason(names.three)).toEqual({ success: 0, failure: RUNS, signal: 0 });
    expect(byReason(names.kill)).toEqual({ success: 0, failure: 0, signal: RUNS });
    expect(byReason(names.segv)).toEqual({ success: 0, failure: 0, signal: RUNS });

    // The signal counter is the machine's: any excess must be other processes that died of
    // a signal meanwhile (none, on a quiet machine, and then the counts are exact).
    const delta = (metric: string, labels: Record<string, string>): number => sum(after, metric, labels) - sum(before, metric, labels);
    const othersKilled = delta('forkwatch_exits_total', { reason: 'signal' }) - 2 * RUNS;
    for (const signal of ['SIGKILL', 'SIGSEGV']) {
      const counted = delta('forkwatch_exit_signals_total', { signal });
      expect(counted, signal).toBeGreaterThanOrEqual(RUNS);
      expect(counted - RUNS, `${signal} beyond the test's own`).toBeLessThanOrEqual(othersKilled);
    }
    // The kernel starts a core dump for SIGSEGV even where none can be written (the
    // program made itself not dumpable), and sends the event then.
    expect(sampleValue(after, 'forkwatch_coredumps_total', { comm: names.segv })).toBe(RUNS);
    expect(sampleValue(after, 'forkwatch_coredumps_total', { comm: names.kill })).toBe(0);
  });

  it('puts processes that lived 0.55 s in the lifetime bucket from 0.5 s to 1 s', async () => {
    const RUNS = 3;
    const bucket = (page: string, le: string): number => sampleValue(page, 'forkwatch_process_lifetime_seconds_bucket', { le });
    const before = await forkwatch.scrape();
    const name = uniqueName('fw-live-');
    const ended = await Promise.all(Array.from({ length: RUNS }, () => runAsInBackground(name, ['live', '550'])));
    for (const end of ended) expect(end.status, end.stderr).toBe(0);
    await settle(forkwatch, counter('forkwatch_exits_total', { comm: name, reason: 'success' }), RUNS);
    const after = await forkwatch.scrape();

    const between = (page: string): number => bucket(page, '1') - bucket(page, '0.5');
    // Other processes that happen to live as long may join them; none can leave.
    expect(between(after) - between(before)).toBeGreaterThanOrEqual(RUNS);
    expect(sampleValue(after, 'forkwatch_process_lifetime_seconds_sum') - sampleValue(before, 'forkwatch_process_lifetime_seconds_sum')).toBeGreaterThanOrEqual(
      RUNS * 0.55,
    );
  });

  describe('with kernel.core_pattern set to a folder of the test', () => {
    const PATTERN = '/proc/sys/kernel/core_pattern';
    let original: string | undefined;
    let cores: string;

    beforeAll(() => {
      cores = mkdtempSync(join(tmpdir(), 'forkwatch-cores-'));
      original = readFileSync(PATTERN, 'utf8');
      writeFileSync(PATTERN, `${cores}/core.%p`);
    });

    afterAll(() => {
      if (original !== undefined) writeFileSync(PATTERN, original);
      rmSync(cores, { recursive: true, force: true });
    });

    it('counts a core dump under the name of the process that dumped', async () => {
      const name = uniqueName('fw-core-');
      const ended = runAs(name, ['core']);
      expect(ended.signal).toBe('SIGABRT');
      expect(existsSync(join(cores, `core.${ended.pid}`)), 'the core file').toBe(true);

      const dumps = counter('forkwatch_coredumps_total', { comm: name });
      expect(await settle(forkwatch, dumps, 1)).toBe(1);
      await sleep(300);
      const page = await forkwatch.scrape();
      expect(dumps(page)).toBe(1);
      expect(sampleValue(page, 'forkwatch_exits_total', { comm: name, reason: 'signal' })).toBe(1);
    });
  });

  it('counts a process that went from another user back to root once, under its name', async () => {
    const name = uniqueName('fw-setuid-');
    // Root to root, root to nobody (saved uid 0 kept), nobody to root; with 2 more threads,
    // each of which the kernel reports changing too.
    const ended = runAs(name, ['setuid', '65534', '2']);
    expect(ended.status, ended.stderr).toBe(0);

    const became = counter('forkwatch_setuid_root_total', { comm: name });
    expect(await settle(forkwatch, became, 1)).toBe(1);
    await sleep(300);
    expect(became(await forkwatch.scrape())).toBe(1);
  });

  it("counts a ptrace attach under the tracer's name, and not its detach", async () => {
    const name = uniqueName('fw-tracer-');
    const ended = runAs(name, ['ptrace']);
    expect(ended.status, ended.stderr).toBe(0);

    const attaches = counter('forkwatch_ptrace_attaches_total', { comm: name });
    expect(await settle(forkwatch, attaches, 1)).toBe(1);
    await sleep(300);
    expect(attaches(await forkwatch.scrape())).toBe(1);
  });
});

// The live counts are the table's size, so the proof is the table itself, in-process: the
// test reads which processes and threads it holds and compares them with /proc.
describeKernel('live processes and threads: the process table against /proc', () => {
  let exporter: Exporter;
  let failure: Error | undefined;

  beforeAll(async () => {
    exporter = createExporter();
    await exporter.start((error) => (failure = error));
  });

  afterAll(() => {
    exporter?.close();
    removeCopies();
  });

  /** Polls `check` every 20 ms until it holds or 5 s pass. */
  async function eventually(check: () => boolean): Promise<boolean> {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  async function gauges(): Promise<{ processes: number; threads: number }> {
    const page = await exporter.registries.text.metrics();
    return { processes: sampleValue(page, 'forkwatch_processes'), threads: sampleValue(page, 'forkwatch_threads') };
  }

  it('holds the processes and threads the test starts as /proc lists them, and lets them go when they end', async () => {
    const PROCESSES = 20;
    const THREADS = 10;
    const table = exporter.table;
    const holder = await holdAs(uniqueName('fw-hold-'), PROCESSES, THREADS);
    let released = false;
    try {
      // Every child started its threads before the holder reported it: /proc lists them now.
      const ready = await eventually(() => holder.children.every((pid) => table.get(pid)?.threads?.size === THREADS));
      expect(ready, 'the table has every child with all its threads').toBe(true);
      for (const pid of holder.children) {
        expect(threadsOf(pid).size, `/proc/${pid}/task`).toBe(THREADS);
        expect(table.get(pid)?.threads, `pid ${pid}`).toEqual(threadsOf(pid));
      }
      expect(table.get(holder.pid)?.threads?.size ?? 0).toBe(0);
      const held = await gauges();

      const ended = await holder.release();
      released = true;
      expect(ended.status, ended.stderr).toBe(0);
      const gone = await eventually(() => [holder.pid, ...holder.children].every((pid) => table.get(pid) === undefined));
      expect(gone, 'the table lets every one of them go').toBe(true);
      for (const pid of holder.children) expect(existsSync(`/proc/${pid}`), `/proc/${pid}`).toBe(false);
      // The gauges are the table's counts; other processes come and go meanwhile, but
      // nothing here is as large as the test's own 200 threads.
      const after = await gauges();
      expect(held.threads - after.threads).toBeGreaterThan(PROCESSES * THREADS / 2);
    } finally {
      if (!released) await holder.release();
    }
    expect(failure).toBeUndefined();
  });

  it('has every process and thread alive throughout a reading of /proc, and no process that was not alive then', async () => {
    const table = exporter.table;
    const startNs = Number(process.hrtime.bigint()); // the kernel's event clock
    const forksBefore = kernelForks();
    const before = liveTasks();
    await sleep(200); // time for the events up to the reading to be taken in

    // One synchronous pass: no event is taken in meanwhile.
    const processes = new Map([...table.processes()].map((entry) => [entry.tgid, entry]));
    const threads = new Set([...processes.values()].flatMap((entry) => [...(entry.threads ?? [])]));
    const counts = table.taskCounts();

    const after = liveTasks();
    const forks = kernelForks() - forksBefore;

    expect(counts).toEqual({ processes: processes.size, threads: threads.size });
    const missing = aliveThroughout(before, after).filter((pid) => !processes.has(pid));
    expect(missing, 'alive at both readings, but not in the table').toEqual([]);
    const missingThreads = threadsThroughout(before, after).filter((tid) => !threads.has(tid));
    expect(missingThreads, 'threads alive at both readings, but not in the table').toEqual([]);
    const unaccounted = [...processes.values()].filter((entry) => !before.processes.has(entry.tgid) && !((entry.bornNs ?? -1) >= startNs));
    expect(unaccounted.map((entry) => `${entry.tgid} ${entry.comm}`), 'in the table, but neither alive at the first reading nor born since').toEqual([]);
    // Threads have no birth time in the table: those not listed at the first reading are bounded by the tasks created since.
    expect([...threads].filter((tid) => !before.threads.has(tid)).length).toBeLessThanOrEqual(forks);
    expect(sampleValue(await exporter.registries.text.metrics(), 'forkwatch_events_lost_total')).toBe(0);
  });
});
