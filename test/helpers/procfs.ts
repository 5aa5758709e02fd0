// A stand-in for /proc: `names` is what /proc/<pid>/comm says now (change it to model an
// exec or a reused pid), `cgroups` the cgroup path /proc/<pid>/cgroup names (none for a
// pid not in it), and `reads` lists every pid whose name was read, in order, and
// `cgroupReads` every pid whose cgroup was.
import { Procfs } from '../../src/processes/procfs.js';

export class FakeProcfs extends Procfs {
  readonly names: Map<number, string>;
  readonly reads: number[] = [];
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

  override cgroup(pid: number): string | undefined {
    this.cgroupReads.push(pid);
    return this.names.has(pid) ? this.cgroups.get(pid) : undefined;
  }

  override pidMax(): number {
    return this.maxPid;
  }
}
