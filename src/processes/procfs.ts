// What forkwatch reads from /proc. The root is a parameter so that tests, and the replay
// of captured events, can stand a directory of their own in for it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commFromProcFile } from './comm.js';
import { readProcCgroup } from './proc-cgroup.js';

export class Procfs {
  constructor(readonly root = '/proc') {}

  /** Every process id listed now. */
  pids(): number[] {
    return readdirSync(this.root)
      .filter((name) => /^[0-9]+$/.test(name))
      .map(Number);
  }

  /** The current name of process `pid`, or undefined if it is gone. */
  comm(pid: number): string | undefined {
    try {
      return commFromProcFile(readFileSync(join(this.root, String(pid), 'comm')));
    } catch {
      return undefined;
    }
  }

  /** The cgroup path that names process `pid`'s workload (see proc-cgroup.ts), or undefined if it is gone. */
  cgroup(pid: number): string | undefined {
    return readProcCgroup(pid, this.root);
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
