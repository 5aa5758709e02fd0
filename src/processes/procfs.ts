// What forkwatch reads from /proc. The root is a parameter so that tests, and the replay
// of captured events, can stand a directory of their own in for it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commFromProcFile, commFromProcName } from './comm.js';
import { readProcCgroup } from './proc-cgroup.js';

/** A process running now, as /proc/<pid>/stat shows it. */
export interface RunningProcess {
  comm: string;
  /** The process that forked it, or the one that adopted it since (0 for the kernel's own). */
  ppid: number;
  /** When it started, on the clock of the kernel's event timestamps (CLOCK_MONOTONIC, ns). */
  startedNs: number;
}

// /proc/<pid>/stat counts start times in USER_HZ ticks since boot: 100 a second on every
// architecture Node.js runs on (only alpha differs), and not something a process can query
// from Node.js. The count comes from CLOCK_BOOTTIME, which runs ahead of CLOCK_MONOTONIC
// (the event timestamps) by the time spent suspended; /proc/uptime tells that offset.
const NS_PER_TICK = 10_000_000;
const OFFSET_REFRESH_NS = 1_000_000_000;

/**
 * Start times that differ by at most this much are one process's: a start time is whole
 * ticks, /proc/uptime hundredths of a second, so the same start seen from the fork event
 * and from /proc differs by up to about 20 ms (10 ms seen). A pid is reused only after
 * the kernel has handed out every other free pid, far later than this.
 */
export const SAME_START_NS = 50_000_000;

export function sameStart(aNs: number, bNs: number): boolean {
  return Math.abs(aNs - bNs) <= SAME_START_NS;
}

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
  private bootOffset = { ns: 0, readAtNs: -Infinity };

  constructor(
    readonly root = '/proc',
    /** CLOCK_MONOTONIC now, in ns. */
    private readonly monotonicNs: () => number = () => Number(process.hrtime.bigint()),
  ) {}

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

  /**
   * The process at `pid` now; undefined if there is none, or only a zombie (it has exited:
   * the kernel sent its EXIT event, and only its parent's wait is missing).
   */
  running(pid: number): RunningProcess | undefined {
    let stat: Buffer;
    try {
      stat = readFileSync(join(this.root, String(pid), 'stat'));
    } catch {
      return undefined;
    }
    const parsed = parseStat(stat);
    if (!parsed || parsed.state === 'Z' || parsed.state === 'X') return undefined;
    return { comm: parsed.comm, ppid: parsed.ppid, startedNs: parsed.startTicks * NS_PER_TICK - this.bootOffsetNs() };
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

  /** CLOCK_BOOTTIME minus CLOCK_MONOTONIC, read again at most once a second. */
  private bootOffsetNs(): number {
    const now = this.monotonicNs();
    if (now - this.bootOffset.readAtNs < OFFSET_REFRESH_NS) return this.bootOffset.ns;
    try {
      const uptimeSeconds = Number(readFileSync(join(this.root, 'uptime'), 'utf8').split(' ')[0]);
      // Never negative: uptime is truncated to hundredths, the offset only grows by suspends.
      if (Number.isFinite(uptimeSeconds)) this.bootOffset = { ns: Math.max(0, Math.round(uptimeSeconds * 1e9) - now), readAtNs: now };
    } catch {
      // Keep the last offset (0 until one is read): right wherever the machine never slept.
    }
    return this.bootOffset.ns;
  }
}

/** The fields of /proc/<pid>/stat that forkwatch uses; undefined if the text is not one. */
export function parseStat(bytes: Uint8Array): { comm: string; state: string; ppid: number; startTicks: number } | undefined {
  // "pid (comm) state ppid ...": the name may hold spaces, parentheses and any byte but
  // NUL, so it ends at the last ')'. Fields are counted from 1 as in proc(5).
  const open = bytes.indexOf(0x28); // (
  const close = bytes.lastIndexOf(0x29); // )
  if (open < 0 || close < open) return undefined;
  const fields = Buffer.from(bytes.subarray(close + 2)).toString('latin1').split(' ');
  const state = fields[0]; // field 3
  const ppid = Number(fields[4 - 3]);
  const startTicks = Number(fields[22 - 3]);
  if (state === undefined || !Number.isInteger(ppid) || !Number.isInteger(startTicks)) return undefined;
  return { comm: commFromProcName(bytes.subarray(open + 1, close)), state, ppid, startTicks };
}

/** The entries of a /proc directory named by a number (pids, thread ids). */
function numberedEntries(dir: string): number[] {
  return readdirSync(dir)
    .filter((name) => /^[0-9]+$/.test(name))
    .map(Number);
}
