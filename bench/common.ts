// What every bench run shares: its error, its progress lines, number formats, a report's
// layout, and the figures read from forkwatch's pages.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { sleep, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { parseSamples } from '../test/helpers/metrics-text.js';

/** The benchmark could not run, or forkwatch failed: report the reason and exit 1. */
export class BenchError extends Error {}

export function progress(message: string): void {
  console.error(`bench: ${message}`);
}

export function requireStressNg(): void {
  const probe = spawnSync('stress-ng', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    const missing = (probe.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BenchError(missing ? 'stress-ng is not installed: apt-get install stress-ng' : `cannot run stress-ng: ${probe.error.message}`);
  }
}

/** The sum of every sample of `name`, whatever its labels. */
export function total(page: string, name: string): number {
  return parseSamples(page)
    .filter((sample) => sample.name === name)
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Latencies {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function latencies(values: number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 50), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 2),
  };
}

export function formatLatencies(l: Latencies, what: string): string {
  return `p50 ${fixed(l.p50Ms, 2)} ms   p99 ${fixed(l.p99Ms, 2)} ms   max ${fixed(l.maxMs, 2)} ms   (${l.count} ${what})`;
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export const integer = (value: number): string => value.toLocaleString('en-US');
export const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
export const mib = (bytes: number): number => round(bytes / 2 ** 20, 1);

/** A report: label/value rows, blank rows between groups. */
export class Report {
  private readonly rows: [string, string][] = [];

  row(label: string, value: string): void {
    this.rows.push([label, value]);
  }

  gap(): void {
    this.rows.push(['', '']);
  }

  toString(): string {
    const width = Math.max(...this.rows.map(([label]) => label.length)) + 2;
    return this.rows.map(([label, value]) => (label === '' && value === '' ? '' : `${label.padEnd(width)}${value}`)).join('\n');
  }
}

/** Requests `path` one at a time, each `intervalMs` after the last began, until `stop()`. */
export function requestThroughout(
  forkwatch: RunningForkwatch,
  path: string,
  intervalMs: number,
  onPage: (page: string, startedMs: number, latencyMs: number) => void = () => {},
): { stop(): Promise<{ failures: string[] }> } {
  const failures: string[] = [];
  let stopping = false;
  const loop = (async () => {
    let next = performance.now();
    while (!stopping) {
      const started = performance.now();
      try {
        const page = await forkwatch.scrape(path);
        onPage(page, started, performance.now() - started);
      } catch (error) {
        failures.push((error as Error).message);
      }
      // Keep the cadence; a request slower than the interval is followed at once, not by a burst.
      next = Math.max(next + intervalMs, performance.now());
      await sleep(next - performance.now());
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return { failures };
    },
  };
}

/** Stops forkwatch with SIGTERM; a forkwatch that does not exit 0 failed the run. */
export async function stopForkwatch(forkwatch: RunningForkwatch): Promise<void> {
  progress('stopping forkwatch (SIGTERM)');
  const exit = await forkwatch.stop('SIGTERM');
  if (exit.code !== 0) throw new BenchError(`forkwatch exited with ${exit.signal ?? `status ${exit.code}`} on SIGTERM:\n${exit.stderr}`);
}
