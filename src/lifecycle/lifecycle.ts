// Every process's life as the kernel reports it: what it ran (exec), how it ended (exit),
// whether it dumped core, became root, or attached a debugger, and how long it lived.
// Names are capped like the per-parent fork counts, so label values stay bounded.
import type { EventOf, Listener } from '../pipeline/listener.js';
import { secondOf } from '../kernel/clock.js';
import { CommCounts, OTHER_COMM } from '../processes/comm-counts.js';
import { UNKNOWN_COMM, type Process, type ProcessTable } from '../processes/table.js';
import { exitReason, isProcessExit, killingSignal, signalName, type ExitReason } from './exit-status.js';

export interface LifecycleOptions {
  /** Most distinct command names kept as label values, per counter. */
  maxComms: number;
  /** Takes the fork-to-exit time, in seconds, of each process born since start-up. */
  lifetime: (seconds: number) => void;
}

/**
 * Process exits by command name and reason: one set of capped names per reason, so a name
 * that loses its slot in one hands its count to that reason's `__other__`.
 */
export class ExitCounts {
  private readonly names: Record<ExitReason, CommCounts>;

  constructor(maxComms: number) {
    this.names = { success: new CommCounts(maxComms), failure: new CommCounts(maxComms), signal: new CommCounts(maxComms) };
  }

  add(comm: string, reason: ExitReason, second: number): void {
    this.names[reason].add(comm, second);
  }

  /** Counts by label and reason; `__other__` only where something counted there. */
  get byComm(): Map<string, Record<ExitReason, number>> {
    const byComm = new Map<string, Record<ExitReason, number>>();
    for (const reason of ['success', 'failure', 'signal'] as const) {
      for (const [comm, count] of this.names[reason].counts) {
        if (comm === OTHER_COMM && count === 0) continue;
        let reasons = byComm.get(comm);
        if (!reasons) {
          reasons = { success: 0, failure: 0, signal: 0 };
          byComm.set(comm, reasons);
        }
        reasons[reason] = count;
      }
    }
    return byComm;
  }
}

export class Lifecycle implements Listener {
  readonly execs: CommCounts;
  readonly exits: ExitCounts;
  /** Processes killed by a signal, by the signal's name. */
  readonly signals = new Map<string, number>();
  readonly coredumps: CommCounts;
  readonly setuidRoot: CommCounts;
  /** Attaches by the tracer's name. */
  readonly ptraceAttaches: CommCounts;
  private readonly lifetime: (seconds: number) => void;

  constructor(
    private readonly table: ProcessTable,
    options: LifecycleOptions,
  ) {
    this.execs = new CommCounts(options.maxComms);
    this.exits = new ExitCounts(options.maxComms);
    this.coredumps = new CommCounts(options.maxComms);
    this.setuidRoot = new CommCounts(options.maxComms);
    this.ptraceAttaches = new CommCounts(options.maxComms);
    this.lifetime = options.lifetime;
  }

  /** Counted under the name after the exec, which the table has just read. */
  exec(event: EventOf<'exec'>, process: Process | undefined): void {
    this.execs.add(process?.comm ?? UNKNOWN_COMM, secondOf(event.timestampNs));
  }

  exit(event: EventOf<'exit'>, process: Process | undefined): void {
    if (!isProcessExit(event)) return;
    const reason = exitReason(event.exitCode);
    this.exits.add(process?.comm ?? UNKNOWN_COMM, reason, secondOf(event.timestampNs));
    if (reason === 'signal') {
      const name = signalName(killingSignal(event.exitCode));
      this.signals.set(name, (this.signals.get(name) ?? 0) + 1);
    }
    // Processes that were there at start-up have no known birth: they would skew the long end.
    if (process?.bornNs !== undefined) this.lifetime((event.timestampNs - process.bornNs) / 1e9);
  }

  coredump(event: EventOf<'coredump'>, process: Process | undefined): void {
    this.coredumps.add(process?.comm ?? UNKNOWN_COMM, secondOf(event.timestampNs));
  }

  /** Root from another user: a process whose user was not known before is not counted. */
  uid(event: EventOf<'uid'>, process: Process | undefined): void {
    if (event.effective !== 0 || process?.previousEuid === undefined || process.previousEuid === 0) return;
    this.setuidRoot.add(process.comm, secondOf(event.timestampNs));
  }

  /** The kernel reports a detach as a ptrace event with tracer 0. */
  ptrace(event: EventOf<'ptrace'>): void {
    if (event.tracerTgid === 0) return;
    this.ptraceAttaches.add(this.table.get(event.tracerTgid)?.comm ?? UNKNOWN_COMM, secondOf(event.timestampNs));
  }
}
