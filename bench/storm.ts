// The fork-storm benchmark (issue 2): `stress-ng --vfork 2` for a set time while forkwatch
// listens and is scraped five times a second; reports how exactly it counted, what it
// lost, what it cost and how fast it answered. Timing figures are reported, never judged:
// it exits non-zero only when it could not run or forkwatch failed.
//
//   npm run bench                          10 s storm
//   npm run bench -- --seconds 3
//   npm run bench -- --soak 10m            the soak run instead (bench/soak.ts)
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { sleep, startForkwatch, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { parseSamples } from '../test/helpers/metrics-text.js';
import { removeForkers } from '../test/helpers/forker.js';
import { between, reading, readingAfter, type Reading } from '../test/helpers/kernel-forks.js';
import { startStorm } from '../test/helpers/storm.js';
import { integer, percentile } from './figures.js';
import {
  clockTicksPerSecond,
  findReaderThread,
  peakRssBytes,
  processCpuTicks,
  threadCpuTicks,
  threadName,
} from './procfs.js';
import { parseBenchArgs } from './args.js';
import { soak } from './soak.js';

const SCRAPE_INTERVAL_MS = 200;

/** The benchmark could not run, or forkwatch failed: report the reason and exit 1. */
class BenchError extends Error {}

function requireStressNg(): void {
  const probe = spawnSync('stress-ng', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    const missing = (probe.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BenchError(missing ? 'stress-ng is not installed: apt-get install stress-ng' : `cannot run stress-ng: ${probe.error.message}`);
  }
}

// ---- metrics ----

/** The sum of every sample of `name`, whatever its labels. */
function total(page: string, name: string): number {
  return parseSamples(page)
    .filter((sample) => sample.name === name)
    .reduce((sum, sample) => sum + sample.value, 0);
}

function peakPerSecond(page: string): number {
  return total(page, 'forkwatch_forks_peak_per_second');
}

// ---- bracketing readings ----

/** A reading of the kernel's count and forkwatch's (see test/helpers/kernel-forks.ts), and forkwatch's CPU. */
interface Bracket extends Reading {
  cpuTicks: number;
  threadTicks: Map<number, number>;
}

function withCpu(forkwatch: RunningForkwatch, read: Reading): Bracket {
  return { ...read, cpuTicks: processCpuTicks(forkwatch.pid), threadTicks: threadCpuTicks(forkwatch.pid) };
}

// ---- scraping throughout ----

interface ScrapeLog {
  latenciesMs: number[];
  failures: string[];
  peakPerSecond: number;
}

/** Scrapes every `intervalMs`, one scrape at a time, until `stop()`. */
function scrapeThroughout(forkwatch: RunningForkwatch, intervalMs: number): { stop(): Promise<ScrapeLog> } {
  const log: ScrapeLog = { latenciesMs: [], failures: [], peakPerSecond: 0 };
  let stopping = false;
  const loop = (async () => {
    let next = performance.now();
    while (!stopping) {
      const started = performance.now();
      try {
        const page = await forkwatch.scrape();
        log.latenciesMs.push(performance.now() - started);
        log.peakPerSecond = Math.max(log.peakPerSecond, peakPerSecond(page));
      } catch (error) {
        log.failures.push((error as Error).message);
      }
      // Keep the cadence; a scrape slower than the interval is followed at once, not by a burst.
      next = Math.max(next + intervalMs, performance.now());
      await sleep(next - performance.now());
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return log;
    },
  };
}

// ---- the storm ----

/** Runs stress-ng for `seconds`; resolves with its wall-clock duration in seconds. */
async function storm(seconds: number): Promise<number> {
  const started = performance.now();
  const running = startStorm(seconds);
  // stress-ng ends itself at --timeout; the watchdog only covers a stress-ng that hangs.
  const watchdog = setTimeout(() => void running.stop(), (seconds + 30) * 1000);
  try {
    await running.done;
  } catch (error) {
    throw new BenchError((error as Error).message);
  } finally {
    clearTimeout(watchdog);
    await running.stop();
  }
  return (performance.now() - started) / 1000;
}

// ---- the run ----

interface ThreadCpu {
  tid: number;
  name: string;
  role: 'main' | 'reader' | 'other';
  seconds: number;
}

/** Every figure of a run: printed as the report, and as the bench-json line. */
interface Figures {
  seconds: number;
  stormSeconds: number;
  /** What the kernel counted in the run, at least and at most (the forks during the two readings). */
  kernelForksAtLeast: number;
  kernelForksAtMost: number;
  countedForks: number;
  /** forkwatch's count lies between the kernel's two. */
  bracketed: boolean;
  eventsReceived: number;
  eventsLost: number;
  netlinkDrops: number;
  messagesInvalid: number;
  cpu: {
    clockTicksPerSecond: number;
    totalSeconds: number;
    totalPerMillionEvents: number;
    mainSeconds: number;
    mainPerMillionEvents: number;
    readerTid: number | null;
    readerFoundBy: string;
    readerSeconds: number;
    readerPerMillionEvents: number;
    restSeconds: number;
    restPerMillionEvents: number;
    topThreads: ThreadCpu[];
  };
  peakRssMiB: number;
  scrapes: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  forksPerSecond: number;
  forksPeakPerSecond: number;
}

async function measure(seconds: number): Promise<Figures> {
  requireStressNg();
  const ticksPerSecond = clockTicksPerSecond();

  progress('starting forkwatch');
  let forkwatch: RunningForkwatch;
  try {
    forkwatch = await startForkwatch();
  } catch (error) {
    throw new BenchError(`forkwatch did not start: ${(error as Error).message}`);
  }
  const pid = forkwatch.pid;
  try {
    let readerTid = await findReaderThread(pid);
    let readerFoundBy = 'the one thread blocked in poll() while idle';

    progress('reading the kernel and forkwatch');
    const before = withCpu(forkwatch, await reading(forkwatch.scrape));

    progress(`storm: stress-ng --vfork 2 for ${seconds} s, scraping every ${SCRAPE_INTERVAL_MS} ms`);
    const scraper = scrapeThroughout(forkwatch, SCRAPE_INTERVAL_MS);
    let stormSeconds: number;
    let scrapes: ScrapeLog;
    try {
      stormSeconds = await storm(seconds);
    } finally {
      scrapes = await scraper.stop();
    }

    progress('reading the kernel and forkwatch once it has taken in the storm');
    const after = withCpu(forkwatch, await readingAfter(forkwatch.scrape, before));
    const peakRss = peakRssBytes(pid);
    if (forkwatch.child.exitCode !== null || forkwatch.child.signalCode !== null) {
      throw new BenchError(`forkwatch exited during the run:\n${forkwatch.stderr()}`);
    }
    if (scrapes.failures.length > 0) {
      throw new BenchError(`${scrapes.failures.length} of ${scrapes.failures.length + scrapes.latenciesMs.length} scrapes failed, first: ${scrapes.failures[0]}`);
    }

    // ---- figures ----
    const delta = (name: string): number => total(after.page, name) - total(before.page, name);
    const window = between(before, after);
    const events = delta('forkwatch_events_total');
    const perMillionEvents = (cpuSeconds: number): number => (events > 0 ? cpuSeconds / (events / 1e6) : NaN);

    const threads: ThreadCpu[] = [];
    for (const [tid, ticks] of after.threadTicks) {
      const used = (ticks - (before.threadTicks.get(tid) ?? 0)) / ticksPerSecond;
      threads.push({ tid, name: threadName(tid), role: 'other', seconds: used });
    }
    threads.sort((a, b) => b.seconds - a.seconds);
    if (readerTid === undefined) {
      readerTid = threads.find((thread) => thread.tid !== pid)?.tid;
      readerFoundBy = 'the busiest thread but main (none was seen blocked in poll())';
    }
    for (const thread of threads) {
      if (thread.tid === pid) thread.role = 'main';
      else if (thread.tid === readerTid) thread.role = 'reader';
    }
    const cpuTotal = (after.cpuTicks - before.cpuTicks) / ticksPerSecond;
    const cpuMain = threads.find((thread) => thread.role === 'main')?.seconds ?? 0;
    const cpuReader = threads.find((thread) => thread.role === 'reader')?.seconds ?? 0;
    const cpuRest = cpuTotal - cpuMain - cpuReader;

    const sorted = [...scrapes.latenciesMs].sort((a, b) => a - b);
    const forksPeak = Math.max(scrapes.peakPerSecond, peakPerSecond(after.page));

    return {
      seconds,
      stormSeconds: round(stormSeconds, 3),
      kernelForksAtLeast: window.kernelAtLeast,
      kernelForksAtMost: window.kernelAtMost,
      countedForks: window.counted,
      bracketed: window.kernelAtLeast <= window.counted && window.counted <= window.kernelAtMost,
      eventsReceived: events,
      eventsLost: delta('forkwatch_events_lost_total'),
      netlinkDrops: delta('forkwatch_netlink_drops_total'),
      messagesInvalid: delta('forkwatch_messages_invalid_total'),
      cpu: {
        clockTicksPerSecond: ticksPerSecond,
        totalSeconds: round(cpuTotal, 2),
        totalPerMillionEvents: round(perMillionEvents(cpuTotal), 3),
        mainSeconds: round(cpuMain, 2),
        mainPerMillionEvents: round(perMillionEvents(cpuMain), 3),
        readerTid: readerTid ?? null,
        readerFoundBy,
        readerSeconds: round(cpuReader, 2),
        readerPerMillionEvents: round(perMillionEvents(cpuReader), 3),
        restSeconds: round(cpuRest, 2),
        restPerMillionEvents: round(perMillionEvents(cpuRest), 3),
        topThreads: threads.slice(0, 3).map((thread) => ({ ...thread, seconds: round(thread.seconds, 2) })),
      },
      peakRssMiB: round(peakRss / 2 ** 20, 1),
      scrapes: {
        count: sorted.length,
        p50Ms: round(percentile(sorted, 50), 2),
        p99Ms: round(percentile(sorted, 99), 2),
        maxMs: round(sorted[sorted.length - 1] ?? NaN, 2),
      },
      forksPerSecond: Math.round(window.kernelAtLeast / stormSeconds),
      forksPeakPerSecond: forksPeak,
    };
  } finally {
    removeForkers();
    progress('stopping forkwatch (SIGTERM)');
    const exit = await forkwatch.stop('SIGTERM');
    if (exit.code !== 0) {
      // Thrown from finally on purpose: a forkwatch that fails to stop cleanly failed the run.
      // eslint-disable-next-line no-unsafe-finally
      throw new BenchError(`forkwatch exited with ${exit.signal ?? `status ${exit.code}`} on SIGTERM:\n${exit.stderr}`);
    }
  }
}

// ---- the report ----

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

function report(r: Figures): string {
  const rows: [string, string][] = [];
  const row = (label: string, value: string): void => void rows.push([label, value]);
  const gap = (): void => void rows.push(['', '']);

  row('storm', `stress-ng --vfork 2, ${r.seconds} s asked, ${fixed(r.stormSeconds, 2)} s run, scraped every ${SCRAPE_INTERVAL_MS} ms`);
  gap();
  row('kernel forks (/proc/stat)', `${integer(r.kernelForksAtLeast)} to ${integer(r.kernelForksAtMost)} (other processes forked during the readings)`);
  row('forks counted by forkwatch', `${integer(r.countedForks)}${r.bracketed ? ', within the kernel\'s count' : '  [OUTSIDE the kernel\'s count]'}`);
  gap();
  row('events received', integer(r.eventsReceived));
  row('events lost', integer(r.eventsLost));
  row('kernel socket drops', integer(r.netlinkDrops));
  row('invalid messages', integer(r.messagesInvalid));
  gap();
  const cpu = r.cpu;
  const cpuRow = (label: string, seconds: number, perMillion: number): void =>
    row(label, `${fixed(seconds, 2).padStart(7)} s   ${fixed(perMillion, 3).padStart(7)} s per million events`);
  cpuRow('CPU, whole process', cpu.totalSeconds, cpu.totalPerMillionEvents);
  cpuRow('  JavaScript main thread', cpu.mainSeconds, cpu.mainPerMillionEvents);
  cpuRow(`  native reader thread`, cpu.readerSeconds, cpu.readerPerMillionEvents);
  cpuRow('  the rest', cpu.restSeconds, cpu.restPerMillionEvents);
  row('reader thread', `tid ${cpu.readerTid ?? '?'}: ${cpu.readerFoundBy}`);
  cpu.topThreads.forEach((thread, index) =>
    row(index === 0 ? 'busiest threads' : '', `${fixed(thread.seconds, 2).padStart(7)} s   tid ${thread.tid} "${thread.name}" (${thread.role})`),
  );
  row('clock ticks per second', String(cpu.clockTicksPerSecond));
  gap();
  row('peak RSS (VmHWM)', `${fixed(r.peakRssMiB, 1)} MiB`);
  row('scrape latency', `p50 ${fixed(r.scrapes.p50Ms, 2)} ms   p99 ${fixed(r.scrapes.p99Ms, 2)} ms   max ${fixed(r.scrapes.maxMs, 2)} ms   (${r.scrapes.count} scrapes)`);
  gap();
  row('storm fork rate', `${integer(r.forksPerSecond)} forks/s (kernel forks / storm seconds)`);
  row('forkwatch_forks_peak_per_second', integer(r.forksPeakPerSecond));

  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => (label === '' && value === '' ? '' : `${label.padEnd(width)}${value}`)).join('\n');
}

function progress(message: string): void {
  console.error(`bench: ${message}`);
}

async function main(): Promise<void> {
  const { seconds, soak: soaking } = parseBenchArgs('storm.js', true);
  try {
    if (soaking) {
      requireStressNg();
      await soak(seconds);
      return;
    }
    const figures = await measure(seconds);
    console.log(report(figures));
    console.log(`bench-json: ${JSON.stringify(figures)}`);
  } catch (error) {
    if (error instanceof BenchError) console.error(`bench: ${error.message}`);
    else console.error('bench: failed:', error);
    process.exitCode = 1;
  }
}

await main();
