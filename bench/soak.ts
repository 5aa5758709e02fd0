// The soak run (issue 11): forkwatch for a long time under fork storms, contained fork
// bombs, and a stop that overflows its buffer while a bomb dies (its exits are lost),
// scraped every second throughout. A line every 30 s gives loss, memory and scrape
// latency; the summary says how it all went. Figures are reported, never judged: it exits
// non-zero only when it could not run or forkwatch failed.
//
//   npm run bench -- --soak 10m
import { performance } from 'node:perf_hooks';
import { startBashBomb, startCBomb, type RunningBomb } from '../test/helpers/bombs.js';
import { containmentUnavailable, createContainment, destroyAllContainments } from '../test/helpers/cgroup.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { parseSamples } from '../test/helpers/metrics-text.js';
import { startStorm } from '../test/helpers/storm.js';
import { integer, percentile } from './figures.js';
import { peakRssBytes, rssBytes } from './procfs.js';

const SCRAPE_EVERY_MS = 1000;
const REPORT_EVERY_MS = 30_000;
const CLEAR_AFTER_SECONDS = 10;
const BOMB_PIDS_CAP = 300;
// A quarter of the default, granted as 16 MiB (some 20,000 events): ample while forkwatch runs,
// and a storm overflows it within a second while forkwatch is stopped.
const RECEIVE_BUFFER = '8MiB';
const STOPPED_MS = 3000;

/** What one scrape showed. */
interface Reading {
  events: number;
  lost: number;
  drops: number;
  suspected: string[];
  depth: number;
}

function read(page: string): Reading {
  const samples = parseSamples(page);
  const sum = (name: string): number => samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
  return {
    events: sum('forkwatch_events_total'),
    lost: sum('forkwatch_events_lost_total'),
    drops: sum('forkwatch_netlink_drops_total'),
    suspected: samples.filter((s) => s.name === 'forkwatch_forkbomb_suspected' && s.value === 1).map((s) => s.labels.comm!),
    depth: sum('forkwatch_fork_chain_depth_max'),
  };
}

/** A bomb's life as forkwatch saw it, in ms from its start. */
interface BombRecord {
  comm: string;
  stoppedWhileForkwatchWas: boolean;
  flaggedMs?: number;
  killedMs?: number;
  clearedMs?: number;
  startedAt: number;
}

class Soak {
  private phase = 'starting';
  private paused = false;
  private stopping = false;
  private last: Reading | undefined;
  private readonly latencies: number[] = [];
  private intervalLatencies: number[] = [];
  private readonly failures: string[] = [];
  private readonly rss: number[] = [];
  private intervalRss: number[] = [];
  readonly bombs: BombRecord[] = [];
  private readonly began = performance.now();

  constructor(private readonly forkwatch: RunningForkwatch) {}

  /** Scrapes every second (not while forkwatch is stopped on purpose), and reports every 30 s. */
  async scrapeThroughout(): Promise<void> {
    let nextReport = this.began + REPORT_EVERY_MS;
    while (!this.stopping) {
      const started = performance.now();
      if (!this.paused) {
        try {
          const reading = read(await this.forkwatch.scrape());
          const ms = performance.now() - started;
          this.latencies.push(ms);
          this.intervalLatencies.push(ms);
          this.last = reading;
          this.watchBombs(reading);
        } catch (error) {
          this.failures.push(`${this.elapsed()} s: ${(error as Error).message}`);
        }
        const rss = rssBytes(this.forkwatch.pid);
        this.rss.push(rss);
        this.intervalRss.push(rss);
      }
      if (performance.now() >= nextReport) {
        this.report();
        nextReport += REPORT_EVERY_MS;
      }
      await sleep(Math.max(0, started + SCRAPE_EVERY_MS - performance.now()));
    }
  }

  stop(): void {
    this.stopping = true;
  }

  setPhase(phase: string): void {
    this.phase = phase;
  }

  /** While forkwatch is stopped with SIGSTOP a scrape would only wait. */
  pause(paused: boolean): void {
    this.paused = paused;
  }

  private watchBombs(reading: Reading): void {
    const now = Date.now();
    for (const bomb of this.bombs) {
      const suspected = reading.suspected.includes(bomb.comm);
      if (suspected && bomb.flaggedMs === undefined && bomb.killedMs === undefined) bomb.flaggedMs = now - bomb.startedAt;
      if (!suspected && bomb.killedMs !== undefined && bomb.clearedMs === undefined) bomb.clearedMs = now - bomb.startedAt;
    }
  }

  private elapsed(): number {
    return Math.round((performance.now() - this.began) / 1000);
  }

  private report(): void {
    const r = this.last;
    const sorted = [...this.intervalLatencies].sort((a, b) => a - b);
    const rss = this.intervalRss;
    console.log(
      `t=${String(this.elapsed()).padStart(4)} s  ${this.phase.padEnd(16)}` +
        `  rss ${mib(Math.min(...rss))}-${mib(Math.max(...rss))} MiB (peak ${mib(peakRssBytes(this.forkwatch.pid))})` +
        `  events ${integer(r?.events ?? 0)}  lost ${integer(r?.lost ?? 0)}  drops ${integer(r?.drops ?? 0)}` +
        `  scrapes ${sorted.length} p50 ${ms(percentile(sorted, 50))} p99 ${ms(percentile(sorted, 99))} max ${ms(sorted.at(-1) ?? NaN)}` +
        `  depth ${r?.depth ?? '?'}  suspected [${r?.suspected.join(',') ?? ''}]`,
    );
    this.intervalLatencies = [];
    this.intervalRss = [];
  }

  /** `peakRss`: VmHWM, read before forkwatch ended. */
  summary(exitCode: number | null, peakRss: number): string {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const r = this.last;
    const passes = reconciliations(this.forkwatch.stderr());
    const lines = [
      `soak: ${this.elapsed()} s, ${this.bombs.length} contained bombs (pids cap ${BOMB_PIDS_CAP}), storms of stress-ng --vfork 2, ` +
        `forkwatch stopped ${STOPPED_MS / 1000} s in some (buffer ${RECEIVE_BUFFER}), scraped every ${SCRAPE_EVERY_MS / 1000} s`,
      `events received ${integer(r?.events ?? 0)}; lost ${integer(r?.lost ?? 0)}; kernel drops ${integer(r?.drops ?? 0)}` +
        ` (lost ${r && r.lost === r.drops ? '=' : '!='} drops)`,
      `reconciliation passes ${passes.length}: removed ${integer(sum(passes, 'removed'))}, added ${integer(sum(passes, 'added'))}, ` +
        `replaced ${integer(sum(passes, 'replaced'))}, renamed ${integer(sum(passes, 'renamed'))}; longest ${Math.max(0, ...passes.map((p) => p.ms ?? 0))} ms`,
      `RSS first ${mib(this.rss[0] ?? NaN)} MiB, least ${mib(Math.min(...this.rss))}, most ${mib(Math.max(...this.rss))}, last ${mib(this.rss.at(-1) ?? NaN)}; peak (VmHWM) ${mib(peakRss)} MiB`,
      `scrapes ${sorted.length}, failed ${this.failures.length}; latency p50 ${ms(percentile(sorted, 50))} p99 ${ms(percentile(sorted, 99))} max ${ms(sorted.at(-1) ?? NaN)}`,
    ];
    for (const kind of [...new Set(this.bombs.map((bomb) => `${bomb.comm}${bomb.stoppedWhileForkwatchWas ? ' killed while forkwatch was stopped' : ''}`))]) {
      const runs = this.bombs.filter((bomb) => `${bomb.comm}${bomb.stoppedWhileForkwatchWas ? ' killed while forkwatch was stopped' : ''}` === kind);
      const flagged = runs.filter((bomb) => bomb.flaggedMs !== undefined);
      const cleared = runs.filter((bomb) => bomb.clearedMs !== undefined);
      const clearTimes = cleared.map((bomb) => (bomb.clearedMs! - bomb.killedMs!) / 1000);
      lines.push(
        `${kind}: flagged ${flagged.length} of ${runs.length} (after ${range(flagged.map((bomb) => bomb.flaggedMs! / 1000))} s), ` +
          `cleared ${cleared.length} of ${runs.length}, ${range(clearTimes)} s after the kill (clear-after ${CLEAR_AFTER_SECONDS} s)`,
      );
    }
    if (this.failures.length > 0) lines.push(`first failed scrape: ${this.failures[0]}`);
    lines.push(`forkwatch exited with ${exitCode} on SIGTERM`);
    return lines.join('\n');
  }
}

/** The passes forkwatch logged at debug level. */
function reconciliations(stderr: string): Record<string, number>[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"msg":"reconciled the process table with /proc after lost events"'))
    .map((line) => JSON.parse(line) as Record<string, number>);
}

async function stormFor(seconds: number): Promise<void> {
  const storm = startStorm(seconds);
  const watchdog = setTimeout(() => void storm.stop(), (seconds + 30) * 1000);
  try {
    await storm.done;
  } finally {
    clearTimeout(watchdog);
    await storm.stop();
  }
}

async function bombFor(soak: Soak, seconds: number, start: () => RunningBomb, comm: string): Promise<void> {
  const bomb = start();
  const record: BombRecord = { comm, stoppedWhileForkwatchWas: false, startedAt: bomb.startedAt };
  soak.bombs.push(record);
  try {
    await sleep(seconds * 1000);
  } finally {
    await bomb.stop();
    record.killedMs = Date.now() - record.startedAt;
  }
}

/** A storm with forkwatch stopped in the middle: its buffer overflows, and a bomb dies unseen. */
async function stopDuringStorm(soak: Soak, forkwatch: RunningForkwatch): Promise<void> {
  const bomb = startBashBomb(createContainment(BOMB_PIDS_CAP));
  const record: BombRecord = { comm: 'bash', stoppedWhileForkwatchWas: true, startedAt: bomb.startedAt };
  soak.bombs.push(record);
  try {
    await sleep(8000);
    const storm = stormFor(8);
    await sleep(1000);
    soak.pause(true);
    process.kill(forkwatch.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await sleep(STOPPED_MS - 1000); // the buffer is full by now
      await bomb.stop();
      record.killedMs = Date.now() - record.startedAt;
      await sleep(Math.max(0, stoppedAt + STOPPED_MS - Date.now()));
    } finally {
      process.kill(forkwatch.pid, 'SIGCONT');
      soak.pause(false);
    }
    await storm;
  } finally {
    await bomb.stop();
    record.killedMs ??= Date.now() - record.startedAt;
  }
}

export async function soak(seconds: number): Promise<void> {
  const unavailable = await containmentUnavailable();
  if (unavailable !== undefined) throw new Error(`the soak needs pids cgroups for its bombs: ${unavailable}`);
  const forkwatch = await startForkwatch([
    '--netlink.receive-buffer-bytes', RECEIVE_BUFFER,
    '--forkbomb.clear-after', `${CLEAR_AFTER_SECONDS}s`,
    '--log.level', 'debug',
  ]);
  const run = new Soak(forkwatch);
  const scraping = run.scrapeThroughout();
  const deadline = performance.now() + seconds * 1000;
  const phases: [string, () => Promise<void>][] = [
    ['storm', () => stormFor(10)],
    ['quiet', () => sleep(5000)],
    ['bash bomb', () => bombFor(run, 10, () => startBashBomb(createContainment(BOMB_PIDS_CAP)), 'bash')],
    ['quiet', () => sleep(5000)],
    ['C bomb', () => bombFor(run, 10, () => startCBomb(createContainment(BOMB_PIDS_CAP), 'fw-soak-bomb'), 'fw-soak-bomb')],
    ['quiet', () => sleep(5000)],
    ['stopped in storm', () => stopDuringStorm(run, forkwatch)],
    ['quiet', () => sleep(10_000)],
  ];
  let exitCode: number | null;
  let peakRss: number;
  try {
    for (let i = 0; performance.now() < deadline; i++) {
      const [name, phase] = phases[i % phases.length]!;
      run.setPhase(name);
      await phase();
      if (forkwatch.child.exitCode !== null || forkwatch.child.signalCode !== null) {
        throw new Error(`forkwatch exited during the soak:\n${forkwatch.stderr()}`);
      }
    }
    run.setPhase('settling');
    await sleep(CLEAR_AFTER_SECONDS * 1000 + 5000); // the last suspicion clears
  } finally {
    run.stop();
    await scraping;
    await destroyAllContainments();
    process.kill(forkwatch.pid, 'SIGCONT'); // should the run have failed while it was stopped
    peakRss = peakRssBytes(forkwatch.pid);
    exitCode = (await forkwatch.stop('SIGTERM')).code;
  }
  console.log(run.summary(exitCode, peakRss));
  if (exitCode !== 0) throw new Error(`forkwatch exited with ${exitCode} on SIGTERM`);
}

function sum(passes: Record<string, number>[], key: string): number {
  return passes.reduce((total, pass) => total + (pass[key] ?? 0), 0);
}

function range(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const fixed = (value: number): string => value.toFixed(1);
  return `${fixed(Math.min(...values))} to ${fixed(Math.max(...values))}`;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a');
