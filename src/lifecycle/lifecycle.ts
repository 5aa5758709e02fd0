// Every process's life as the kernel reports it: what it ran (exec), how it ended (exit),
// whether it dumped core, became root, or attached a debugger, and how long it lived.
// Names are capped like the per-parent fork counts, so label values stay bounded.
import type { EventOf, Listener } from '../pipeline/listener.js';
import { CommCounts } from '../processes/comm-counts.js';
import { UNKNOWN_COMM, type Process, type ProcessTable } from '../processes/table.js';
import { exitReason, isProcessExit, killingSignal, signalName, type ExitReason } from './exit-status.js';

export interface LifecycleOptions {
  /** Most distinct command names kept as label values, per counter. */
  maxComms: number;
  /** Takes the fork-to-exit time, in seconds, of each process born since start-up. */
  lifetime: (seconds: number) => void;
}

/** Process exits by command name (capped) and reason. */
export class ExitCounts {
  private readonly names: CommCounts;
  readonly byComm = new Map<string, Record<ExitReason, number>>();

  constructor(maxComms: number) {
    this.names = new CommCounts(maxComms);
  }

  add(comm: string, reason: ExitReason): void {
    const label = this.names.add(comm);
    let reasons = this.byComm.get(label);
    if (!reasons) {
      reasons = { success: 0, failure: 0, signal: 0 };
      this.byComm.set(label, reasons);
    }
    reasons[reason]++;
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
  exec(_event: EventOf<'exec'>, process: Process | undefined): void {
    this.execs.add(process?.comm ?? UNKNOWN_COMM);
  }

  exit(event: EventOf<'exit'>, process: Process | undefined): void {
    if (!isProcessExit(event)) return;
    const reason = exitReason(event.exitCode);
    this.exits.add(process?.comm ?? UNKNOWN_COMM, reason);
    if (reason === 'signal') {
      const name = signalName(killingSignal(event.exitCode));
      this.signals.set(name, (this.signals.get(name) ?? 0) + 1);
    }
    // Processes that were there at start-up have no known birth: they would skew the long end.
    if (process?.bornNs !== undefined) this.lifetime((event.timestampNs - process.bornNs) / 1e9);
  }

  coredump(_event: EventOf<'coredump'>, process: Process | undefined): void {
    this.coredumps.add(process?.comm ?? UNKNOWN_COMM);
  }

  /** Root from another user: a process whose user was not known before is not counted. */
  uid(event: EventOf<'uid'>, process: Process | undefined): void {
    if (event.effective !== 0 || process?.previousEuid === undefined || process.previousEuid === 0) return;
    this.setuidRoot.add(process.comm);
  }

  /** The kernel reports a detach as a ptrace event with tracer 0. */
  ptrace(event: EventOf<'ptrace'>): void {
    if (event.tracerTgid === 0) return;
    this.ptraceAttaches.add(this.table.get(event.tracerTgid)?.comm ?? UNKNOWN_COMM);
  }
}
