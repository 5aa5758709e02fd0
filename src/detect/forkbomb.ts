// The fork-bomb detector. A fork bomb is a process that copies itself, whose copies copy
// themselves: chains of forks without exec grow with every generation, and the copies of
// the copies fork again and again. Builds, xargs and shells exec, or stop a few forks
// deep; a loop of command substitutions a few subshells deep has children that fork a
// pipeline, but the pipeline's members exec or end. So a command name is suspected when
//   - many of its processes deep in such chains forked twice or more recently, and so did
//     a child of theirs, and a grandchild: three generations of copies that copy, or
//   - many of its processes deep in such chains are alive (a bomb that hit a PID limit
//     stops forking, but its copies stay).
// Both signs are counted per command name and workload (the workload of the processes'
// cgroup): a bomb lives in one container, so the suspicion says where it is, and the same
// name busy in many containers adds up to nothing.
import { secondOf } from '../kernel/clock.js';
import type { EventOf, Listener } from '../pipeline/listener.js';
import { CommCounts, OTHER_COMM } from '../processes/comm-counts.js';
import type { DeepProcesses, Process, ProcessTable } from '../processes/table.js';
import type { Workload } from '../workloads/layouts.js';
import { identifyCgroup, OTHER_WORKLOAD, workloadKey } from '../workloads/service.js';

export interface ForkBombOptions {
  /** A process this many forks without exec deep, or deeper, is in a chain. */
  chainDepth: number;
  /** Suspect a name in a workload when this many of its processes there in chains copy, as above, in RECENT_SECONDS. */
  chainParents: number;
  /** Suspect a name in a workload when this many of its processes there in chains are alive. */
  chainProcesses: number;
  /** A suspicion clears after this long without either sign. */
  clearAfterSeconds: number;
  /** Most distinct names tracked, as for the per-parent counter; also the most suspects at once. */
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
  /** Its cgroup path when it forked. */
  cgroup: string | undefined;
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

/** A command name suspected of being a fork bomb, in the workload where its copies are. */
export interface Suspect {
  comm: string;
  workload: Workload;
}

/** A suspect, and the last second either sign was seen. */
interface Suspicion extends Suspect {
  lastSeen: number;
}

export class ForkBombDetector implements Listener {
  /** Chain forks by the parent's name since start (names capped, then `__other__`). */
  readonly chainForks: CommCounts;
  /** Forked processes that forked recently, by pid. */
  private readonly forking = new Map<number, Forking>();
  /** Suspects by name and workload key. */
  private readonly suspects = new Map<string, Suspicion>();
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
      known = { comm: forker.comm, cgroup: forker.cgroup, depth: forker.depth, parent: forker.parent, forks: 0, previous: -Infinity, last: -Infinity, copyingBelow: 0 };
      this.forking.set(pid, known);
    }
    known.cgroup = forker.cgroup;
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

  /** Decides which names (in which workloads) are suspected now, from the recent forks and the live table. */
  evaluate(): void {
    this.decide(this.options.now(), this.table.deepProcesses(this.options.chainDepth));
  }

  /** Decides, at second `now`, which names are suspected; `deep` is the live table's view. */
  private decide(now: number, deep: DeepProcesses): void {
    const { chainDepth, chainParents, chainProcesses, clearAfterSeconds } = this.options;
    this.maxDepth = deep.maxDepth;
    const since = now - RECENT_SECONDS;

    const copiers = new SuspectCounts();
    for (const [pid, forking] of this.forking) {
      if (forking.last <= since) this.forking.delete(pid);
      else if (forking.depth >= chainDepth && forking.previous > since && forking.copyingBelow >= COPYING_GENERATIONS) {
        copiers.add(forking.comm, forking.cgroup, 1);
      }
    }
    for (const { suspect, count } of copiers.values()) {
      if (count >= chainParents) this.suspect(suspect, now);
    }
    const live = new SuspectCounts();
    for (const [comm, byCgroup] of deep.byComm) {
      for (const [cgroup, count] of byCgroup) live.add(comm, cgroup, count);
    }
    for (const { suspect, count } of live.values()) {
      if (count >= chainProcesses) this.suspect(suspect, now);
    }
    for (const [key, { lastSeen }] of this.suspects) {
      if (now - lastSeen >= clearAfterSeconds) this.suspects.delete(key);
    }
  }

  /**
   * A suspect is named by its own name and workload, whatever the label slots of the
   * counters and of the workloads hold: an attacker who used those up cannot hide a bomb
   * behind `__other__`. Only past maxComms suspects at once does a new one go under
   * `__other__` (name and workload).
   */
  private suspect(suspect: Suspect, now: number): void {
    let key = suspectKey(suspect);
    if (!this.suspects.has(key) && this.suspects.size >= this.options.maxComms) {
      suspect = { comm: OTHER_COMM, workload: OTHER_WORKLOAD };
      key = suspectKey(suspect);
    }
    this.suspects.set(key, { ...suspect, lastSeen: now });
  }

  /** The names suspected now, each with its workload. */
  get suspected(): Suspect[] {
    return [...this.suspects.values()].map(({ comm, workload }) => ({ comm, workload }));
  }
}

function suspectKey({ comm, workload }: Suspect): string {
  return `${comm}\0${workloadKey(workload)}`;
}

/** Counts by command name and workload; processes in two cgroups of one workload add up. */
class SuspectCounts {
  private readonly counts = new Map<string, { suspect: Suspect; count: number }>();
  /** cgroup path -> workload, for this count only (most processes share a few paths). */
  private readonly workloads = new Map<string | undefined, Workload>();

  add(comm: string, cgroup: string | undefined, count: number): void {
    let workload = this.workloads.get(cgroup);
    if (workload === undefined) this.workloads.set(cgroup, (workload = identifyCgroup(cgroup)));
    const suspect = { comm, workload };
    const key = suspectKey(suspect);
    const known = this.counts.get(key);
    if (known === undefined) this.counts.set(key, { suspect, count });
    else known.count += count;
  }

  values(): Iterable<{ suspect: Suspect; count: number }> {
    return this.counts.values();
  }
}
