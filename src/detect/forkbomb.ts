// The fork-bomb detector. A fork bomb is a process that copies itself, whose copies copy
// themselves: chains of forks without exec grow with every generation, and every copy
// forks again and again. Builds and shells exec, or stop a few forks deep; a script
// looping over subshells a few levels deep is one busy parent whose children fork once
// at most. So a command name is suspected when many distinct processes deep in such
// chains fork repeatedly, or when many of them are alive.
import { CommCounts } from '../attribution/comm-counts.js';
import type { DeepProcesses } from '../processes/table.js';

export interface ForkBombOptions {
  /** A process this many forks without exec deep, or deeper, is in a chain. */
  chainDepth: number;
  /** Suspect a name when this many distinct processes in chains forked twice or more in RECENT_SECONDS. */
  chainParents: number;
  /** Suspect a name when this many of its processes in chains are alive. */
  chainProcesses: number;
  /** A suspicion clears after this long without either sign. */
  clearAfterSeconds: number;
  /** Most distinct names tracked, as for the per-parent counter. */
  maxComms: number;
}

/** Distinct forking parents are counted over this many seconds, the current one included. */
export const RECENT_SECONDS = 5;

// Bounds the memory of recent chain parents in a storm of distinct pids; far more than
// any threshold needs.
const MAX_RECENT_PARENTS = 100_000;

export class ForkBombDetector {
  /** Chain forks by the parent's name since start (names capped, then `__other__`). */
  readonly chainForks: CommCounts;
  /** Processes in chains that forked recently: pid -> name, forks, the second of the last. */
  private readonly recentParents = new Map<number, { comm: string; forks: number; second: number }>();
  /** Suspected names, with the last second either sign was seen. */
  private readonly suspects = new Map<string, number>();
  /** The deepest fork-without-exec chain alive at the last evaluation. */
  maxDepth = 0;

  constructor(private readonly options: ForkBombOptions) {
    this.chainForks = new CommCounts(options.maxComms);
  }

  /** A process fork by `parentPid`, `parentDepth` forks deep, named `comm`, in `second`. */
  recordFork(parentPid: number, parentDepth: number, comm: string, second: number): void {
    if (parentDepth < this.options.chainDepth) return;
    const label = this.chainForks.add(comm);
    const recent = this.recentParents.get(parentPid);
    if (recent) {
      recent.comm = label;
      recent.forks++;
      recent.second = Math.max(recent.second, second);
    } else if (this.recentParents.size < MAX_RECENT_PARENTS) {
      this.recentParents.set(parentPid, { comm: label, forks: 1, second });
    }
  }

  /** Decides, at second `now`, which names are suspected; `deep` is the live table's view. */
  evaluate(now: number, deep: DeepProcesses): void {
    const { chainParents, chainProcesses, clearAfterSeconds } = this.options;
    this.maxDepth = deep.maxDepth;

    const parentsByComm = new Map<string, number>();
    for (const [pid, { comm, forks, second }] of this.recentParents) {
      if (second <= now - RECENT_SECONDS) this.recentParents.delete(pid);
      else if (forks >= 2) parentsByComm.set(comm, (parentsByComm.get(comm) ?? 0) + 1);
    }
    for (const [comm, parents] of parentsByComm) {
      if (parents >= chainParents) this.suspects.set(comm, now);
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
