// The ground truth for forkwatch's process table: the tasks /proc lists. Reading all of
// /proc takes a while and other processes fork and exit meanwhile, so the table is
// compared with two readings: whatever was alive at both must be in it, and whatever it
// holds must have been alive at the first or been born since.
import { readdirSync, readFileSync } from 'node:fs';

export interface LiveTasks {
  /**
   * Processes whose main thread runs, with their start time (clock ticks after boot, which
   * tells a process from a later one with the same pid). Zombies are left out: forkwatch
   * drops a process at its exit event, before the parent reaps it.
   */
  processes: Map<number, number>;
  /** Their threads other than the main ones. */
  threads: Set<number>;
}

function numbered(dir: string): number[] {
  try {
    return readdirSync(dir)
      .filter((name) => /^[0-9]+$/.test(name))
      .map(Number);
  } catch {
    return []; // gone meanwhile
  }
}

/** State and start time from /proc/<pid>/stat (the fields after the name, which may hold anything). */
function stat(pid: number): { state: string; start: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: Number(fields[19]) }; // fields 3 and 22 of proc(5)
  } catch {
    return undefined;
  }
}

export function liveTasks(): LiveTasks {
  const processes = new Map<number, number>();
  const threads = new Set<number>();
  for (const pid of numbered('/proc')) {
    const read = stat(pid);
    if (read === undefined || read.state === 'Z' || read.state === 'X') continue;
    processes.set(pid, read.start);
    for (const tid of numbered(`/proc/${pid}/task`)) if (tid !== pid) threads.add(tid);
  }
  return { processes, threads };
}

/** The ids of the threads of `pid` other than its main one, as /proc lists them now. */
export function threadsOf(pid: number): Set<number> {
  return new Set(numbered(`/proc/${pid}/task`).filter((tid) => tid !== pid));
}

/** The same process (same pid, same start) alive at both readings. */
export function aliveThroughout(before: LiveTasks, after: LiveTasks): number[] {
  return [...before.processes].filter(([pid, start]) => after.processes.get(pid) === start).map(([pid]) => pid);
}

export function threadsThroughout(before: LiveTasks, after: LiveTasks): number[] {
  return [...before.threads].filter((tid) => after.threads.has(tid));
}
