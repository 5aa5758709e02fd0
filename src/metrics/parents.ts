// Who is forking: by command name since start, and the busiest processes right now.
import { Gauge, type Registry } from 'prom-client';
import type { CommCounts } from '../attribution/comm-counts.js';
import type { TopParents } from '../attribution/top-parents.js';
import { registerCommCounter } from './comm-counter.js';

export interface ParentMetricsOptions {
  top: number;
  windowSeconds: number;
}

export function registerParentMetrics(
  registry: Registry,
  parentComms: CommCounts,
  topParents: TopParents,
  options: ParentMetricsOptions,
): void {
  const registers = [registry];

  registerCommCounter(
    'forkwatch_parent_forks_total',
    'Process forks by the command name of the parent process; names past the cap count under the name __other__.',
    parentComms,
    registers,
  );

  new Gauge({
    name: 'forkwatch_top_parent_forks',
    help: `Process forks made in the trailing ${options.windowSeconds} seconds by each of the ${options.top} busiest parent processes.`,
    labelNames: ['pid', 'comm'] as const,
    registers,
    collect() {
      // Processes leave the top: their series must go, not linger at an old value.
      this.reset();
      for (const { pid, comm, forks } of topParents.top(options.top)) this.set({ pid: String(pid), comm }, forks);
    },
  });
}
