// The fork-storm benchmark (issue 2): `stress-ng --vfork 2` for a set time while forkwatch
// listens and is scraped five times a second; reports how exactly it counted, what it
// lost, what it cost, how much memory it took and how fast it answered. Two more runs
// (issue 11): --processes (memory after a million short-lived processes) and --drain (how
// forkwatch answers while a backlog drains). Timing figures are reported, never judged:
// it exits non-zero only when it could not run or forkwatch failed.
//
//   npm run bench                              10 s storm
//   npm run bench -- --seconds 30              30 s storm
//   npm run bench -- --processes 1000000       memory over a million processes (drain.ts)
//   npm run bench -- --drain 300000            /-/healthy while 300,000 events drain (drain.ts)
//   npm run bench -- --soak 10m                storms, bombs and scrapes alternating (soak.ts)
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { removeForkers } from '../test/helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { between, reading, readingAfter, type Reading } from '../test/helpers/kernel-forks.js';
import { startStorm } from '../test/helpers/storm.js';
import {
  BenchError,
  fixed,
  formatLatencies,
  integer,
  latencies,
  mib,
  progress,
  Report,
  requestThroughout,
  requireStressNg,
  round,
  stopForkwatch,
  total,
  type Latencies,
} from './common.js';
import { parseSoakDuration } from './args.js';
import { drainReport, measureDrain, measureProcesses, processesReport } from './drain.js';
import { soak } from './soak.js';
import {
  clockTicksPerSecond,
  findReaderThread,
  peakRssBytes,
  processCpuTicks,
  rssBytes,
  threadCpuTicks,
  threadName,
} from './procfs.js';

const SCRAPE_INTERVAL_MS = 200;
/** Quiet time after the storm before the settled RSS is read. */
const SETTLE_SECONDS = 15;

type Run =
  | { kind: 'storm'; seconds: number }
  | { kind: 'processes'; count: number }
  | { kind: 'drain'; events: number }
  | { kind: 'soak'; seconds: number };

function parseRun(): Run {
  let values: { seconds?: string; processes?: string; drain?: string; soak?: string };
  try {
    ({ values } = parseArgs({
      options: { seconds: { type: 'string' }, processes: { type: 'string' }, drain: { type: 'string' }, soak: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  const given = Object.entries(values).filter(([, value]) => value !== undefined);
  if (given.length > 1) usage(`give one of --seconds, --processes, --drain and --soak, not ${given.map(([name]) => `--${name}`).join(' and ')}`);
  const whole = (name: string, text: string, least: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < least) usage(`--${name} wants a whole number >= ${least}, not ${JSON.stringify(text)}`);
    return value;
  };
  if (values.processes !== undefined) return { kind: 'processes', count: whole('processes', values.processes, 1000) };
  if (values.drain !== undefined) return { kind: 'drain', events: whole('drain', values.drain, 1000) };
  if (values.soak !== undefined) {
    const seconds = parseSoakDuration(values.soak);
    if (seconds === undefined) usage(`--soak wants a duration of a minute or more, like 10m, 600s or 1h, not ${JSON.stringify(values.soak)}`);
    return { kind: 'soak', seconds };
  }
  // stress-ng's --timeout takes whole seconds.
  return { kind: 'storm', seconds: values.seconds === undefined ? 10 : whole('seconds', values.seconds, 1) };
}

function usage(reason: string): never {
  console.error(`bench: ${reason}\nusage: node dist-bench/bench/storm.js [--seconds N | --processes N | --drain N | --soak DURATION]`);
  process.exit(2);
}

function peakPerSecond(page: string): number {
  return total(page, 'forkwatch_forks_peak_per_second');
}

// ---- bracketing readings ----

/** A reading of the kernel's count and forkwatch's (test/helpers/kernel-forks.ts), and forkwatch's CPU. */
interface Bracket extends Reading {
  cpuTicks: number;
  threadTicks: Map<number, number>;
}

/** A reading now, or with `first`, one whose window from it brackets forkwatch's count. */
async function bracket(forkwatch: RunningForkwatch, first?: Reading): Promise<Bracket> {
  const read = first === undefined ? await reading(forkwatch.scrape) : await readingAfter(forkwatch.scrape, first);
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
  const requests = requestThroughout(forkwatch, '/metrics', intervalMs, (page, _started, latencyMs) => {
    log.latenciesMs.push(latencyMs);
    log.peakPerSecond = Math.max(log.peakPerSecond, peakPerSecond(page));
  });
  return {
    async stop() {
      log.failures = (await requests.stop()).failures;
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
  /** What the kernel counted in the run, at least and at most (other processes fork during the readings too). */
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
  idleRssMiB: number;
  peakRssMiB: number;
  settledRssMiB: number;
  scrapes: Latencies;
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
    const before = await bracket(forkwatch);
    const idleRss = rssBytes(pid);

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
    const after = await bracket(forkwatch, before);
    const peakRss = peakRssBytes(pid);
    progress(`letting forkwatch settle for ${SETTLE_SECONDS} s`);
    await sleep(SETTLE_SECONDS * 1000);
    const settledRss = rssBytes(pid);
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
      idleRssMiB: mib(idleRss),
      peakRssMiB: mib(peakRss),
      settledRssMiB: mib(settledRss),
      scrapes: latencies(scrapes.latenciesMs),
      forksPerSecond: Math.round(window.kernelAtLeast / stormSeconds),
      forksPeakPerSecond: forksPeak,
    };
  } finally {
    // Throws from finally on purpose: a forkwatch that fails to stop cleanly failed the run.
    removeForkers(); // the readings' marker processes
    await stopForkwatch(forkwatch);
  }
}

// ---- the report ----

function report(r: Figures): string {
  const out = new Report();
  const row = (label: string, value: string): void => out.row(label, value);
  const gap = (): void => out.gap();

  row('storm', `stress-ng --vfork 2, ${r.seconds} s asked, ${fixed(r.stormSeconds, 2)} s run, scraped every ${SCRAPE_INTERVAL_MS} ms`);
  gap();
  row('kernel forks (/proc/stat)', `${integer(r.kernelForksAtLeast)} to ${integer(r.kernelForksAtMost)} (other processes forked during the readings)`);
  row('forks counted by forkwatch', `${integer(r.countedForks)} (${r.bracketed ? 'within the kernel\'s count' : 'OUTSIDE the kernel\'s count'})`);
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
  row('RSS idle, before the storm', `${fixed(r.idleRssMiB, 1)} MiB`);
  row('peak RSS (VmHWM)', `${fixed(r.peakRssMiB, 1)} MiB`);
  row(`RSS ${SETTLE_SECONDS} s after the storm`, `${fixed(r.settledRssMiB, 1)} MiB`);
  row('scrape latency', formatLatencies(r.scrapes, 'scrapes'));
  gap();
  row('storm fork rate', `${integer(r.forksPerSecond)} forks/s (kernel forks / storm seconds)`);
  row('forkwatch_forks_peak_per_second', integer(r.forksPeakPerSecond));

  return out.toString();
}

async function main(): Promise<void> {
  const run = parseRun();
  try {
    let figures: object;
    if (run.kind === 'soak') {
      requireStressNg();
      await soak(run.seconds);
      return;
    }
    if (run.kind === 'processes') {
      const measured = await measureProcesses(run.count);
      console.log(processesReport(measured));
      figures = measured;
    } else if (run.kind === 'drain') {
      const measured = await measureDrain(run.events);
      console.log(drainReport(measured));
      figures = measured;
    } else {
      const measured = await measure(run.seconds);
      console.log(report(measured));
      figures = measured;
    }
    console.log(`bench-json: ${JSON.stringify(figures)}`);
  } catch (error) {
    if (error instanceof BenchError) console.error(`bench: ${error.message}`);
    else console.error('bench: failed:', error);
    process.exitCode = 1;
  }
}

await main();
