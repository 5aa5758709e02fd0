// What metric groups are built from in tests: a GroupContext over a given table and /proc,
// and the names of every metric forkwatch defines, derived from the one list of groups.
import { Registry } from 'prom-client';
import { exporterOptions } from '../../src/cli/exporter-options.js';
import { createLogger } from '../../src/log.js';
import type { GroupContext } from '../../src/metrics/group.js';
import { METRIC_GROUPS } from '../../src/metrics/groups.js';
import { ProcessTable } from '../../src/processes/table.js';
import { Workloads } from '../../src/workloads/service.js';
import { defaultOptions } from './exporter.js';
import { FakeProcfs } from './procfs.js';

/** The context a metric group gets, with default options, the clock at 0 and no socket; `overrides` win. */
export function groupContext(table: ProcessTable, procfs: FakeProcfs, overrides: Partial<GroupContext> = {}): GroupContext {
  const options = exporterOptions(defaultOptions(), 'test', createLogger('error', 'json'));
  return {
    ...options,
    table,
    procfs,
    workloads: new Workloads({ ...options.workloads, table, now: () => 0 }),
    cgroupRoot: options.workloads.cgroupRoot,
    now: () => 0,
    socket: () => ({ subscribed: false, receiveBufferBytes: 0, kernelDrops: 0 }),
    ...overrides,
  };
}

export function forkwatchMetricNames(): string[] {
  const registry = new Registry();
  for (const group of METRIC_GROUPS) {
    const procfs = new FakeProcfs();
    group(groupContext(new ProcessTable({ procfs }), procfs)).register(registry);
  }
  return registry.getMetricsAsArray().map((metric) => metric.name);
}
