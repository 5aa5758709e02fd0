// Turns the reader's batches into decoded events, and counts what went missing on the way:
// the decoding and the loss accounting sit beside the reader, where the loss happens.
import { decodeDatagram, type InvalidReason, type ProcEvent } from './decode.js';
import { forEachRecord } from './records.js';
import { SequenceTracker } from './sequence.js';

/** Where decoded events go, in the order the kernel numbered them per CPU. */
export interface EventSink {
  event(event: ProcEvent): void;
  /** A datagram that is not a proc event from the kernel. */
  invalid(reason: InvalidReason): void;
  /** `count` events were lost just before the next one (a gap in a CPU's sequence numbers). */
  lost(count: number): void;
}

export class BatchDecoder {
  private readonly sequence = new SequenceTracker();

  /**
   * `ourAck` is the cn_msg.ack of the acknowledgement of this socket's own request
   * (the request's ack + 1); `acknowledged` receives its err when it arrives.
   */
  constructor(
    private readonly sink: EventSink,
    private readonly ourAck = -1,
    private readonly acknowledged: (err: number) => void = () => {},
  ) {}

  /** Events lost so far, from the sequence gaps seen. */
  get lost(): number {
    return this.sequence.lost;
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
      if (gap > 0) sink.lost(gap);
      if (event.what === 'ack' && event.ack === this.ourAck) this.acknowledged(event.err);
      if (event.what === 'exec' && record.procComm) event.procComm = record.procComm;
      sink.event(event);
    });
  }
}
