// Turns the reader's batches into decoded events, and counts what went missing on the way:
// the decoding and the loss accounting sit beside the reader, where the loss happens.
import { decodeDatagram, type InvalidReason, type ProcEvent } from './decode.js';
import { LossAccount } from './loss.js';
import { forEachRecord } from './records.js';
import { SequenceTracker } from './sequence.js';

/** Where decoded events go, in the order the kernel numbered them per CPU. */
export interface EventSink {
  event(event: ProcEvent): void;
  /** A datagram that is not a proc event from the kernel. */
  invalid(reason: InvalidReason): void;
  /**
   * `count` more events are known to be lost: a gap in a CPU's sequence numbers (then just
   * before the next event), or drops read from the kernel's and the reader's counts (loss.ts).
   */
  lost(count: number): void;
}

export class BatchDecoder {
  private readonly sequence = new SequenceTracker();
  private readonly loss: LossAccount;

  /**
   * `isOurs(ack)` tells whether a cn_msg.ack is that of the acknowledgement of one of this
   * socket's own requests (the request's ack + 1); `acknowledged` receives its err.
   */
  constructor(
    private readonly sink: EventSink,
    private readonly isOurs: (ack: number) => boolean = () => false,
    private readonly acknowledged: (err: number) => void = () => {},
  ) {
    this.loss = new LossAccount((count) => sink.lost(count));
  }

  /** Events known to be lost so far. */
  get lost(): number {
    return this.loss.lost;
  }

  /** The kernel's drops on the socket and the reader's own, together, as read now. */
  dropped(total: number): void {
    this.loss.dropped(total);
  }

  decode(batch: Uint8Array): void {
    const sink = this.sink;
    forEachRecord(batch, (record) => {
      if (record.truncated) {
        sink.invalid('truncated');
        return;
      }
      const decoded = decodeDatagram(record.view, record.start, record.length, record.senderPort);
      if (!decoded.ok) {
        sink.invalid(decoded.reason);
        return;
      }
      const event = decoded.event;
      // Every message takes a sequence number, acknowledgements and unknown types too.
      const gap = this.sequence.observe(event.cpu, event.seq);
      if (gap > 0) this.loss.gap(gap);
      if (event.what === 'ack' && this.isOurs(event.ack)) this.acknowledged(event.err);
      if (event.what === 'exec') {
        if (record.procComm) event.procComm = record.procComm;
        if (record.procCgroup) event.procCgroup = record.procCgroup;
      }
      sink.event(event);
    });
  }
}
