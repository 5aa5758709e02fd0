import { Counter, type Registry } from 'prom-client';
import { OTHER_COMM, type CommCounts } from '../processes/comm-counts.js';

/** A counter labelled by command name, read at scrape time from capped counts. */
export function registerCommCounter(registry: Registry, name: string, help: string, counts: CommCounts): void {
  new Counter({
    name,
    help,
    labelNames: ['comm'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ comm: OTHER_COMM }, 0); // known in advance, so exported from the start
      for (const [comm, value] of counts.counts) this.inc({ comm }, value);
    },
  });
}
