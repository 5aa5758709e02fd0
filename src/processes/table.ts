// The live process table: what forkwatch knows of each process, kept from the events.
// It is the pipeline's first stage: every event updates it before any listener sees the
// event, and the listeners get the process the event concerns from it.
import type { ExecEvent, ExitEvent, ForkEvent, ProcEvent } from '../kernel/decode.js';
import { commFromBytes, commFromProcFile } from './comm.js';
import { Procfs } from './procfs.js';

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
  /**
   * Its cgroup path, which names its workload (see proc-cgroup.ts); undefined when it could
   * not be read. A child has its parent's. An exec may follow a move to another cgroup
   * (runc and crun move a container's first process into its cgroup, then it execs), so
   * after an exec it is read from /proc again when next needed: at the process's next fork
   * (the parent a fork event returns is up to date) and when processes() lists it. Until
   * then it is the cgroup from before the exec.
   */
  readonly cgroup: string | undefined;
}

interface Entry {
  tgid: number;
  comm: string;
  depth: number;
  forks: number;
  parent: number;
  cgroup: string | undefined;
  /** Exec'd since its cgroup was known: read it again before it is used. */
  cgroupStale?: boolean;
}

export interface DeepProcesses {
  /** The deepest fork-without-exec chain alive. */
  maxDepth: number;
  /** Live processes at or below the threshold depth, by command name, then by cgroup path. */
  byComm: Map<string, Map<string | undefined, number>>;
}

export interface ProcessTableOptions {
  procfs?: Procfs;
  /** Most processes kept (default: pid_max, at most MAX_PROCESSES); the least recently changed goes first. */
  maxEntries?: number;
}

// Live processes have pids below pid_max, so a table that size holds them all; the cap
// matters where pid_max is large (up to 4M) and lost exit events leave entries behind.
export const MAX_PROCESSES = 262_144;

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
      case 'gid':
      case 'sid':
      case 'ptrace':
      case 'coredump':
        return this.entries.get(event.tgid);
      default:
        return undefined;
    }
  }

  /** One pass over the table: the deepest chain, and who lives at `threshold` or deeper. */
  deepProcesses(threshold: number): DeepProcesses {
    let maxDepth = 0;
    const byComm = new Map<string, Map<string | undefined, number>>();
    for (const { comm, depth, cgroup } of this.entries.values()) {
      if (depth > maxDepth) maxDepth = depth;
      if (depth < threshold) continue;
      let byCgroup = byComm.get(comm);
      if (byCgroup === undefined) byComm.set(comm, (byCgroup = new Map()));
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
    if (event.childPid !== event.childTgid) return this.entries.get(event.childTgid);
    const parent = this.entries.get(event.parentTgid) ?? this.learn(event.parentTgid);
    if (!parent) {
      this.entries.delete(event.childTgid); // a reused pid: nothing known of it applies
      return undefined;
    }
    parent.forks++;
    if (parent.cgroupStale) this.readCgroup(parent);
    this.set({ tgid: event.childTgid, comm: parent.comm, depth: parent.depth + 1, forks: 0, parent: parent.tgid, cgroup: parent.cgroup });
    return parent;
  }

  /**
   * An exec starts a new chain under the new name, read by the reader on arrival if it could.
   * Its cgroup is read again when next needed, not now: most exec'd programs (a compiler's
   * passes, `true`) never fork and are gone before anyone asks, and a read per exec would
   * cost a busy build machine a system call for each.
   */
  private execed(event: ExecEvent): Process | undefined {
    const comm = event.procComm ? commFromProcFile(event.procComm) : this.procfs.comm(event.tgid);
    const entry = comm === undefined ? this.entries.get(event.tgid) : this.named(event.tgid, comm);
    if (!entry) return undefined;
    // Gone before its new name could be read: the old one is no longer right.
    if (comm === undefined) entry.comm = UNKNOWN_COMM;
    entry.cgroupStale = true;
    entry.depth = 0;
    entry.forks = 0;
    return entry;
  }

  private exited(event: ExitEvent): Process | undefined {
    const entry = this.entries.get(event.tgid);
    if (event.pid === event.tgid) this.entries.delete(event.tgid);
    return entry;
  }

  /** Reads the cgroup of a process that exec'd; one already gone keeps the cgroup it had. */
  private readCgroup(entry: Entry): void {
    entry.cgroup = this.procfs.cgroup(entry.tgid) ?? entry.cgroup;
    entry.cgroupStale = false;
  }

  /** Learns a process (its name and cgroup) from /proc; undefined if it is gone. */
  private learn(tgid: number): Entry | undefined {
    const comm = this.procfs.comm(tgid);
    if (comm === undefined) return undefined;
    const entry = this.named(tgid, comm);
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
    return this.set({ tgid, comm, depth: 0, forks: 0, parent: 0, cgroup: undefined });
  }

  private set(entry: Entry): Entry {
    this.entries.delete(entry.tgid);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(entry.tgid, entry);
    return entry;
  }

  /** Re-inserting keeps the Map's order the order of last change, oldest first. */
  private touch(entry: Entry): void {
    this.entries.delete(entry.tgid);
    this.entries.set(entry.tgid, entry);
  }
}
