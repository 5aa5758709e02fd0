// A stand-in for /proc: `names` is what /proc/<pid>/comm says now (change it to model an
// exec or a reused pid), and `reads` lists every pid whose name was read, in order. A pid
// in `names` is running; `starts` and `parents` give its start time (default 0, the time
// the test events carry by default) and parent (default 1).
import { Procfs, type RunningProcess } from '../../src/processes/procfs.js';

export class FakeProcfs extends Procfs {
  readonly names: Map<number, string>;
  readonly reads: number[] = [];
  readonly starts = new Map<number, number>();
  readonly parents = new Map<number, number>();

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

  override pidMax(): number {
    return this.maxPid;
  }
}
