// The fork-bomb detector. A fork bomb is a process that copies itself, whose copies copy
// themselves: chains of forks without exec grow deeper with every generation. Builds,
// shells and pre-forking servers exec, or stop a few forks deep. So a command name is
// suspected when processes deep in such chains fork fast, or live in numbers.
import { PerSecondCounts } from '../accounting/per-second.js';
import { CommCounts } from '../attribution/comm-counts.js';
import type { DeepProcesses } from '../processes/table.js';

export interface ForkBombOptions {
  /** A fork counts as a chain fork when the forking process is at least this deep. */
  chainDepth: number;
  /** Suspect a name whose chain forks average at least this rate over RATE_WINDOW_SECONDS. */
  chainForksPerSecond: number;
  /** Suspect a name with at least this many live processes at chain depth or deeper. */
  chainProcesses: number;
  /** A suspicion clears after this long without either sign. */
  clearAfterSeconds: number;
  /** Most distinct names tracked, as for the per-parent counter. */
  maxComms: number;
}

/** The chain fork rate is averaged over this many seconds, the current one included. */
export const RATE_WINDOW_SECONDS = 5;

export class ForkBombDetector {
  /** Chain forks by the parent's name since start (names capped, then `__other__`). */
  readonly chainForks: CommCounts;
  private readonly recent = new Map<string, PerSecondCounts>();
  /** Suspected names, with the last second either sign was seen. */
  private readonly suspects = new Map<string, number>();
  /** The deepest fork-without-exec chain alive at the last evaluation. */
  maxDepth = 0;

  constructor(private readonly options: ForkBombOptions) {
    this.chainForks = new CommCounts(options.maxComms);
  }

  /** A process fork by a parent `parentDepth` forks deep, named `comm`, in `second`. */
  recordFork(parentDepth: number, comm: string, second: number): void {
    if (parentDepth < this.options.chainDepth) return;
    const label = this.chainForks.add(comm);
    let perSecond = this.recent.get(label);
    if (!perSecond) {
      perSecond = new PerSecondCounts(RATE_WINDOW_SECONDS);
      this.recent.set(label, perSecond);
    }
    perSecond.add(second);
  }

  /** Decides, at second `now`, which names are suspected; `deep` is the live table's view. */
  evaluate(now: number, deep: DeepProcesses): void {
    const { chainForksPerSecond, chainProcesses, clearAfterSeconds } = this.options;
    this.maxDepth = deep.maxDepth;
    for (const [comm, perSecond] of this.recent) {
      const rate = perSecond.sum(now - RATE_WINDOW_SECONDS + 1, now) / RATE_WINDOW_SECONDS;
      if (rate >= chainForksPerSecond) this.suspects.set(comm, now);
      else if (perSecond.sum(now - RATE_WINDOW_SECONDS, now) === 0) this.recent.delete(comm); // quiet: forget it
    }
    for (const [comm, count] of deep.byComm) {
      if (count >= chainProcesses) this.suspects.set(this.chainForks.labelFor(comm), now);
    }
    for (const [comm, lastSeen] of this.suspects) {
      if (now - lastSeen >= clearAfterSeconds) this.suspects.delete(comm);
    }
  }

  /** The names suspected now. */
  get suspected(): string[] {
    return [...this.suspects.keys()];
  }
}
