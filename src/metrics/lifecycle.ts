// Every process's life: execs, exits and how they ended, core dumps, changes to root, ptrace
// attaches, lifetimes; and the node's PID headroom: live processes and threads against pid_max.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { EXIT_REASONS, SIGNAL_NAMES } from '../lifecycle/exit-status.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import { OTHER_COMM } from '../processes/comm-counts.js';
import { registerCommCounter } from './comm-counter.js';
import type { MetricGroup } from './group.js';

/** 1 ms to an hour: floods of processes living under 10 ms, and jobs that run for minutes. */
export const LIFETIME_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600];

const CAPPED = 'names past the cap count under the name __other__';

export const lifecycleMetrics: MetricGroup = ({ table, procfs, parents }) => {
  // A histogram's buckets fill only through observe(), so the listener observes into one
  // object that both registries share: prom-client renames counters for OpenMetrics in
  // place (see registries.ts), but leaves histograms alone.
  const lifetimes = new Histogram({
    name: 'forkwatch_process_lifetime_seconds',
    help: 'Fork-to-exit time of processes (not threads) born since forkwatch started.',
    buckets: LIFETIME_BUCKETS,
    registers: [],
  });
  const lifecycle = new Lifecycle(table, { maxComms: parents.maxComms, lifetime: (seconds) => lifetimes.observe(seconds) });

  return {
    listener: lifecycle,
    register(registry: Registry) {
      const registers = [registry];

      registerCommCounter(registry, 'forkwatch_execs_total', `Programs started (exec), by the command name after the exec; ${CAPPED}.`, lifecycle.execs);

      new Counter({
        name: 'forkwatch_exits_total',
        help: `Processes (not threads) that ended, by command name and reason: success (exit status 0), failure (another status) or signal (killed by a signal); ${CAPPED}.`,
        labelNames: ['comm', 'reason'] as const,
        registers,
        collect() {
          this.reset();
          for (const reason of EXIT_REASONS) this.inc({ comm: OTHER_COMM, reason }, 0);
          for (const [comm, reasons] of lifecycle.exits.byComm) {
            for (const reason of EXIT_REASONS) this.inc({ comm, reason }, reasons[reason]);
          }
        },
      });

      new Counter({
        name: 'forkwatch_exit_signals_total',
        help: 'Processes (not threads) killed by a signal, by the name of the signal.',
        labelNames: ['signal'] as const,
        registers,
        collect() {
          this.reset();
          for (const signal of SIGNAL_NAMES) this.inc({ signal }, 0);
          for (const [signal, count] of lifecycle.signals) this.inc({ signal }, count);
        },
      });

      registerCommCounter(
        registry,
        'forkwatch_coredumps_total',
        `Core dumps started (a process killed by a signal whose default is to dump core), by command name; ${CAPPED}. Counted whether or not a core file is written: RLIMIT_CORE, kernel.core_pattern and the process's dumpability decide that.`,
        lifecycle.coredumps,
      );

      registerCommCounter(
        registry,
        'forkwatch_setuid_root_total',
        `Processes whose effective user changed to root (uid 0) from another user, by command name; ${CAPPED}.`,
        lifecycle.setuidRoot,
      );

      registerCommCounter(registry, 'forkwatch_ptrace_attaches_total', `ptrace attaches, by the command name of the tracer; ${CAPPED}.`, lifecycle.ptraceAttaches);

      registry.registerMetric(lifetimes);

      new Gauge({
        name: 'forkwatch_processes',
        help: "Live processes (thread-group leaders) in forkwatch's process table.",
        registers,
        collect() {
          this.set(table.taskCounts().processes);
        },
      });

      new Gauge({
        name: 'forkwatch_threads',
        help: "Live threads that are not group leaders, in forkwatch's process table.",
        registers,
        collect() {
          this.set(table.taskCounts().threads);
        },
      });

      new Gauge({
        name: 'forkwatch_pid_max',
        help: "The kernel's pid_max: processes and threads together cannot exceed it. No sample where it cannot be read.",
        registers,
        collect() {
          const pidMax = procfs.pidMax();
          if (pidMax === undefined) this.remove();
          else this.set(pidMax);
        },
      });
    },
  };
};
