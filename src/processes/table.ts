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
}

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
      if (comm !== undefined) this.set(pid, { comm, stale: false, depth: 0 });
    }
  }

  /** A new process (not a thread): it starts with its parent's name. */
  forked(parentTgid: number, childTgid: number): void {
    const parent = this.entries.get(parentTgid);
    if (parent) this.set(childTgid, { comm: parent.comm, stale: parent.stale, depth: parent.depth + 1 });
    else this.entries.delete(childTgid); // unknown parent: learn the child's name when asked
  }

  /** An exec starts a new chain; `comm` is the new name when it could be read on arrival. */
  execed(tgid: number, comm?: string): void {
    if (comm !== undefined) {
      this.set(tgid, { comm, stale: false, depth: 0 });
      return;
    }
    const entry = this.entries.get(tgid);
    if (entry) {
      entry.stale = true;
      entry.depth = 0;
    }
  }

  renamed(tgid: number, comm: string): void {
    this.set(tgid, { comm, stale: false, depth: this.depth(tgid) });
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
    this.set(tgid, { comm, stale: false, depth: entry?.depth ?? 0 });
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
