// A stand-in for /proc: `names` is what /proc/<pid>/comm says now (change it to model an
// exec or a reused pid), and `reads` lists every pid whose name was read, in order. A pid
// in `names` is running; `starts` and `parents` give its start time (default 0, the time
// the test events carry by default) and parent (default 1). `statuses` and `threads` stand
// in for /proc/<pid>/status and /proc/<pid>/task: a process without a status has an
// unknown user, one without threads only its main thread. `cgroups` is the cgroup path
// /proc/<pid>/cgroup names (none for a pid not in it), and `cgroupReads` lists every pid
// whose cgroup was read.
import { Procfs, type ProcessStatus, type RunningProcess } from '../../src/processes/procfs.js';

export class FakeProcfs extends Procfs {
  readonly names: Map<number, string>;
  readonly reads: number[] = [];
  readonly starts = new Map<number, number>();
  readonly parents = new Map<number, number>();
  readonly statuses = new Map<number, ProcessStatus>();
  /** Thread ids other than the process's own. */
  readonly threads = new Map<number, number[]>();
  readonly cgroups = new Map<number, string>();
  readonly cgroupReads: number[] = [];

  constructor(
    initial: Record<number, string> = {},
    private readonly maxPid = 32768,
  ) {
    super('/nonexistent');
    this.names = new Map(Object.entries(initial).map(([pid, comm]) => [Number(pid), comm]));
  }

  override pids(): number[] {
    return [...this.names.keys()];
  }

  override comm(pid: number): string | undefined {
    this.reads.push(pid);
    return this.names.get(pid);
  }

  override running(pid: number): RunningProcess | undefined {
    const comm = this.names.get(pid);
    if (comm === undefined) return undefined;
    return { comm, ppid: this.parents.get(pid) ?? 1, startedNs: this.starts.get(pid) ?? 0 };
  }

  override status(pid: number): ProcessStatus | undefined {
    return this.statuses.get(pid);
  }

  override threadIds(pid: number): number[] {
    return this.names.has(pid) ? [pid, ...(this.threads.get(pid) ?? [])] : [];
  }

  override cgroup(pid: number): string | undefined {
    this.cgroupReads.push(pid);
    return this.names.has(pid) ? this.cgroups.get(pid) : undefined;
  }

  override pidMax(): number | undefined {
    return this.maxPid;
  }
}
