// The fork-bomb detector and its view: who is suspected, how deep chains go, chain forks by name.
import { Gauge, type Registry } from 'prom-client';
import { ForkBombDetector } from '../detect/forkbomb.js';
import { WORKLOAD_LABEL_NAMES } from '../workloads/labels.js';
import { registerCommCounter } from './comm-counter.js';
import type { MetricGroup } from './group.js';

export const forkBombMetrics: MetricGroup = ({ table, forkbomb, parents, workloads, now }) => {
  const detector = new ForkBombDetector(table, { ...forkbomb, maxComms: parents.maxComms, now });
  return {
    listener: detector,
    register(registry: Registry) {
      new Gauge({
        name: 'forkwatch_forkbomb_suspected',
        help: 'Whether the detector suspects processes of this command name, in this workload, of being a fork bomb (1); the series goes when the suspicion clears.',
        labelNames: ['comm', ...WORKLOAD_LABEL_NAMES] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const { comm, workload } of detector.suspected) this.set({ comm, ...workloads.labels(workload) }, 1);
        },
      });

      new Gauge({
        name: 'forkwatch_fork_chain_depth_max',
        help: 'The deepest chain of forks without exec among live processes.',
        registers: [registry],
        collect() {
          this.set(detector.maxDepth);
        },
      });

      registerCommCounter(
        registry,
        'forkwatch_chain_forks_total',
        `Process forks made by parents at least ${forkbomb.chainDepth} forks without exec deep, by the parent's command name; names past the cap count under the name __other__.`,
        detector.chainForks,
      );
    },
  };
};
