// What arrived from the kernel, and what did not.
import { Counter, Gauge, type Registry } from 'prom-client';
import { EVENT_NAMES, EventCounts } from '../accounting/event-counts.js';
import type { MetricGroup } from './group.js';

export const eventMetrics: MetricGroup = ({ now, logger }) => {
  const counts = new EventCounts(now);
  return {
    listener: {
      event: (event) => counts.event(event),
      fork: (event) => counts.fork(event),
      lost: (count) => counts.lost(count),
      invalid: (reason) => {
        counts.invalid(reason);
        // Once per reason: a privileged process can broadcast to the group without end.
        if (counts.invalidByReason.get(reason) === 1) logger.warn('rejected a datagram on the proc connector group', { reason });
      },
    },
    register(registry: Registry) {
      const registers = [registry];

      new Counter({
        name: 'forkwatch_forks_total',
        help: 'Fork events received from the kernel. A thread is a child whose pid differs from its tgid.',
        labelNames: ['kind'] as const,
        registers,
        collect() {
          this.reset();
          this.inc({ kind: 'process' }, counts.processForks);
          this.inc({ kind: 'thread' }, counts.threadForks);
        },
      });

      new Counter({
        name: 'forkwatch_events_total',
        help: 'Process events received from the kernel, by type; the type other holds acknowledgements and types this version does not know.',
        labelNames: ['event'] as const,
        registers,
        collect() {
          this.reset();
          for (const event of EVENT_NAMES) this.inc({ event }, counts.events[event]);
        },
      });

      new Counter({
        name: 'forkwatch_events_lost_total',
        help: 'Events the kernel sent to this listener that never arrived: the gaps in the per-CPU sequence numbers, or the drops the kernel and the reader counted where those are more (read every 0.5 s).',
        registers,
        collect() {
          this.reset();
          this.inc(counts.lostEvents);
        },
      });

      new Counter({
        name: 'forkwatch_messages_invalid_total',
        help: 'Datagrams rejected as malformed or not from the kernel.',
        registers,
        collect() {
          this.reset();
          this.inc(counts.invalidDatagrams);
        },
      });

      new Gauge({
        name: 'forkwatch_forks_peak_per_second',
        help: 'The most forks (processes and threads) in any one whole second of the trailing 60 seconds.',
        registers,
        collect() {
          this.set(counts.peak.peak());
        },
      });
    },
  };
};
