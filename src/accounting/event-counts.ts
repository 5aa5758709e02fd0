// Counts every message received from the kernel, and every one that went missing.
import type { InvalidReason, ProcEvent } from '../kernel/decode.js';
import { SequenceTracker } from '../kernel/sequence.js';
import { secondOf } from './clock.js';
import { PeakPerSecond } from './peak.js';

export const EVENT_NAMES = ['fork', 'exec', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump', 'exit', 'other'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export class EventCounts {
  /** Messages by type; acknowledgements count as `other`, as they take sequence numbers too. */
  readonly events: Record<EventName, number> = Object.fromEntries(EVENT_NAMES.map((name) => [name, 0])) as Record<EventName, number>;
  processForks = 0;
  threadForks = 0;
  invalid = 0;
  readonly invalidByReason = new Map<InvalidReason, number>();
  readonly peak = new PeakPerSecond();
  private readonly sequence = new SequenceTracker();

  /** Events the kernel sent that never arrived, from gaps in the per-CPU sequence numbers. */
  get lost(): number {
    return this.sequence.lost;
  }

  record(event: ProcEvent): void {
    this.sequence.observe(event.cpu, event.seq);
    const name: EventName = event.what === 'ack' ? 'other' : event.what;
    this.events[name]++;
    if (event.what === 'fork') {
      if (event.childPid === event.childTgid) this.processForks++;
      else this.threadForks++;
      this.peak.add(secondOf(event.timestampNs));
    }
  }

  recordInvalid(reason: InvalidReason): void {
    this.invalid++;
    this.invalidByReason.set(reason, (this.invalidByReason.get(reason) ?? 0) + 1);
  }
}
