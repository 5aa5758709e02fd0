// The live process table: each process's current command name, kept from the events.
import { listProcessIds, readProcComm } from './comm.js';

/** The name counted when a process's name cannot be known (it exited before we asked). */
export const UNKNOWN_COMM = '__unknown__';

interface Entry {
  comm: string;
  /** It exec'd since `comm` was learnt: /proc has the new name. */
  stale: boolean;
  /**
   * How many forks without an exec lead to this process: 0 after an exec (or when first
   * seen), its parent's depth + 1 after a fork. A fork bomb's copies grow it without end.
   */
  depth: number;
  /** Process forks it made since it was forked or exec'd. */
  forks: number;
  /** The process that forked it (0 when not known). */
  parent: number;
}

/** A process that just forked, as the fork-bomb detector needs to see it. */
export interface Forker {
  readonly depth: number;
  /** Its process forks since it was forked or exec'd, this one included. */
  readonly forks: number;
  /** The process that forked it (0 when not known). */
  readonly parent: number;
}

/** A parent not in the table: nothing known of its chain. */
const UNKNOWN_FORKER: Forker = Object.freeze({ depth: 0, forks: 1, parent: 0 });

export interface DeepProcesses {
  /** The deepest fork-without-exec chain alive. */
  maxDepth: number;
  /** Live processes at or below the threshold depth, by command name. */
  byComm: Map<string, number>;
}

export interface ProcessTableOptions {
  /** Most processes kept; the oldest entry goes first when full (lost exits leave debris). */
  maxEntries: number;
  readComm?: (pid: number) => string | undefined;
}

export class ProcessTable {
  private readonly entries = new Map<number, Entry>();
  private readonly maxEntries: number;
  private readonly readComm: (pid: number) => string | undefined;

  constructor(options: ProcessTableOptions) {
    this.maxEntries = options.maxEntries;
    this.readComm = options.readComm ?? readProcComm;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Learns every process alive now. */
  seed(pids: number[] = listProcessIds()): void {
    for (const pid of pids) {
      const comm = this.readComm(pid);
      if (comm !== undefined) this.named(pid, comm);
    }
  }

  /**
   * A new process (not a thread): it starts with its parent's name, one fork deeper.
   * Returns the parent as it is after this fork (its entry: read it before the next event).
   */
  forked(parentTgid: number, childTgid: number): Forker {
    const parent = this.entries.get(parentTgid);
    if (!parent) {
      this.entries.delete(childTgid); // unknown parent: learn the child's name when asked
      return UNKNOWN_FORKER;
    }
    parent.forks++;
    this.set(childTgid, { comm: parent.comm, stale: parent.stale, depth: parent.depth + 1, forks: 0, parent: parentTgid });
    return parent;
  }

  /** An exec starts a new chain; `comm` is the new name when it could be read on arrival. */
  execed(tgid: number, comm?: string): void {
    const entry = this.entries.get(tgid);
    if (entry) {
      entry.stale = true;
      entry.depth = 0;
      entry.forks = 0;
    }
    if (comm !== undefined) this.named(tgid, comm);
  }

  renamed(tgid: number, comm: string): void {
    this.named(tgid, comm);
  }

  exited(tgid: number): void {
    this.entries.delete(tgid);
  }

  /** The process's current name, read from /proc only when not known or stale. */
  comm(tgid: number): string {
    const entry = this.entries.get(tgid);
    if (entry && !entry.stale) return entry.comm;
    const comm = this.readComm(tgid);
    if (comm === undefined) return UNKNOWN_COMM;
    this.named(tgid, comm);
    return comm;
  }

  /** The process's fork-without-exec chain depth; 0 when not known. */
  depth(tgid: number): number {
    return this.entries.get(tgid)?.depth ?? 0;
  }

  /** One pass over the table: the deepest chain, and who lives at `threshold` or deeper. */
  deepProcesses(threshold: number): DeepProcesses {
    let maxDepth = 0;
    const byComm = new Map<string, number>();
    for (const { comm, depth } of this.entries.values()) {
      if (depth > maxDepth) maxDepth = depth;
      if (depth >= threshold) byComm.set(comm, (byComm.get(comm) ?? 0) + 1);
    }
    return { maxDepth, byComm };
  }

  /** Gives `tgid` a fresh name, keeping what else is known of it. */
  private named(tgid: number, comm: string): void {
    const known = this.entries.get(tgid);
    this.set(tgid, { depth: 0, forks: 0, parent: 0, ...known, comm, stale: false });
  }

  private set(tgid: number, entry: Entry): void {
    // Re-inserting keeps the Map's order the order of last change, oldest first.
    this.entries.delete(tgid);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(tgid, entry);
  }
}
