// Counts every message received from the kernel, and every one that went missing.
import { secondOf } from '../kernel/clock.js';
import type { InvalidReason, ProcEvent } from '../kernel/decode.js';
import type { EventOf, Listener } from '../pipeline/listener.js';
import { PeakPerSecond } from './peak.js';

export const EVENT_NAMES = ['fork', 'exec', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump', 'exit', 'other'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export class EventCounts implements Listener {
  /** Messages by type; acknowledgements count as `other`, as they take sequence numbers too. */
  readonly events: Record<EventName, number> = Object.fromEntries(EVENT_NAMES.map((name) => [name, 0])) as Record<EventName, number>;
  processForks = 0;
  threadForks = 0;
  /** Events the kernel sent that never arrived (src/kernel/loss.ts). */
  lostEvents = 0;
  invalidDatagrams = 0;
  readonly invalidByReason = new Map<InvalidReason, number>();
  readonly peak: PeakPerSecond;

  constructor(now: () => number) {
    this.peak = new PeakPerSecond(now);
  }

  event(event: ProcEvent): void {
    this.events[event.what === 'ack' ? 'other' : event.what]++;
  }

  fork(event: EventOf<'fork'>): void {
    if (event.childPid === event.childTgid) this.processForks++;
    else this.threadForks++;
    this.peak.add(secondOf(event.timestampNs));
  }

  lost(count: number): void {
    this.lostEvents += count;
  }

  invalid(reason: InvalidReason): void {
    this.invalidDatagrams++;
    this.invalidByReason.set(reason, (this.invalidByReason.get(reason) ?? 0) + 1);
  }
}
