// What a listener is: something that takes in decoded events, after the process table has.
// A new capability is one listener (and one metrics module, src/metrics/groups.ts).
import type { InvalidReason, ProcEvent } from '../kernel/decode.js';
import type { Process } from '../processes/table.js';

/** The event of kind K. */
export type EventOf<K extends ProcEvent['what']> = Extract<ProcEvent, { what: K }>;

/**
 * A handler for each event kind a listener cares about. `process` is the process the event
 * concerns, as the table has it after the event (see ProcessTable.apply): for a fork, the
 * parent; for an exit, the process that ended.
 */
export type EventHandlers = {
  [K in ProcEvent['what']]?: (event: EventOf<K>, process: Process | undefined) => void;
};

export interface Listener extends EventHandlers {
  /** Every event, whatever its kind, before the handler of its kind. */
  event?(event: ProcEvent, process: Process | undefined): void;
  /** `count` more events are known to be lost (src/kernel/loss.ts): a sequence gap, or drops counted. */
  lost?(count: number): void;
  /** A datagram on the group that is not a proc event from the kernel. */
  invalid?(reason: InvalidReason): void;
  /** Called once the subscription is confirmed: start timers here. */
  start?(): void;
  /** Called on shutdown: stop timers here. */
  close?(): void;
}
