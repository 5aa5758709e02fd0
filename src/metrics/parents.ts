// Who is forking: by command name since start, and the busiest processes right now.
import { Gauge, type Registry } from 'prom-client';
import { Parents } from '../attribution/parents.js';
import { WORKLOAD_LABEL_NAMES } from '../workloads/labels.js';
import { identifyCgroup } from '../workloads/service.js';
import { registerCommCounter } from './comm-counter.js';
import type { MetricGroup } from './group.js';

export const parentMetrics: MetricGroup = ({ parents: settings, workloads, now }) => {
  const parents = new Parents({ maxComms: settings.maxComms, windowSeconds: settings.windowSeconds, now });
  return {
    listener: parents,
    register(registry: Registry) {
      registerCommCounter(
        registry,
        'forkwatch_parent_forks_total',
        'Process forks by the command name of the parent process; names past the cap count under the name __other__.',
        parents.byComm,
      );

      new Gauge({
        name: 'forkwatch_top_parent_forks',
        help: `Process forks made in the trailing ${settings.windowSeconds} seconds by each of the ${settings.top} busiest parent processes, with the workload of the parent's cgroup when it forked.`,
        labelNames: ['pid', 'comm', ...WORKLOAD_LABEL_NAMES] as const,
        registers: [registry],
        collect() {
          // Processes leave the top: their series must go, not linger at an old value.
          this.reset();
          for (const { pid, comm, cgroup, forks } of parents.top.top(settings.top)) {
            this.set({ pid: String(pid), comm, ...workloads.labels(identifyCgroup(cgroup)) }, forks);
          }
        },
      });
    },
  };
};
