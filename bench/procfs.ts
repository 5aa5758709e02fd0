// What the benchmark reads about forkwatch from /proc: CPU time per process and per
// thread, peak memory, and which thread is the native reader.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Procfs } from '../src/processes/procfs.js';
import { sleep } from '../test/helpers/forkwatch-process.js';

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(ticks) || ticks <= 0) throw new Error(`getconf CLK_TCK gave ${JSON.stringify(ticks)}`);
  return ticks;
}

/** utime + stime, in clock ticks, from a stat file (a process's or a thread's). */
function cpuTicksOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  // The name in parentheses may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the first one after the name is field 3.
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** CPU ticks of the whole process, threads that already ended included. */
export function processCpuTicks(pid: number): number {
  return cpuTicksOf(`/proc/${pid}/stat`);
}

/** CPU ticks of each live thread, by thread id. */
export function threadCpuTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const name of readdirSync(`/proc/${pid}/task`)) {
    try {
      ticks.set(Number(name), cpuTicksOf(`/proc/${pid}/task/${name}/stat`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ticks;
}

/** A thread's name (/proc/<tid>/comm answers for a thread id too). */
export function threadName(tid: number): string {
  return new Procfs().comm(tid) ?? '?';
}

/** VmHWM: the most resident memory the process ever had, in bytes. */
export function peakRssBytes(pid: number): number {
  return statusBytes(pid, 'VmHWM');
}

/** VmRSS: the resident memory of the process now, in bytes. */
export function rssBytes(pid: number): number {
  return statusBytes(pid, 'VmRSS');
}

function statusBytes(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`/proc/${pid}/status has no ${field} line`);
  return Number(match[1]) * 1024;
}

// poll() as the reader thread calls it (glibc may issue ppoll instead).
const pollSyscalls: Record<string, number[]> = { x64: [7, 271], arm64: [73], ia32: [168, 309] };

function blockedInPoll(pid: number, tid: number): boolean {
  const read = (file: string): string => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/${file}`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const wchan = read('wchan');
  if (/poll/.test(wchan) && !/epoll/.test(wchan)) return true;
  const syscall = Number(read('syscall').split(' ')[0]);
  return (pollSyscalls[process.arch] ?? []).includes(syscall);
}

/**
 * The native reader thread, found while forkwatch is idle. Every thread of node is named
 * "node", so names do not tell: the reader is the one thread, other than the main thread
 * (tid = pid, waiting in epoll like libuv's other loops), blocked in poll() on its socket
 * and wake-up eventfd; V8's and libuv's workers wait on futexes.
 */
export async function findReaderThread(pid: number, attempts = 20): Promise<number | undefined> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const candidates = [...threadCpuTicks(pid).keys()].filter((tid) => tid !== pid && blockedInPoll(pid, tid));
    if (candidates.length === 1) return candidates[0];
    await sleep(50);
  }
  return undefined;
}

