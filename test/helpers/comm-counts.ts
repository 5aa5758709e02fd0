import { OTHER_COMM, type CommCounts } from '../../src/processes/comm-counts.js';

/** The counts by name as a plain object, for one-line assertions; `__other__` only when above 0. */
export function namedCounts(counts: CommCounts): Record<string, number> {
  return Object.fromEntries([...counts.counts].filter(([comm, count]) => comm !== OTHER_COMM || count > 0));
}
