// The busiest parent processes over a trailing window, from per-second buckets.
import { monotonicSecondNow } from '../accounting/clock.js';

export interface ParentForks {
  pid: number;
  comm: string;
  forks: number;
}

interface Bucket {
  second: number;
  byPid: Map<number, { comm: string; forks: number }>;
}

export interface TopParentsOptions {
  windowSeconds: number;
  /**
   * Most distinct parents tracked in one second. A storm of single-fork parents (a fork
   * bomb) would otherwise grow memory without bound; a parent busy enough to rank in
   * the top forks early in the second it belongs to, so its count stays exact.
   */
  maxPidsPerSecond?: number;
}

export class TopParents {
  private readonly buckets: Bucket[];
  private readonly windowSeconds: number;
  private readonly maxPidsPerSecond: number;

  constructor(options: TopParentsOptions) {
    this.windowSeconds = options.windowSeconds;
    this.maxPidsPerSecond = options.maxPidsPerSecond ?? 10_000;
    // One bucket more than the window, for the second in progress.
    this.buckets = Array.from({ length: this.windowSeconds + 1 }, () => ({ second: -1, byPid: new Map() }));
  }

  add(pid: number, comm: string, second: number): void {
    const bucket = this.buckets[second % this.buckets.length]!;
    if (bucket.second !== second) {
      if (bucket.second > second) return; // older than the window
      bucket.second = second;
      bucket.byPid.clear();
    }
    const entry = bucket.byPid.get(pid);
    if (entry) {
      entry.forks++;
      entry.comm = comm;
    } else if (bucket.byPid.size < this.maxPidsPerSecond) {
      bucket.byPid.set(pid, { comm, forks: 1 });
    }
  }

  /** The `n` parents with the most forks in the trailing window, busiest first. */
  top(n: number, now = monotonicSecondNow()): ParentForks[] {
    const totals = new Map<number, ParentForks>();
    // Oldest bucket first, so the latest name a pid had wins.
    const recent = this.buckets
      .filter((bucket) => bucket.second > now - this.windowSeconds && bucket.second <= now)
      .sort((a, b) => a.second - b.second);
    for (const bucket of recent) {
      for (const [pid, { comm, forks }] of bucket.byPid) {
        const total = totals.get(pid);
        if (total) {
          total.forks += forks;
          total.comm = comm;
        } else {
          totals.set(pid, { pid, comm, forks });
        }
      }
    }
    return [...totals.values()].sort((a, b) => b.forks - a.forks || a.pid - b.pid).slice(0, n);
  }
}
