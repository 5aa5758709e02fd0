// The reader thread's batches as forEachEvent walks them: records of u32 length, u32
// sender port id, u32 flags (1: truncated), then the datagram padded to 4 bytes. The
// datagrams are the kernel's own, captured in fixtures/.
import { describe, expect, it } from 'vitest';
import type { InvalidReason, ProcEvent } from '../../src/kernel/decode.js';
import { forEachEvent } from '../../src/kernel/subscription.js';
import { decodeEvent } from './fixtures.js';
import { readFixture, type FixtureName } from './fixtures/captured.js';

const RECORD_TRUNCATED = 1;
// Not zero, so that a walk which reads padding as data goes visibly wrong.
const PADDING = 0xaa;

interface RecordOptions {
  senderPort?: number;
  flags?: number;
}

/** One record: the header, then `bytes`, padded to a multiple of 4. */
function record(bytes: Uint8Array, { senderPort = 0, flags = 0 }: RecordOptions = {}): Buffer {
  const out = Buffer.alloc(12 + ((bytes.length + 3) & ~3), PADDING);
  out.writeUInt32LE(bytes.length, 0);
  out.writeUInt32LE(senderPort, 4);
  out.writeUInt32LE(flags, 8);
  out.set(bytes, 12);
  return out;
}

function captured(name: FixtureName): Uint8Array {
  return readFixture(name).bytes;
}

/** A captured datagram followed by `extra` bytes, as a longer read would return it. */
function longer(name: FixtureName, extra: number): Uint8Array {
  const bytes = new Uint8Array(76 + extra).fill(0x55);
  bytes.set(captured(name));
  return bytes;
}

/** The event a captured datagram decodes to on its own. */
function eventOf(name: FixtureName): ProcEvent {
  const bytes = captured(name);
  return decodeEvent(bytes, readFixture(name).event.what);
}

interface Walked {
  events: ProcEvent[];
  invalid: InvalidReason[];
  /** The err of every call to `acknowledged`. */
  acknowledged: number[];
}

function walk(batch: Buffer, ourAck = 0): Walked {
  const walked: Walked = { events: [], invalid: [], acknowledged: [] };
  forEachEvent(
    batch,
    { event: (event) => walked.events.push(event), invalid: (reason) => walked.invalid.push(reason) },
    ourAck,
    (err) => walked.acknowledged.push(err),
  );
  return walked;
}

describe('forEachEvent: the record format', () => {
  it('walks records back to back, skipping the padding after lengths that are not multiples of 4', () => {
    const batch = Buffer.concat([
      record(captured('fork-process')), // 76: no padding
      record(longer('exec', 1)), // 77, padded to 80
      record(longer('comm', 2)), // 78, padded to 80
      record(longer('uid', 3)), // 79, padded to 80
      record(captured('exit')),
    ]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual([]);
    expect(events).toEqual((['fork-process', 'exec', 'comm', 'uid', 'exit'] as const).map(eventOf));
  });

  it('goes on past a record the decoder rejects', () => {
    const batch = Buffer.concat([record(new Uint8Array(6)), record(captured('sid'))]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual(['truncated']);
    expect(events).toEqual([eventOf('sid')]);
  });

  it('reads a batch that starts inside a larger buffer', () => {
    const batch = Buffer.concat([Buffer.alloc(8), record(captured('gid')), record(captured('ptrace'))]).subarray(8);

    expect(walk(batch).events).toEqual([eventOf('gid'), eventOf('ptrace')]);
  });

  it('does nothing with an empty batch', () => {
    expect(walk(Buffer.alloc(0))).toEqual({ events: [], invalid: [], acknowledged: [] });
  });

  it.each([1, 4, 8, 11])('ignores a record header cut short at the end of the batch (%i of 12 bytes)', (kept) => {
    const cut = record(captured('exit')).subarray(0, kept);
    const batch = Buffer.concat([record(captured('exec')), cut]);

    const { events, invalid } = walk(batch);

    expect(events).toEqual([eventOf('exec')]);
    expect(invalid).toEqual([]);
  });
});

describe('forEachEvent: what it does not decode', () => {
  it('counts a record flagged truncated as invalid without decoding it', () => {
    // A whole, valid datagram: only the flag can make it invalid.
    const batch = Buffer.concat([record(captured('fork-thread'), { flags: RECORD_TRUNCATED }), record(captured('coredump'))]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual(['truncated']);
    expect(events).toEqual([eventOf('coredump')]);
  });

  it('checks the truncated flag before the sender', () => {
    const batch = record(captured('exec'), { senderPort: 4321, flags: RECORD_TRUNCATED });

    expect(walk(batch).invalid).toEqual(['truncated']);
  });

  it('rejects a record from a non-zero sender port as not-from-kernel', () => {
    // A privileged process can send anything to the group, even a copy of a real event.
    const batch = Buffer.concat([record(captured('fork-process'), { senderPort: 4321 }), record(captured('exit'))]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual(['not-from-kernel']);
    expect(events).toEqual([eventOf('exit')]);
  });
});

describe('forEachEvent: the acknowledgement', () => {
  const ack = readFixture('ack');
  const kernelAck = Number(ack.event.ack); // cn_msg.ack: our request's ack + 1

  it('calls acknowledged with err for the ack whose cn_msg.ack is ours, and still passes it to the sink', () => {
    const { events, acknowledged } = walk(record(ack.bytes), kernelAck);

    expect(acknowledged).toEqual([0]);
    expect(events).toEqual([eventOf('ack')]);
  });

  it("passes on the kernel's errno", () => {
    const refused = ack.bytes.slice();
    new DataView(refused.buffer).setUint32(52, 22, true); // err EINVAL

    const { acknowledged, events } = walk(record(refused), kernelAck);

    expect(acknowledged).toEqual([22]);
    expect(events).toHaveLength(1);
  });

  it("does not call acknowledged for another listener's ack, which still reaches the sink", () => {
    const { events, acknowledged } = walk(record(ack.bytes), kernelAck + 1);

    expect(acknowledged).toEqual([]);
    expect(events).toEqual([eventOf('ack')]);
  });

  it('calls acknowledged only for the ack among other events', () => {
    const batch = Buffer.concat([record(captured('fork-process')), record(ack.bytes), record(captured('exec'))]);

    const { events, acknowledged } = walk(batch, kernelAck);

    expect(acknowledged).toEqual([0]);
    expect(events.map((event) => event.what)).toEqual(['fork', 'ack', 'exec']);
  });
});

describe('forEachEvent: the name read on arrival of an exec event', () => {
  const RECORD_HAS_COMM = 2;

  /** The appendix after a record with RECORD_HAS_COMM: u32 length, then the bytes padded to 4. */
  function commAppendix(comm: string): Buffer {
    const bytes = Buffer.from(comm);
    const out = Buffer.alloc(4 + ((bytes.length + 3) & ~3), PADDING);
    out.writeUInt32LE(bytes.length, 0);
    out.set(bytes, 4);
    return out;
  }

  it('attaches the name to the exec event, and walks on past it', () => {
    const batch = Buffer.concat([
      record(captured('exec'), { flags: RECORD_HAS_COMM }),
      commAppendix('make\n'),
      record(captured('exit')),
    ]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual([]);
    expect(events.map((event) => event.what)).toEqual(['exec', 'exit']);
    const exec = events[0] as Extract<ProcEvent, { what: 'exec' }>;
    expect(Buffer.from(exec.procComm!).toString()).toBe('make\n');
  });

  it('leaves procComm out when the reader could not read the name', () => {
    const { events } = walk(record(captured('exec')));

    expect((events[0] as Extract<ProcEvent, { what: 'exec' }>).procComm).toBeUndefined();
  });

  it('ignores a record whose name runs past the end of the batch', () => {
    const whole = Buffer.concat([record(captured('exec'), { flags: RECORD_HAS_COMM }), commAppendix('make\n')]);

    const { events, invalid } = walk(whole.subarray(0, whole.length - 4));

    expect(events).toEqual([]);
    expect(invalid).toEqual([]);
  });
});
