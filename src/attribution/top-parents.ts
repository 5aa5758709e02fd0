// The busiest parent processes over a trailing window. Running totals per pid make a
// scrape one pass over the tracked pids; per-second buckets remember what to subtract
// when a second leaves the window.

export interface ParentForks {
  pid: number;
  comm: string;
  /** The parent's cgroup path when it forked (undefined: not known). */
  cgroup: string | undefined;
  forks: number;
}

export interface TopParentsOptions {
  windowSeconds: number;
  /** The monotonic clock in whole seconds. */
  now: () => number;
  /**
   * Most parent pids tracked at once (default 10,000), so that a fork bomb's storm of
   * new parents cannot grow memory without bound. When a new pid finds no room, the
   * least busy pids are pruned to make some (see `prune`).
   */
  maxTrackedPids?: number;
}

/** A tracked pid: its forks in the window, and its name and cgroup in the latest second it forked. */
interface Tracked {
  pid: number;
  comm: string;
  cgroup: string | undefined;
  commSecond: number;
  forks: number;
}

/**
 * One second's forks by tracked pid: what to subtract when the second leaves the window.
 * Keyed by the record, not the pid, so that the forks of a pid pruned and seen again are
 * never subtracted from its new record.
 */
interface Bucket {
  second: number;
  forks: Map<Tracked, number>;
}

export class TopParents {
  private readonly windowSeconds: number;
  private readonly maxTrackedPids: number;
  private readonly now: () => number;
  private tracked = new Map<number, Tracked>();
  private readonly buckets: Bucket[];
  /** Every second up to this one has been subtracted for good; later forks in them are ignored. */
  private expiredThrough = -Infinity;
  /** Entries in all buckets, and an upper bound on those left behind by pruned pids. */
  private bucketEntries = 0;
  private prunedForks = 0;

  constructor(options: TopParentsOptions) {
    this.windowSeconds = wholeNumber('windowSeconds', options.windowSeconds);
    this.now = options.now;
    this.maxTrackedPids = wholeNumber('maxTrackedPids', options.maxTrackedPids ?? 10_000);
    // One bucket more than the window, for the second in progress.
    this.buckets = Array.from({ length: this.windowSeconds + 1 }, () => ({ second: -Infinity, forks: new Map() }));
  }

  /** How many pids are tracked now: never more than `maxTrackedPids`. */
  get trackedPids(): number {
    return this.tracked.size;
  }

  add(pid: number, comm: string, second: number, cgroup?: string): void {
    if (second <= this.expiredThrough) return;
    const bucket = this.bucketFor(second);
    if (bucket.second > second) return; // older than the window of a later fork
    if (bucket.second < second) {
      this.expire(bucket);
      bucket.second = second;
    }

    let record = this.tracked.get(pid);
    if (!record) {
      if (this.tracked.size >= this.maxTrackedPids) this.prune();
      record = { pid, comm, cgroup, commSecond: second, forks: 0 };
      this.tracked.set(pid, record);
    }
    record.forks++;
    // Forks can arrive out of order: the name and cgroup of the latest second win.
    if (second >= record.commSecond) {
      record.comm = comm;
      record.cgroup = cgroup;
      record.commSecond = second;
    }

    const forks = bucket.forks.get(record);
    if (forks === undefined) this.bucketEntries++;
    bucket.forks.set(record, (forks ?? 0) + 1);
  }

  /**
   * The `n` parents with the most forks in the window ending at second `now`, busiest
   * first, ties by lower pid. `now` must not go back: the seconds it leaves are gone.
   * (Events come before the scrape that reads them, so no fork is later than `now`.)
   */
  top(n: number, now = this.now()): ParentForks[] {
    this.expireThrough(now - this.windowSeconds);
    const busiest: ParentForks[] = [];
    for (const record of this.tracked.values()) keepBusiest(busiest, n, record);
    return busiest;
  }

  private bucketFor(second: number): Bucket {
    const slots = this.buckets.length;
    return this.buckets[((second % slots) + slots) % slots]!; // never negative, even before second 0
  }

  private isTracked(record: Tracked): boolean {
    return this.tracked.get(record.pid) === record;
  }

  /** Subtracts a bucket's forks from the totals and empties it; pids left with none go. */
  private expire(bucket: Bucket): void {
    for (const [record, forks] of bucket.forks) {
      if (!this.isTracked(record)) continue; // pruned: its forks left the totals with it
      record.forks -= forks;
      if (record.forks === 0) this.tracked.delete(record.pid);
    }
    this.bucketEntries -= bucket.forks.size;
    bucket.forks.clear();
  }

  /** Subtracts every second up to `last` not subtracted yet. */
  private expireThrough(last: number): void {
    if (last <= this.expiredThrough) return;
    // Each second is visited once; after a long gap, one pass over the ring covers all.
    const from = Math.max(this.expiredThrough + 1, last - this.buckets.length + 1);
    for (let second = from; second <= last; second++) {
      const bucket = this.bucketFor(second);
      if (bucket.second <= last) this.expire(bucket);
    }
    this.expiredThrough = last;
  }

  /**
   * Makes room for a new pid by dropping every pid with at most the forks of the quarter
   * least busy. In a fork bomb that is every pid at the minimum, its single-fork copies,
   * so a busy parent arriving late still gets in. Freeing a quarter at least, even when
   * few pids share the minimum, means a prune (a sort of the totals) comes only once per
   * quarter of the cap of new pids.
   *
   * The approximation: counts of tracked pids are exact while they stay tracked; a pid
   * pruned and seen again restarts from its later forks.
   */
  private prune(): void {
    const totals = new Float64Array(this.tracked.size);
    let i = 0;
    for (const record of this.tracked.values()) totals[i++] = record.forks;
    const threshold = totals.sort()[Math.ceil(totals.length / 4) - 1]!;
    // Usually most pids go: copying the rest is cheaper than deleting them one by one.
    const kept = new Map<number, Tracked>();
    for (const record of this.tracked.values()) {
      if (record.forks > threshold) kept.set(record.pid, record);
      else this.prunedForks += record.forks;
    }
    this.tracked = kept;
    // Buckets should hold counts only for tracked pids. A pruned pid left at most one
    // entry per fork; sweeping once those could be half of all entries keeps the cost of
    // a sweep in proportion to what it removes.
    if (2 * this.prunedForks >= this.bucketEntries) this.sweep();
  }

  private sweep(): void {
    this.bucketEntries = 0;
    for (const bucket of this.buckets) {
      if (bucket.forks.size === 0) continue;
      const kept = new Map<Tracked, number>();
      for (const [record, forks] of bucket.forks) if (this.isTracked(record)) kept.set(record, forks);
      bucket.forks = kept;
      this.bucketEntries += kept.size;
    }
    this.prunedForks = 0;
  }
}

/** Inserts a parent into `busiest` (busiest first) if it ranks among the `n` busiest. */
function keepBusiest(busiest: ParentForks[], n: number, { pid, comm, cgroup, forks }: Tracked): void {
  if (busiest.length >= n) {
    // Most parents rank below the last one kept: one comparison, no insertion.
    const last = busiest[n - 1];
    if (last === undefined || !ranksAbove(forks, pid, last)) return;
  }
  let low = 0;
  let high = busiest.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ranksAbove(forks, pid, busiest[middle]!)) high = middle;
    else low = middle + 1;
  }
  busiest.splice(low, 0, { pid, comm, cgroup, forks });
  if (busiest.length > n) busiest.pop();
}

function ranksAbove(forks: number, pid: number, other: ParentForks): boolean {
  return forks > other.forks || (forks === other.forks && pid < other.pid);
}

function wholeNumber(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`TopParents: ${name} must be a whole number of at least 1, not ${value}`);
  return value;
}
