// Compares forkwatch's count with the kernel's own: /proc/stat's "processes" line counts
// the same copy_process() successes as FORK events. A reading is only exact at a quiet
// moment, when no fork happens between reading the kernel and scraping forkwatch.
import { readFileSync } from 'node:fs';
import { sleep } from './forkwatch-process.js';
import { sampleValue } from './metrics-text.js';

export function kernelForks(): number {
  const match = /^processes (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
  if (!match) throw new Error('/proc/stat has no processes line');
  return Number(match[1]);
}

export function countedForks(page: string): number {
  return sampleValue(page, 'forkwatch_forks_total', { kind: 'process' }) + sampleValue(page, 'forkwatch_forks_total', { kind: 'thread' });
}

export interface QuietReading {
  kernel: number;
  counted: number;
  page: string;
}

/**
 * Waits for a moment in which nothing forked for `settleMs` (time enough for forkwatch
 * to take in every event before it), and reads both counters then.
 */
export async function quietReading(scrape: () => Promise<string>, settleMs = 300, attempts = 50): Promise<QuietReading> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const before = kernelForks();
    await sleep(settleMs);
    const page = await scrape();
    if (kernelForks() === before) return { kernel: before, counted: countedForks(page), page };
  }
  throw new Error(`the machine never stayed ${settleMs} ms without a fork in ${attempts} attempts`);
}
