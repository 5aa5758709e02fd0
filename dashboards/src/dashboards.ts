// The dashboards forkwatch ships, and the one way their JSON is written: the checked-in
// files are what users import, and a test regenerates them to catch drift.
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { packageRoot } from '../../src/package.js';
import { clusterDashboard } from './cluster.js';
import { overviewDashboard } from './overview.js';

export interface ShippedDashboard {
  /** The file in dashboards/, e.g. "forkwatch-overview.json". */
  file: string;
  build: () => Dashboard;
}

export const DASHBOARDS: ShippedDashboard[] = [
  { file: 'forkwatch-overview.json', build: overviewDashboard },
  { file: 'forkwatch-cluster.json', build: clusterDashboard },
];

export const DASHBOARDS_DIR = join(packageRoot, 'dashboards');

/** The command that rewrites the JSON files from this source. */
export const REGENERATE = 'npm run dashboards';

/** Stable JSON: the builders' key order, two-space indents, a final newline. */
export function render(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
