// Compares forkwatch's count of forks with the kernel's own while other processes fork:
// /proc/stat's "processes" line counts the same copy_process() successes as FORK events
// (docs/kernel.md).
//
// A reading reads the kernel's count (before), runs a marker, scrapes forkwatch until the
// marker's fork shows, and reads the kernel's count again (after). The marker is a process
// that names itself uniquely (the COMM event carries the name, so forkwatch learns it
// however late it runs) and forks once, after `before` was read. The kernel counts a fork
// and queues its event microseconds apart (copy_process()), so the events of the forks it
// counted before `before` are on forkwatch's socket ahead of the marker's, and a page that
// shows the marker counts all of them. forkwatch takes events in a few ms
// after the kernel counts them (a storm's backlog, longer); the marker waits for that
// instead of guessing.
//
// Between two readings forkwatch must then count at least what the kernel counted between
// the first's `after` and the second's `before`, and at most what it counted between the
// first's `before` and the second's `after`. The bracket is as wide as the forks made
// during the two readings (a few on a busy machine, the markers' own among them); an event
// lost or counted twice puts the count outside it.
import { readFileSync } from 'node:fs';
import { forkSelfNamed, uniqueName } from './forker.js';
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

export interface Reading {
  /** The kernel's count read before the marker ran. */
  kernelBefore: number;
  /** The kernel's count read after the page that shows the marker. */
  kernelAfter: number;
  /** forkwatch's forks (processes and threads) on that page. */
  counted: number;
  page: string;
}

/** Reads the kernel, then forkwatch once it has taken in every fork the kernel counted before. */
export async function reading(scrape: () => Promise<string>, deadlineMs = 20_000): Promise<Reading> {
  const kernelBefore = kernelForks();
  const marker = uniqueName('fw-mark-');
  forkSelfNamed(marker, 1);
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const page = await scrape();
    if (sampleValue(page, 'forkwatch_parent_forks_total', { comm: marker }) > 0) {
      return { kernelBefore, kernelAfter: kernelForks(), counted: countedForks(page), page };
    }
    if (Date.now() > deadline) throw new Error(`forkwatch did not count the marker process ${marker} within ${deadlineMs} ms`);
    await sleep(5);
  }
}

export interface Window {
  /** What forkwatch counted between the two readings. */
  counted: number;
  /** What the kernel counted between them, at least and at most. */
  kernelAtLeast: number;
  kernelAtMost: number;
}

export function between(first: Reading, second: Reading): Window {
  return {
    counted: second.counted - first.counted,
    kernelAtLeast: second.kernelBefore - first.kernelAfter,
    kernelAtMost: second.kernelAfter - first.kernelBefore,
  };
}

/**
 * A reading after `first` whose window from it is bracketed, or the last one tried when
 * the deadline passes. A retry is for the rare fork whose task was preempted between the
 * kernel counting it and queueing its event, so that it came in after the marker.
 */
export async function readingAfter(scrape: () => Promise<string>, first: Reading, deadlineMs = 20_000): Promise<Reading> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const second = await reading(scrape, deadlineMs);
    const window = between(first, second);
    const bracketed = window.kernelAtLeast <= window.counted && window.counted <= window.kernelAtMost;
    if (bracketed || Date.now() > deadline) return second;
  }
}
