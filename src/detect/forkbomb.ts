// The fork-bomb detector. A fork bomb is a process that copies itself, whose copies copy
// themselves: chains of forks without exec grow with every generation, and the copies of
// the copies fork again and again. Builds, xargs and shells exec, or stop a few forks
// deep; a loop of command substitutions a few subshells deep has children that fork a
// pipeline, but the pipeline's members exec or end. So a command name is suspected when
//   - many of its processes deep in such chains forked twice or more recently, and so did
//     a child of theirs, and a grandchild: three generations of copies that copy, or
//   - many of its processes deep in such chains are alive (a bomb that hit a PID limit
//     stops forking, but its copies stay).
import { secondOf } from '../kernel/clock.js';
import type { EventOf, Listener } from '../pipeline/listener.js';
import { CommCounts, OTHER_COMM } from '../processes/comm-counts.js';
import type { DeepProcesses, Process, ProcessTable } from '../processes/table.js';

export interface ForkBombOptions {
  /** A process this many forks without exec deep, or deeper, is in a chain. */
  chainDepth: number;
  /** Suspect a name when this many of its processes in chains copy, as above, in RECENT_SECONDS. */
  chainParents: number;
  /** Suspect a name when this many of its processes in chains are alive. */
  chainProcesses: number;
  /** A suspicion clears after this long without either sign. */
  clearAfterSeconds: number;
  /** Most distinct names tracked, as for the per-parent counter. */
  maxComms: number;
  /** The monotonic clock in whole seconds. */
  now: () => number;
}

/** Forking processes are remembered until this many seconds after their last fork. */
export const RECENT_SECONDS = 5;

// Bounds the memory of recent forkers in a storm of distinct pids; far more than any
// threshold needs, and the most --forkbomb.chain-parents may ask for.
export const MAX_RECENT_FORKERS = 100_000;

/** Generations of copies below a copier: 2 means its children's children copy too. */
const COPYING_GENERATIONS = 2;

/** A process that was forked and forks in turn, without exec. */
interface Forking {
  comm: string;
  depth: number;
  parent: number;
  forks: number;
  /** The seconds of its last two forks (-Infinity before the second). */
  previous: number;
  last: number;
  /** How many generations below it copy (fork twice or more without exec), up to 2. */
  copyingBelow: number;
}

/** The detector decides this often, whether or not anyone scrapes. */
const EVALUATE_EVERY_MS = 1000;

export class ForkBombDetector implements Listener {
  /** Chain forks by the parent's name since start (names capped, then `__other__`). */
  readonly chainForks: CommCounts;
  /** Forked processes that forked recently, by pid. */
  private readonly forking = new Map<number, Forking>();
  /** Suspected names, with the last second either sign was seen. */
  private readonly suspects = new Map<string, number>();
  /** The deepest fork-without-exec chain alive at the last evaluation. */
  maxDepth = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly table: Pick<ProcessTable, 'deepProcesses'>,
    private readonly options: ForkBombOptions,
  ) {
    this.chainForks = new CommCounts(options.maxComms);
  }

  start(): void {
    this.evaluate();
    this.timer = setInterval(() => this.evaluate(), EVALUATE_EVERY_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** `forker` is the parent as it is after the fork (undefined when not known). */
  fork(event: EventOf<'fork'>, forker: Process | undefined): void {
    if (event.childPid !== event.childTgid) return; // threads are not copies
    // A pid is a new process once it is forked: nothing known of an earlier one applies.
    this.forking.delete(event.childTgid);
    if (!forker || forker.depth < 1) return; // exec'd: the start of a chain, not a copy
    const second = secondOf(event.timestampNs);
    if (forker.depth >= this.options.chainDepth) this.chainForks.add(forker.comm, second);

    const pid = event.parentTgid;
    let known = this.forking.get(pid);
    if (!known) {
      if (this.forking.size >= MAX_RECENT_FORKERS) return;
      known = { comm: forker.comm, depth: forker.depth, parent: forker.parent, forks: 0, previous: -Infinity, last: -Infinity, copyingBelow: 0 };
      this.forking.set(pid, known);
    }
    known.forks = forker.forks;
    known.previous = known.last;
    known.last = second;
    if (forker.forks === 2) this.copies(known);
  }

  /** `copier` forks twice or more: the generations above it learn that their copies copy. */
  private copies(copier: Forking): void {
    for (let below = copier.copyingBelow + 1, parent = this.forking.get(copier.parent); parent && below <= COPYING_GENERATIONS; ) {
      if (parent.copyingBelow >= below) return;
      parent.copyingBelow = below;
      if (parent.forks < 2) return; // not a copier itself (yet): it passes this on when it is
      below++;
      parent = this.forking.get(parent.parent);
    }
  }

  /** Decides which names are suspected now, from the recent forks and the live table. */
  evaluate(): void {
    this.decide(this.options.now(), this.table.deepProcesses(this.options.chainDepth));
  }

  /** Decides, at second `now`, which names are suspected; `deep` is the live table's view. */
  private decide(now: number, deep: DeepProcesses): void {
    const { chainDepth, chainParents, chainProcesses, clearAfterSeconds } = this.options;
    this.maxDepth = deep.maxDepth;
    const since = now - RECENT_SECONDS;

    const copiersByComm = new Map<string, number>();
    for (const [pid, forking] of this.forking) {
      if (forking.last <= since) this.forking.delete(pid);
      else if (forking.depth >= chainDepth && forking.previous > since && forking.copyingBelow >= COPYING_GENERATIONS) {
        copiersByComm.set(forking.comm, (copiersByComm.get(forking.comm) ?? 0) + 1);
      }
    }
    for (const [comm, copiers] of copiersByComm) {
      if (copiers >= chainParents) this.suspect(comm, now);
    }
    for (const [comm, count] of deep.byComm) {
      if (count >= chainProcesses) this.suspect(comm, now);
    }
    for (const [comm, lastSeen] of this.suspects) {
      if (now - lastSeen >= clearAfterSeconds) this.suspects.delete(comm);
    }
  }

  /**
   * A suspect is named by its own name, whatever the label slots of the counters hold: an
   * attacker who used those up cannot hide a bomb behind `__other__`. Only past maxComms
   * suspects at once does a new one go under `__other__`.
   */
  private suspect(comm: string, now: number): void {
    const label = this.suspects.has(comm) || this.suspects.size < this.options.maxComms ? comm : OTHER_COMM;
    this.suspects.set(label, now);
  }

  /** The names suspected now. */
  get suspected(): string[] {
    return [...this.suspects.keys()];
  }
}
