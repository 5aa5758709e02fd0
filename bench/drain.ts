// Two runs of the bench about what forkwatch holds and how it answers under a backlog:
//
// --processes N  memory over N short-lived processes (a stress-ng storm until the kernel
//                counted N forks, scraped every second): RSS idle, at its peak, and after.
// --drain N      the JavaScript thread stalls (bench/stall.ts, loaded with --import) while a
//                storm piles up N events in the reader's queue; then /-/healthy is asked
//                every 10 ms while they drain: how long each answer took.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sleep, startForkwatch, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { removeForkers } from '../test/helpers/forker.js';
import { reading } from '../test/helpers/kernel-forks.js';
import { stormUntilForks } from '../test/helpers/storm.js';
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
import { peakRssBytes, rssBytes } from './procfs.js';

const SETTLED_AFTER_SECONDS = [5, 15, 30];

async function start(options: Parameters<typeof startForkwatch>[1] = {}): Promise<RunningForkwatch> {
  progress('starting forkwatch');
  try {
    return await startForkwatch([], options);
  } catch (error) {
    throw new BenchError(`forkwatch did not start: ${(error as Error).message}`);
  }
}

function requireRunning(forkwatch: RunningForkwatch): void {
  if (forkwatch.child.exitCode !== null || forkwatch.child.signalCode !== null) {
    throw new BenchError(`forkwatch exited during the run:\n${forkwatch.stderr()}`);
  }
}

// ---- --processes ----

export interface ProcessesFigures {
  processes: number;
  stormSeconds: number;
  eventsReceived: number;
  eventsLost: number;
  idleRssMiB: number;
  peakRssMiB: number;
  /** RSS this many seconds after the storm: [seconds, MiB]. */
  settledRssMiB: [number, number][];
}

export async function measureProcesses(count: number): Promise<ProcessesFigures> {
  requireStressNg();
  const forkwatch = await start();
  try {
    progress('reading forkwatch once it has taken in what came before');
    const before = await reading(forkwatch.scrape);
    const idleRss = rssBytes(forkwatch.pid);

    progress(`storm: stress-ng --vfork 2 until ${integer(count)} more processes, scraping every second`);
    const scraper = requestThroughout(forkwatch, '/metrics', 1000);
    let stormSeconds: number;
    try {
      stormSeconds = await stormUntilForks(count).catch((error: Error) => {
        throw new BenchError(error.message);
      });
    } finally {
      const { failures } = await scraper.stop();
      // Thrown from finally on purpose: failed scrapes fail the run, whatever the storm did.
      // eslint-disable-next-line no-unsafe-finally
      if (failures.length > 0) throw new BenchError(`${failures.length} scrapes failed, first: ${failures[0]}`);
    }
    const stormEnded = performance.now();
    const peakRss = peakRssBytes(forkwatch.pid);

    const settled: [number, number][] = [];
    for (const seconds of SETTLED_AFTER_SECONDS) {
      await sleep(stormEnded + seconds * 1000 - performance.now());
      settled.push([seconds, mib(rssBytes(forkwatch.pid))]);
    }
    const after = await forkwatch.scrape();
    requireRunning(forkwatch);
    const delta = (name: string): number => total(after, name) - total(before.page, name);
    return {
      processes: count,
      stormSeconds: round(stormSeconds, 1),
      eventsReceived: delta('forkwatch_events_total'),
      eventsLost: delta('forkwatch_events_lost_total'),
      idleRssMiB: mib(idleRss),
      peakRssMiB: mib(peakRss),
      settledRssMiB: settled,
    };
  } finally {
    removeForkers(); // the readings' marker processes
    await stopForkwatch(forkwatch);
  }
}

export function processesReport(r: ProcessesFigures): string {
  const out = new Report();
  out.row('storm', `stress-ng --vfork 2 until ${integer(r.processes)} processes: ${fixed(r.stormSeconds, 1)} s, scraped every second`);
  out.row('events received / lost', `${integer(r.eventsReceived)} / ${integer(r.eventsLost)}`);
  out.gap();
  out.row('RSS idle, before', `${fixed(r.idleRssMiB, 1)} MiB`);
  out.row('peak RSS (VmHWM)', `${fixed(r.peakRssMiB, 1)} MiB`);
  for (const [seconds, rss] of r.settledRssMiB) out.row(`RSS ${seconds} s after`, `${fixed(rss, 1)} MiB`);
  return out.toString();
}

// ---- --drain ----

export interface DrainFigures {
  eventsWanted: number;
  /** The longest delay of forkwatch's event loop from the stall's end (bench/stall.ts). */
  longestTurnMs: number;
  stallSeconds: number;
  eventsDrained: number;
  drainSeconds: number;
  eventsLost: number;
  netlinkDrops: number;
  healthAfterStall: Latencies;
  scrapesAfterStall: Latencies;
  peakRssMiB: number;
}

const HEALTH_INTERVAL_MS = 10;
const SCRAPE_INTERVAL_MS = 250;
const QUIET_EVENTS = 1000; // per SCRAPE_INTERVAL_MS
const SETTLE_MS = 1000;

export async function measureDrain(events: number): Promise<DrainFigures> {
  requireStressNg();
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-bench-'));
  const stallUntil = join(dir, 'stall-ends');
  const preload = fileURLToPath(new URL('./stall.js', import.meta.url));
  const forkwatch = await start({ nodeOptions: ['--import', preload], env: { FORKWATCH_BENCH_STALL_UNTIL: stallUntil } });
  try {
    progress('reading forkwatch once it has taken in what came before');
    const before = await reading(forkwatch.scrape);

    progress(`stalling forkwatch's JavaScript thread while a storm makes ${integer(events)} events`);
    process.kill(forkwatch.pid, 'SIGUSR2');
    await sleep(200); // the handler runs on forkwatch's next turn of the event loop
    const stallStarted = performance.now();
    // A fork makes two events: the fork and the child's exit.
    await stormUntilForks(Math.ceil(events / 2)).catch((error: Error) => {
      throw new BenchError(error.message);
    });
    await sleep(SETTLE_MS); // stress-ng's end takes the CPUs for a moment: not forkwatch's doing
    writeFileSync(stallUntil, '');
    const stallSeconds = (performance.now() - stallStarted) / 1000;

    progress('draining: /-/healthy every 10 ms, /metrics every 250 ms');
    let stallEnded: number | undefined;
    const health: number[] = [];
    const healthLoop = requestThroughout(forkwatch, '/-/healthy', HEALTH_INTERVAL_MS, (_page, started, latency) => {
      // The first answer comes when the stall ends; only requests made after it count.
      if (stallEnded === undefined) stallEnded = started + latency;
      else if (started >= stallEnded) health.push(latency);
    });
    const scrapes: number[] = [];
    let lastEvents = -1;
    let drainedAt: number | undefined;
    const scrapeLoop = requestThroughout(forkwatch, '/metrics', SCRAPE_INTERVAL_MS, (page, started, latency) => {
      if (stallEnded !== undefined && started >= stallEnded) scrapes.push(latency);
      // Drained when forkwatch takes in events no faster than the machine makes them when
      // quiet: a backlog drains at tens of thousands a second.
      const received = total(page, 'forkwatch_events_total');
      if (lastEvents >= 0 && received - lastEvents < QUIET_EVENTS && drainedAt === undefined && stallEnded !== undefined) drainedAt = started;
      lastEvents = received;
    });
    const deadline = performance.now() + 120_000;
    while (drainedAt === undefined && performance.now() < deadline) await sleep(50);
    const healthFailures = (await healthLoop.stop()).failures;
    const scrapeFailures = (await scrapeLoop.stop()).failures;
    if (drainedAt === undefined) throw new BenchError('the backlog did not drain within 2 minutes');
    if (healthFailures.length + scrapeFailures.length > 0) {
      throw new BenchError(`requests failed during the drain, first: ${[...healthFailures, ...scrapeFailures][0]}`);
    }
    requireRunning(forkwatch);

    const after = await forkwatch.scrape();
    const delta = (name: string): number => total(after, name) - total(before.page, name);
    let longestTurnMs: number;
    try {
      longestTurnMs = round(Number(readFileSync(`${stallUntil}.delay`, 'utf8')), 1);
    } catch {
      throw new BenchError('forkwatch wrote no event loop delay: was bench/stall.js loaded?');
    }
    return {
      eventsWanted: events,
      longestTurnMs,
      stallSeconds: round(stallSeconds, 1),
      eventsDrained: delta('forkwatch_events_total'),
      drainSeconds: round((drainedAt - stallEnded!) / 1000, 2),
      eventsLost: delta('forkwatch_events_lost_total'),
      netlinkDrops: delta('forkwatch_netlink_drops_total'),
      healthAfterStall: latencies(health),
      scrapesAfterStall: latencies(scrapes),
      peakRssMiB: mib(peakRssBytes(forkwatch.pid)),
    };
  } finally {
    writeFileSync(stallUntil, ''); // should the run have failed during the stall
    removeForkers(); // the readings' marker processes
    await stopForkwatch(forkwatch);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function drainReport(r: DrainFigures): string {
  const out = new Report();
  out.row('stall', `JavaScript thread blocked ${fixed(r.stallSeconds, 1)} s while stress-ng --vfork 2 made ${integer(r.eventsWanted)} events or more`);
  out.row('events drained / lost', `${integer(r.eventsDrained)} in ${fixed(r.drainSeconds, 2)} s (to within ${SCRAPE_INTERVAL_MS} ms) / ${integer(r.eventsLost)}`);
  out.row('kernel socket drops', integer(r.netlinkDrops));
  out.gap();
  out.row('longest turn of forkwatch\'s loop', `${fixed(r.longestTurnMs, 1)} ms (its event loop delay from the stall's end, measured inside)`);
  out.row('/-/healthy while draining', formatLatencies(r.healthAfterStall, `requests, one every ${HEALTH_INTERVAL_MS} ms`));
  out.row('/metrics while draining', formatLatencies(r.scrapesAfterStall, 'scrapes'));
  out.row('peak RSS (VmHWM)', `${fixed(r.peakRssMiB, 1)} MiB`);
  return out.toString();
}
