// The live process table: what forkwatch knows of each process, kept from the events.
// It is the pipeline's first stage: every event updates it before any listener sees the
// event, and the listeners get the process the event concerns from it.
import type { ExecEvent, ExitEvent, ForkEvent, ProcEvent, UidEvent } from '../kernel/decode.js';
import { commFromBytes, commFromProcFile } from './comm.js';
import { cgroupFromProcFile } from './proc-cgroup.js';
import { Procfs, sameStart, type RunningProcess } from './procfs.js';

/** The name counted when a process's name cannot be known (it exited before we asked). */
export const UNKNOWN_COMM = '__unknown__';

/** A live process as the listeners see it. */
export interface Process {
  readonly tgid: number;
  /** Its current command name. */
  readonly comm: string;
  /**
   * How many forks without an exec lead to this process: 0 after an exec (or when first
   * seen), its parent's depth + 1 after a fork. A fork bomb's copies grow it without end.
   */
  readonly depth: number;
  /** Process forks it made since it was forked or exec'd. */
  readonly forks: number;
  /** The process that forked it (0 when not known). */
  readonly parent: number;
  /** When it was forked (the kernel's monotonic clock, ns); undefined if it was already there when first seen. */
  readonly bornNs?: number;
  /** Its effective user id: read from /proc when first seen, its parent's after a fork, the kernel's after a change of user. */
  readonly euid?: number;
  /** Its effective user id before its last change of user (UID event); undefined before the first. */
  readonly previousEuid?: number;
  /** The ids of its live threads other than the main one; undefined when it has none. */
  readonly threads?: ReadonlySet<number>;
  /**
   * Its cgroup path, which names its workload (see proc-cgroup.ts); undefined when it could
   * not be read. A child has its parent's. An exec may follow a move to another cgroup
   * (runc and crun move a container's first process into its cgroup, then it execs), so
   * an exec takes the cgroup the reader read as the event arrived, and it is read from /proc
   * again when next needed (it may move again): at the process's next fork (the parent a
   * fork event returns is up to date) and when processes() lists it. Where the reader could
   * not read it, it is the cgroup from before the exec until then.
   */
  readonly cgroup: string | undefined;
}

// Every entry is made with every field, so that V8 gives them all one shape.
interface Entry {
  tgid: number;
  comm: string;
  depth: number;
  forks: number;
  parent: number;
  /** When it started (the fork event's time, or /proc's), to tell a reused pid; undefined if not known yet. */
  startedNs?: number;
  bornNs: number | undefined;
  euid: number | undefined;
  previousEuid: number | undefined;
  threads: Set<number> | undefined;
  cgroup: string | undefined;
  /** Exec'd since its cgroup was known: read it again before it is used. */
  cgroupStale?: boolean;
}

/** How many processes and threads the table holds. */
export interface TaskCounts {
  /** Live processes (thread-group leaders). */
  processes: number;
  /** Their live threads other than the main ones. */
  threads: number;
}

/** What reconcile() changed about one pid. */
export type Correction =
  | 'none'
  /** Gone (or a zombie): its exit was lost. */
  | 'removed'
  /** Running, but unknown: its fork was lost. */
  | 'added'
  /** Its pid now belongs to a process that started later: the old one's exit and the new one's fork were lost. */
  | 'replaced'
  /** Same process, another name: an exec (or rename) was lost, so its chain no longer holds. */
  | 'renamed';

export interface DeepProcesses {
  /** The deepest fork-without-exec chain alive. */
  maxDepth: number;
  /** Live processes at or below the threshold depth, by command name, then by cgroup path. */
  byComm: Map<string, Map<string | undefined, number>>;
}

export interface ProcessTableOptions {
  procfs?: Procfs;
  /**
   * Most processes kept (default: pid_max, at most MAX_PROCESSES). When full, the least
   * recently changed entry whose process is gone goes first (see evictOne).
   */
  maxEntries?: number;
}

// Live processes have pids below pid_max, so a table that size holds them all; the cap
// matters where pid_max is large (up to 4M) and lost exit events leave entries behind.
export const MAX_PROCESSES = 262_144;

/** Entries checked against /proc for each one evicted, before the oldest goes regardless. */
const EVICTION_CHECKS = 8;

export class ProcessTable {
  private readonly entries = new Map<number, Entry>();
  private readonly procfs: Procfs;
  readonly maxEntries: number;

  constructor(options: ProcessTableOptions = {}) {
    this.procfs = options.procfs ?? new Procfs();
    this.maxEntries = options.maxEntries ?? Math.min(MAX_PROCESSES, this.procfs.pidMax() ?? MAX_PROCESSES);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Learns every process alive now. */
  seed(): void {
    for (const pid of this.procfs.pids()) this.learn(pid);
  }

  get(tgid: number): Process | undefined {
    return this.entries.get(tgid);
  }

  /** Every process in the table, each with its cgroup up to date. */
  *processes(): IterableIterator<Process> {
    for (const entry of this.entries.values()) {
      if (entry.cgroupStale) this.readCgroup(entry);
      yield entry;
    }
  }

  /**
   * Takes in one event and returns the process it concerns, as it is after the event:
   * the parent of a fork (undefined when its name cannot be known), the process of
   * an exec, a rename, a change of ids, a trace, a core dump; for an exit, the process
   * that ended, which has left the table.
   */
  apply(event: ProcEvent): Process | undefined {
    switch (event.what) {
      case 'fork':
        return this.forked(event);
      case 'exec':
        return this.execed(event);
      case 'comm':
        // Only the main thread's name is the process's name (/proc/<pid>/comm).
        return event.pid === event.tgid ? this.named(event.tgid, commFromBytes(event.comm)) : this.entries.get(event.tgid);
      case 'exit':
        return this.exited(event);
      case 'uid':
        return this.userChanged(event);
      case 'gid':
      case 'sid':
      case 'ptrace':
      case 'coredump':
        return this.entries.get(event.tgid);
      default:
        return undefined;
    }
  }

  /** Every process id held. */
  tgids(): number[] {
    return [...this.entries.keys()];
  }

  /**
   * After events were lost, makes the table agree with /proc about `tgid`: `found` is the
   * process running there now, undefined if none. A process whose fork or exec may have
   * been lost cannot claim a chain: what is learned here starts at depth 0 (capDepths then
   * shortens the chains below it).
   */
  reconcile(tgid: number, found: RunningProcess | undefined): Correction {
    const entry = this.entries.get(tgid);
    if (!found) {
      if (!entry) return 'none';
      this.entries.delete(tgid);
      return 'removed';
    }
    if (!entry) {
      this.learnFound(tgid, found);
      return 'added';
    }
    if (entry.startedNs !== undefined && !sameStart(entry.startedNs, found.startedNs)) {
      this.learnFound(tgid, found);
      return 'replaced';
    }
    entry.startedNs = found.startedNs;
    if (entry.comm === found.comm) return 'none';
    entry.comm = found.comm;
    if (entry.depth === 0) return 'none'; // a rename with no chain to undo (a kernel worker's name changes with its work)
    entry.depth = 0;
    entry.forks = 0;
    return 'renamed';
  }

  /**
   * Shortens every chain that runs through a process in `restarted` (those reconcile()
   * set to depth 0): a process k forks below one of them is at most k deep. Whether it
   * was forked before or after what was lost cannot be known, so the shorter count holds.
   * Returns how many depths it lowered.
   */
  capDepths(restarted: ReadonlySet<number>): number {
    if (restarted.size === 0) return 0;
    let lowered = 0;
    for (const entry of this.entries.values()) {
      // The chain of a process d deep is its first d ancestors, by the parents recorded at
      // each fork; a gap in the table ends the walk.
      let ancestor = entry;
      for (let steps = 1; steps < entry.depth; steps++) {
        const parent = this.entries.get(ancestor.parent);
        if (!parent) break;
        if (restarted.has(parent.tgid)) {
          if (steps + parent.depth < entry.depth) {
            entry.depth = steps + parent.depth;
            lowered++;
          }
          break;
        }
        ancestor = parent;
      }
    }
    return lowered;
  }

  /** Processes and threads alive now, as far as the events tell: one pass over the table. */
  taskCounts(): TaskCounts {
    let threads = 0;
    for (const entry of this.entries.values()) threads += entry.threads?.size ?? 0;
    return { processes: this.entries.size, threads };
  }

  /** One pass over the table: the deepest chain, and who lives at `threshold` or deeper. */
  deepProcesses(threshold: number): DeepProcesses {
    let maxDepth = 0;
    const byComm = new Map<string, Map<string | undefined, number>>();
    for (const { comm, depth, cgroup } of this.entries.values()) {
      if (depth > maxDepth) maxDepth = depth;
      if (depth < threshold) continue;
      let byCgroup = byComm.get(comm);
      if (byCgroup === undefined) byComm.set(comm, (byCgroup = new Map<string | undefined, number>()));
      byCgroup.set(cgroup, (byCgroup.get(cgroup) ?? 0) + 1);
    }
    return { maxDepth, byComm };
  }

  /**
   * A new process starts with its parent's name and cgroup, one fork deeper: no system call
   * per fork. (A child that clone3's CLONE_INTO_CGROUP starts elsewhere, as a runtime may
   * start a process in a container, is caught at the exec that follows.) A thread's fork event
   * names the creator's parent, not the creator: it concerns the thread's own process.
   */
  private forked(event: ForkEvent): Process | undefined {
    if (event.childPid !== event.childTgid) return this.threadStarted(event.childTgid, event.childPid);
    const parent = this.entries.get(event.parentTgid) ?? this.learn(event.parentTgid);
    if (!parent) {
      this.entries.delete(event.childTgid); // a reused pid: nothing known of it applies
      return undefined;
    }
    parent.forks++;
    if (parent.cgroupStale) this.readCgroup(parent);
    this.set({
      tgid: event.childTgid,
      comm: parent.comm,
      depth: parent.depth + 1,
      forks: 0,
      parent: parent.tgid,
      startedNs: event.timestampNs,
      bornNs: event.timestampNs,
      euid: parent.euid,
      previousEuid: undefined,
      threads: undefined,
      cgroup: parent.cgroup,
    });
    return parent;
  }

  private threadStarted(tgid: number, tid: number): Entry | undefined {
    const entry = this.entries.get(tgid);
    if (entry) (entry.threads ??= new Set()).add(tid);
    return entry;
  }

  /**
   * An exec starts a new chain under the new name, read by the reader on arrival if it could,
   * and in the cgroup the reader found it in then (a runtime moves a container's first
   * process before the exec). The cgroup is read again when next needed, not now: this
   * thread is further behind the kernel than the reader, and most exec'd programs (a
   * compiler's passes, `true`) never fork and are gone before anyone asks.
   */
  private execed(event: ExecEvent): Process | undefined {
    const comm = event.procComm ? commFromProcFile(event.procComm) : this.procfs.comm(event.tgid);
    const entry = comm === undefined ? this.entries.get(event.tgid) : this.named(event.tgid, comm);
    if (!entry) return undefined;
    // Gone before its new name could be read: the old one is no longer right.
    if (comm === undefined) entry.comm = UNKNOWN_COMM;
    // The reader's read is right for the exec and what follows at once; it is still read
    // again when next needed, for a process moved after its exec (pam_systemd moves a
    // login's session into its scope).
    entry.cgroup = (event.procCgroup && cgroupFromProcFile(event.procCgroup)) ?? entry.cgroup;
    entry.cgroupStale = true;
    entry.depth = 0;
    entry.forks = 0;
    // An exec leaves one thread: the kernel ended the others (their exits came first).
    entry.threads = undefined;
    return entry;
  }

  private exited(event: ExitEvent): Process | undefined {
    const entry = this.entries.get(event.tgid);
    if (event.pid === event.tgid) this.entries.delete(event.tgid);
    else entry?.threads?.delete(event.pid);
    return entry;
  }

  /** Keeps the effective user it had, so that listeners can tell who it was before. */
  private userChanged(event: UidEvent): Entry | undefined {
    const entry = this.entries.get(event.tgid);
    if (entry) {
      entry.previousEuid = entry.euid;
      entry.euid = event.effective;
    }
    return entry;
  }

  /** Learns a process reconcile() found running: it starts a chain, as at seeding. */
  private learnFound(tgid: number, found: RunningProcess): void {
    this.entries.delete(tgid);
    const entry = this.learn(tgid) ?? this.named(tgid, found.comm);
    entry.parent = found.ppid;
    entry.startedNs = found.startedNs;
  }

  /** Reads the cgroup of a process that exec'd; one already gone keeps the cgroup it had. */
  private readCgroup(entry: Entry): void {
    entry.cgroup = this.procfs.cgroup(entry.tgid) ?? entry.cgroup;
    entry.cgroupStale = false;
  }

  /**
   * Learns a process (its name and cgroup) from /proc; undefined if it is gone, or if its
   * main thread has ended
   * (it would have left the table at its exit event).
   */
  private learn(tgid: number): Entry | undefined {
    const status = this.procfs.status(tgid);
    if (status?.exited) return undefined;
    const comm = this.procfs.comm(tgid);
    if (comm === undefined) return undefined;
    const entry = this.named(tgid, comm);
    entry.euid = status?.effectiveUid;
    const others = this.procfs.threadIds(tgid).filter((tid) => tid !== tgid);
    entry.threads = others.length > 0 ? new Set(others) : undefined;
    entry.cgroup = this.procfs.cgroup(tgid);
    return entry;
  }

  /** Gives `tgid` a fresh name, keeping what else is known of it. */
  private named(tgid: number, comm: string): Entry {
    const known = this.entries.get(tgid);
    if (known) {
      known.comm = comm;
      this.touch(known);
      return known;
    }
    return this.set({ tgid, comm, depth: 0, forks: 0, parent: 0, bornNs: undefined, euid: undefined, previousEuid: undefined, threads: undefined, cgroup: undefined });
  }

  private set(entry: Entry): Entry {
    this.entries.delete(entry.tgid);
    if (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(entry.tgid, entry);
    return entry;
  }

  /**
   * Makes room for one. A full table holds strays (processes whose exit was lost) unless
   * more processes run than it holds, and a stray must go before a long-lived daemon: the
   * least recently changed entries are checked against /proc, a stray goes, a running
   * process moves to the back. After EVICTION_CHECKS running ones, the oldest goes.
   */
  private evictOne(): void {
    for (let checked = 0; checked < EVICTION_CHECKS; checked++) {
      const oldest = this.entries.values().next().value;
      if (oldest === undefined) return;
      if (!this.stillRunning(oldest)) {
        this.entries.delete(oldest.tgid);
        return;
      }
      this.touch(oldest);
    }
    const oldest = this.entries.keys().next().value;
    if (oldest !== undefined) this.entries.delete(oldest);
  }

  private stillRunning(entry: Entry): boolean {
    const found = this.procfs.running(entry.tgid);
    return found !== undefined && (entry.startedNs === undefined || sameStart(entry.startedNs, found.startedNs));
  }

  /** Re-inserting puts it last in the Map's order, which eviction follows: least recently changed (or checked) first. */
  private touch(entry: Entry): void {
    this.entries.delete(entry.tgid);
    this.entries.set(entry.tgid, entry);
  }
}
