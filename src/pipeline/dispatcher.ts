// The one dispatcher: each decoded event updates the process table, then goes to every
// listener that handles its kind, in the listeners' order.
import type { EventSink } from '../kernel/batches.js';
import type { InvalidReason, ProcEvent } from '../kernel/decode.js';
import type { Process, ProcessTable } from '../processes/table.js';
import type { Listener } from './listener.js';

type Handler = (event: ProcEvent, process: Process | undefined) => void;

const KINDS: readonly ProcEvent['what'][] = ['ack', 'fork', 'exec', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump', 'exit', 'other'];

export class Dispatcher implements EventSink {
  /** Per event kind, the handlers of the listeners that have one, in order. */
  private readonly handlers = new Map<ProcEvent['what'], Handler[]>();

  constructor(
    private readonly table: ProcessTable,
    private readonly listeners: readonly Listener[],
  ) {
    for (const kind of KINDS) {
      const bound: Handler[] = [];
      for (const listener of listeners) {
        if (listener.event) bound.push(listener.event.bind(listener));
        const handler = listener[kind] as Handler | undefined;
        if (handler) bound.push(handler.bind(listener));
      }
      this.handlers.set(kind, bound);
    }
  }

  event(event: ProcEvent): void {
    const process = this.table.apply(event);
    for (const handle of this.handlers.get(event.what)!) handle(event, process);
  }

  lost(count: number): void {
    for (const listener of this.listeners) listener.lost?.(count);
  }

  invalid(reason: InvalidReason): void {
    for (const listener of this.listeners) listener.invalid?.(reason);
  }

  start(): void {
    for (const listener of this.listeners) listener.start?.();
  }

  close(): void {
    for (const listener of this.listeners) listener.close?.();
  }
}
