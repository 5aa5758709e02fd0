import { PerSecondCounts } from './per-second.js';

const WINDOW_SECONDS = 60;

/** The most forks in any one whole second of the trailing 60 s. */
export class PeakPerSecond {
  private readonly perSecond = new PerSecondCounts(WINDOW_SECONDS);

  /** `now` reads the monotonic clock in whole seconds. */
  constructor(private readonly now: () => number) {}

  add(second: number): void {
    this.perSecond.add(second);
  }

  /** The second in progress is not whole yet, so it does not count. */
  peak(now = this.now()): number {
    return this.perSecond.max(now - WINDOW_SECONDS, now - 1);
  }
}
