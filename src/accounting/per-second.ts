/**
 * Counts per second of the monotonic clock, over a ring of the last `windowSeconds`
 * seconds plus the one in progress. Counts for a second older than the ring are dropped.
 */
export class PerSecondCounts {
  private readonly seconds: Float64Array;
  private readonly counts: Float64Array;

  constructor(windowSeconds: number) {
    this.seconds = new Float64Array(windowSeconds + 1).fill(-1);
    this.counts = new Float64Array(windowSeconds + 1);
  }

  add(second: number): void {
    const slot = second % this.seconds.length;
    const held = this.seconds[slot]!;
    if (held === second) {
      this.counts[slot]!++;
    } else if (held < second) {
      this.seconds[slot] = second;
      this.counts[slot] = 1;
    }
  }

  /** The largest count of any second from `from` to `to`, both included. */
  max(from: number, to: number): number {
    let max = 0;
    this.forEach(from, to, (count) => (max = Math.max(max, count)));
    return max;
  }

  private forEach(from: number, to: number, visit: (count: number) => void): void {
    for (let slot = 0; slot < this.seconds.length; slot++) {
      const second = this.seconds[slot]!;
      if (second >= from && second <= to) visit(this.counts[slot]!);
    }
  }
}
