// The names of every metric forkwatch defines, derived from the one list of metric groups.
import { Registry } from 'prom-client';
import { exporterOptions } from '../../src/cli/exporter-options.js';
import { createLogger } from '../../src/log.js';
import { METRIC_GROUPS } from '../../src/metrics/groups.js';
import { ProcessTable } from '../../src/processes/table.js';
import { Workloads } from '../../src/workloads/service.js';
import { defaultOptions } from './exporter.js';
import { FakeProcfs } from './procfs.js';

export function forkwatchMetricNames(): string[] {
  const options = exporterOptions(defaultOptions(), 'test', createLogger('error', 'json'));
  const registry = new Registry();
  for (const group of METRIC_GROUPS) {
    const procfs = new FakeProcfs();
    const table = new ProcessTable({ procfs });
    group({
      ...options,
      table,
      procfs,
      workloads: new Workloads({ ...options.workloads, table, now: () => 0 }),
      cgroupRoot: options.workloads.cgroupRoot,
      now: () => 0,
      socket: () => ({ subscribed: false, receiveBufferBytes: 0, kernelDrops: 0 }),
    }).register(registry);
  }
  return registry.getMetricsAsArray().map((metric) => metric.name);
}
