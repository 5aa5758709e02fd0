// The reader thread's batches as the BatchDecoder walks them: records of u32 length, u32
// sender port id, u32 flags, then the datagram padded to 4 bytes (src/kernel/records.ts).
// The datagrams are the kernel's own, captured in fixtures/.
import { describe, expect, it } from 'vitest';
import { BatchDecoder } from '../../src/kernel/batches.js';
import type { InvalidReason, ProcEvent } from '../../src/kernel/decode.js';
import { encodeRecords, forEachRecord } from '../../src/kernel/records.js';
import { decodeEvent } from './fixtures.js';
import { readFixture, type FixtureName } from './fixtures/captured.js';

// Not zero, so that a walk which reads padding as data goes visibly wrong.
const PADDING = 0xaa;

interface RecordOptions {
  senderPort?: number;
  truncated?: boolean;
  procComm?: string;
  procCgroup?: string;
}

/** One record around `bytes`. */
function record(bytes: Uint8Array, { senderPort, truncated, procComm, procCgroup }: RecordOptions = {}): Buffer {
  const file = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text));
  return encodeRecords([{ datagram: bytes, senderPort, truncated, procComm: file(procComm), procCgroup: file(procCgroup) }], PADDING);
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
  /** Every loss reported, in order. */
  lost: number[];
}

function walk(batches: Buffer | Buffer[], ourAck = 0): Walked {
  const walked: Walked = { events: [], invalid: [], acknowledged: [], lost: [] };
  const decoder = new BatchDecoder(
    {
      event: (event) => walked.events.push(event),
      invalid: (reason) => walked.invalid.push(reason),
      lost: (count) => walked.lost.push(count),
    },
    (ack) => ack === ourAck,
    (err) => walked.acknowledged.push(err),
  );
  for (const batch of Array.isArray(batches) ? batches : [batches]) decoder.decode(batch);
  return walked;
}

describe('the record format', () => {
  it('is u32 length, u32 sender port, u32 flags, the datagram padded to 4, then the name of an exec', () => {
    const datagram = Uint8Array.from([1, 2, 3, 4, 5]);
    const bytes = record(datagram, { senderPort: 77, truncated: true, procComm: 'sh\n' });

    expect([...bytes]).toEqual([
      ...[5, 0, 0, 0],
      ...[77, 0, 0, 0],
      ...[3, 0, 0, 0], // 1: truncated, 2: a name follows
      ...[1, 2, 3, 4, 5, PADDING, PADDING, PADDING],
      ...[3, 0, 0, 0],
      ...[0x73, 0x68, 0x0a, PADDING],
    ]);
    const seen: { length: number; senderPort: number; truncated: boolean; procComm: string | undefined }[] = [];
    forEachRecord(bytes, (r) =>
      seen.push({ length: r.length, senderPort: r.senderPort, truncated: r.truncated, procComm: r.procComm && Buffer.from(r.procComm).toString() }),
    );
    expect(seen).toEqual([{ length: 5, senderPort: 77, truncated: true, procComm: 'sh\n' }]);
  });

  it('then, for an exec whose cgroup the reader read, that file likewise', () => {
    const bytes = record(Uint8Array.from([9, 9, 9, 9]), { procComm: 'sh\n', procCgroup: '0::/a\n' });

    expect([...bytes]).toEqual([
      ...[4, 0, 0, 0],
      ...[0, 0, 0, 0],
      ...[6, 0, 0, 0], // 2: a name follows, 4: then a cgroup file
      ...[9, 9, 9, 9],
      ...[3, 0, 0, 0],
      ...[0x73, 0x68, 0x0a, PADDING],
      ...[6, 0, 0, 0],
      ...[0x30, 0x3a, 0x3a, 0x2f, 0x61, 0x0a, PADDING, PADDING],
    ]);
    const seen: (string | undefined)[][] = [];
    forEachRecord(Buffer.concat([bytes, record(Uint8Array.from([7]))]), (r) =>
      seen.push([r.procComm && Buffer.from(r.procComm).toString(), r.procCgroup && Buffer.from(r.procCgroup).toString()]),
    );
    expect(seen).toEqual([['sh\n', '0::/a\n'], [undefined, undefined]]);
  });
});

describe('BatchDecoder: records', () => {
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
    expect(walk(Buffer.alloc(0))).toEqual({ events: [], invalid: [], acknowledged: [], lost: [] });
  });

  it.each([1, 4, 8, 11])('ignores a record header cut short at the end of the batch (%i of 12 bytes)', (kept) => {
    const cut = record(captured('exit')).subarray(0, kept);
    const batch = Buffer.concat([record(captured('exec')), cut]);

    const { events, invalid } = walk(batch);

    expect(events).toEqual([eventOf('exec')]);
    expect(invalid).toEqual([]);
  });
});

describe('BatchDecoder: what it does not decode', () => {
  it('counts a record flagged truncated as invalid without decoding it', () => {
    // A whole, valid datagram: only the flag can make it invalid.
    const batch = Buffer.concat([record(captured('fork-thread'), { truncated: true }), record(captured('coredump'))]);

    const { events, invalid } = walk(batch);

    expect(invalid).toEqual(['truncated']);
    expect(events).toEqual([eventOf('coredump')]);
  });

  it('checks the truncated flag before the sender', () => {
    const batch = record(captured('exec'), { senderPort: 4321, truncated: true });

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

describe('BatchDecoder: the acknowledgement', () => {
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

describe('BatchDecoder: the name read on arrival of an exec event', () => {
  it('attaches the name to the exec event, and walks on past it', () => {
    const batch = Buffer.concat([record(captured('exec'), { procComm: 'make\n' }), record(captured('exit'))]);

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

  it('attaches the cgroup file the reader read to the exec event', () => {
    const { events } = walk(record(captured('exec'), { procComm: 'make\n', procCgroup: '12:pids:/kubepods/x\n' }));

    expect(Buffer.from((events[0] as Extract<ProcEvent, { what: 'exec' }>).procCgroup!).toString()).toBe('12:pids:/kubepods/x\n');
  });

  it('ignores a record whose cgroup file runs past the end of the batch', () => {
    const whole = record(captured('exec'), { procComm: 'make\n', procCgroup: '0::/a\n' });

    expect(walk(whole.subarray(0, whole.length - 4)).events).toEqual([]);
    expect(walk(whole.subarray(0, whole.length - 12)).events).toEqual([]);
  });

  it('ignores a record whose name runs past the end of the batch', () => {
    const whole = record(captured('exec'), { procComm: 'make\n' });

    const { events, invalid } = walk(whole.subarray(0, whole.length - 4));

    expect(events).toEqual([]);
    expect(invalid).toEqual([]);
  });
});

describe('BatchDecoder: loss', () => {
  /** A captured exec datagram renumbered as message `seq` of `cpu`. */
  function numbered(cpu: number, seq: number): Buffer {
    const bytes = captured('exec').slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(24, seq, true);
    view.setUint32(40, cpu, true);
    return record(bytes);
  }

  it('reports nothing lost in a contiguous stream, across batches', () => {
    expect(walk([Buffer.concat([numbered(0, 10), numbered(0, 11)]), numbered(0, 12)]).lost).toEqual([]);
  });

  it('reports the messages missing from a gap before the message after it', () => {
    const { lost, events } = walk(Buffer.concat([numbered(0, 10), numbered(0, 11), numbered(0, 15)]));

    expect(lost).toEqual([3]);
    expect(events).toHaveLength(3);
  });

  it("follows each CPU's numbers on their own", () => {
    const batch = Buffer.concat([numbered(0, 10), numbered(1, 500), numbered(0, 11), numbered(1, 503)]);

    expect(walk(batch).lost).toEqual([2]);
  });

  it('counts acknowledgements in the numbering, whoever they answer', () => {
    const ack = readFixture('ack').bytes.slice();
    new DataView(ack.buffer).setUint32(24, 11, true);
    new DataView(ack.buffer).setUint32(40, 0, true);

    expect(walk(Buffer.concat([numbered(0, 10), record(ack), numbered(0, 12)])).lost).toEqual([]);
  });

  it('takes no number from a rejected datagram', () => {
    const batch = Buffer.concat([numbered(0, 10), record(captured('exec'), { senderPort: 9 }), numbered(0, 11)]);

    expect(walk(batch).lost).toEqual([]);
  });
});
