import { Counter, type Registry } from 'prom-client';
import type { CommCounts } from '../processes/comm-counts.js';

/** A counter labelled by command name, read at scrape time from capped counts. */
export function registerCommCounter(registry: Registry, name: string, help: string, counts: CommCounts): void {
  new Counter({
    name,
    help,
    labelNames: ['comm'] as const,
    registers: [registry],
    collect() {
      // Names that lost their slot must go from the page, not linger at an old value.
      this.reset();
      for (const [comm, value] of counts.counts) this.inc({ comm }, value); // __other__ always, from 0
    },
  });
}
