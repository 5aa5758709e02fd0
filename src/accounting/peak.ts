import { monotonicSecondNow } from './clock.js';

const WINDOW_SECONDS = 60;
// One slot more than the window, for the second in progress.
const SLOTS = WINDOW_SECONDS + 1;

/** The most forks in any one whole second of the trailing 60 s. */
export class PeakPerSecond {
  private readonly seconds = new Float64Array(SLOTS).fill(-1);
  private readonly counts = new Float64Array(SLOTS);

  add(second: number): void {
    const slot = second % SLOTS;
    const held = this.seconds[slot]!;
    if (held === second) {
      this.counts[slot]!++;
    } else if (held < second) {
      this.seconds[slot] = second;
      this.counts[slot] = 1;
    }
    // else: older than the window (seen late, after a stall): it cannot be a peak any more.
  }

  peak(now = monotonicSecondNow()): number {
    let peak = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      const second = this.seconds[slot]!;
      if (second >= now - WINDOW_SECONDS && second < now) peak = Math.max(peak, this.counts[slot]!);
    }
    return peak;
  }
}
