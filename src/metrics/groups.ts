// Every metric group, listed once. Their listeners get each event in this order, after the
// process table. A new capability is a listener and a metrics module, and a line here.
import { buildInfoMetrics } from './build-info.js';
import { eventMetrics } from './events.js';
import { forkBombMetrics } from './forkbomb.js';
import type { MetricGroup } from './group.js';
import { lifecycleMetrics } from './lifecycle.js';
import { netlinkMetrics } from './netlink.js';
import { parentMetrics } from './parents.js';
import { workloadMetrics } from './workloads.js';

export const METRIC_GROUPS: readonly MetricGroup[] = [
  eventMetrics,
  netlinkMetrics,
  parentMetrics,
  workloadMetrics,
  forkBombMetrics,
  lifecycleMetrics,
  buildInfoMetrics,
];
