// What forkwatch reads from /proc. The root is a parameter so that tests, and the replay
// of captured events, can stand a directory of their own in for it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commFromProcFile } from './comm.js';

export interface ProcessStatus {
  /** The second number of the Uid: line. */
  effectiveUid: number | undefined;
  /**
   * Its main thread has ended (state Z or X): a zombie waiting for its parent, or threads
   * living on after the main one. The kernel sent its exit event already.
   */
  exited: boolean;
}

export class Procfs {
  constructor(readonly root = '/proc') {}

  /** Every process id listed now. */
  pids(): number[] {
    return numberedEntries(this.root);
  }

  /** The current name of process `pid`, or undefined if it is gone. */
  comm(pid: number): string | undefined {
    try {
      return commFromProcFile(readFileSync(join(this.root, String(pid), 'comm')));
    } catch {
      return undefined;
    }
  }

  /** What /proc/<pid>/status says of process `pid`, or undefined if it is gone. */
  status(pid: number): ProcessStatus | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.root, String(pid), 'status'), 'utf8');
    } catch {
      return undefined;
    }
    const state = /^State:\s+(\S)/m.exec(text)?.[1];
    const euid = /^Uid:\s+\d+\s+(\d+)/m.exec(text)?.[1];
    return { effectiveUid: euid === undefined ? undefined : Number(euid), exited: state === 'Z' || state === 'X' };
  }

  /** The ids of the threads of process `pid`, its own included; empty if it is gone. */
  threadIds(pid: number): number[] {
    try {
      return numberedEntries(join(this.root, String(pid), 'task'));
    } catch {
      return [];
    }
  }

  /** The kernel's pid_max, or undefined where it cannot be read. */
  pidMax(): number | undefined {
    try {
      const value = Number(readFileSync(join(this.root, 'sys', 'kernel', 'pid_max'), 'utf8').trim());
      return Number.isInteger(value) && value > 0 ? value : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The entries of a /proc directory named by a number (pids, thread ids). */
function numberedEntries(dir: string): number[] {
  return readdirSync(dir)
    .filter((name) => /^[0-9]+$/.test(name))
    .map(Number);
}
