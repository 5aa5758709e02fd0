import { describe, it, expect } from 'vitest';
import { decodeDatagram, PROC_EVENT_BYTES, WHAT } from '../../src/kernel/decode.js';
import { datagram, decode, decodeEvent, fromHex, listenRequest, writeDatagram } from './fixtures.js';

// A fork as the kernel sends it, written out by hand so the layout is pinned independently of
// the fixture helper: pid 1234 forks process 5678 on CPU 1, 3 hours after boot.
const FORK_HEX = `
  4c000000 0300 0000 3b2a0100 00000000
  01000000 01000000 3b2a0100 00000000 2800 0000
  01000000 01000000 5f4e3d2c1b0a0000
  d2040000 d2040000 2e160000 2e160000 00000000 00000000
`;

const ASCII = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

describe('decodeDatagram: events', () => {
  it('decodes a literal fork datagram', () => {
    const bytes = fromHex(FORK_HEX);
    expect(bytes.length).toBe(PROC_EVENT_BYTES);

    const event = decodeEvent(bytes, 'fork');

    expect(event.cpu).toBe(1);
    expect(event.seq).toBe(0x00012a3b);
    expect(event.timestampNs).toBe(0x0a1b2c3d4e5f);
    expect(event.parentPid).toBe(1234);
    expect(event.parentTgid).toBe(1234);
    expect(event.childPid).toBe(5678);
    expect(event.childTgid).toBe(5678);
  });

  it('builds the literal fork datagram byte for byte from fields', () => {
    const built = datagram({
      what: WHAT.FORK,
      cpu: 1,
      seq: 0x00012a3b,
      timestampNs: 0x0a1b2c3d4e5fn,
      words: [1234, 1234, 5678, 5678],
    });

    expect(built).toEqual(fromHex(FORK_HEX));
  });

  it('decodes a thread fork, whose child pid differs from its tgid', () => {
    const event = decodeEvent(datagram({ what: WHAT.FORK, cpu: 3, seq: 9, words: [1, 1, 4243, 4242] }), 'fork');

    expect(event.cpu).toBe(3);
    expect(event.seq).toBe(9);
    expect(event.childPid).toBe(4243);
    expect(event.childTgid).toBe(4242);
  });

  it('takes seq from cn_msg, not from nlmsghdr', () => {
    // The kernel copies one into the other; the per-CPU counter is cn_msg.seq.
    const event = decodeEvent(datagram({ what: WHAT.EXEC, seq: 10, nlmsgSeq: 99, words: [1, 1] }), 'exec');

    expect(event.seq).toBe(10);
  });

  it('reads pids as unsigned 32-bit numbers', () => {
    const event = decodeEvent(datagram({ what: WHAT.FORK, words: [0xffffffff, 0x80000000, 0, 0] }), 'fork');

    expect(event.parentPid).toBe(0xffffffff);
    expect(event.parentTgid).toBe(0x80000000);
  });

  it('decodes exec', () => {
    const event = decodeEvent(datagram({ what: WHAT.EXEC, words: [700, 699] }), 'exec');

    expect(event.pid).toBe(700);
    expect(event.tgid).toBe(699);
  });

  it('decodes uid changes', () => {
    const event = decodeEvent(datagram({ what: WHAT.UID, words: [800, 800, 1000, 0] }), 'uid');

    expect(event.pid).toBe(800);
    expect(event.tgid).toBe(800);
    expect(event.real).toBe(1000);
    expect(event.effective).toBe(0);
  });

  it('decodes gid changes', () => {
    const event = decodeEvent(datagram({ what: WHAT.GID, words: [801, 802, 100, 65534] }), 'gid');

    expect(event.pid).toBe(801);
    expect(event.tgid).toBe(802);
    expect(event.real).toBe(100);
    expect(event.effective).toBe(65534);
  });

  it('decodes sid', () => {
    const event = decodeEvent(datagram({ what: WHAT.SID, words: [900, 900] }), 'sid');

    expect(event.pid).toBe(900);
    expect(event.tgid).toBe(900);
  });

  it('decodes ptrace', () => {
    const event = decodeEvent(datagram({ what: WHAT.PTRACE, words: [1000, 1000, 1001, 1002] }), 'ptrace');

    expect(event.pid).toBe(1000);
    expect(event.tgid).toBe(1000);
    expect(event.tracerPid).toBe(1001);
    expect(event.tracerTgid).toBe(1002);
  });

  it('decodes coredump', () => {
    const event = decodeEvent(datagram({ what: WHAT.COREDUMP, words: [1100, 1100, 1, 1] }), 'coredump');

    expect(event.pid).toBe(1100);
    expect(event.tgid).toBe(1100);
    expect(event.parentPid).toBe(1);
    expect(event.parentTgid).toBe(1);
  });

  it('decodes a process exit with its wait status', () => {
    // exit(5) arrives as the wait status 5 << 8.
    const event = decodeEvent(datagram({ what: WHAT.EXIT, words: [1200, 1200, 1280, 17, 1199, 1199] }), 'exit');

    expect(event.pid).toBe(1200);
    expect(event.tgid).toBe(1200);
    expect(event.exitCode).toBe(1280);
    expect(event.exitSignal).toBe(17);
    expect(event.parentPid).toBe(1199);
    expect(event.parentTgid).toBe(1199);
  });

  it('decodes a thread exit with a negative exit_signal', () => {
    const event = decodeEvent(datagram({ what: WHAT.EXIT, words: [1301, 1300, 0, -1, 0, 0] }), 'exit');

    expect(event.pid).toBe(1301);
    expect(event.tgid).toBe(1300);
    expect(event.exitSignal).toBe(-1);
    expect(event.parentPid).toBe(0);
  });

  it('decodes an acknowledgement with its ack and err', () => {
    const event = decodeEvent(datagram({ what: WHAT.NONE, cpu: 0, seq: 55, ack: 0x12345679, words: [22] }), 'ack');

    expect(event.ack).toBe(0x12345679);
    expect(event.err).toBe(22); // EINVAL
    expect(event.seq).toBe(55);
  });

  it('decodes an unknown what as other, keeping the code', () => {
    const event = decodeEvent(datagram({ what: 0x400, cpu: 2, seq: 3 }), 'other');

    expect(event.code).toBe(0x400);
    expect(event.cpu).toBe(2);
    expect(event.seq).toBe(3);
  });

  it('does not mistake a combination of flags for one event', () => {
    expect(decodeEvent(datagram({ what: WHAT.FORK | WHAT.EXEC }), 'other').code).toBe(3);
  });
});

describe('decodeDatagram: timestamp', () => {
  it('combines both halves of a timestamp above 2^32', () => {
    const event = decodeEvent(datagram({ what: WHAT.EXEC, timestampNs: 0x1_0000_0005n }), 'exec');

    expect(event.timestampNs).toBe(2 ** 32 + 5);
  });

  it('keeps the low half unsigned when its top bit is set', () => {
    const event = decodeEvent(datagram({ what: WHAT.EXEC, timestampNs: 0x7_ffff_ffffn }), 'exec');

    expect(event.timestampNs).toBe(8 * 2 ** 32 - 1);
  });

  it('is exact for a realistic uptime (30 days)', () => {
    const ns = 30n * 86_400n * 1_000_000_000n + 123_456_789n;

    expect(decodeEvent(datagram({ what: WHAT.EXEC, timestampNs: ns }), 'exec').timestampNs).toBe(Number(ns));
  });
});

describe('decodeDatagram: comm', () => {
  it('stops the name at the first NUL', () => {
    const event = decodeEvent(datagram({ what: WHAT.COMM, words: [1400, 1399], comm: ASCII('worker\0junk') }), 'comm');

    expect(event.pid).toBe(1400);
    expect(event.tgid).toBe(1399);
    expect(event.comm).toEqual(new Uint8Array(ASCII('worker')));
  });

  it('returns all 16 bytes when no NUL ends the field', () => {
    const name = ASCII('0123456789abcdef');
    const event = decodeEvent(datagram({ what: WHAT.COMM, words: [1, 1], comm: name }), 'comm');

    expect(event.comm).toEqual(new Uint8Array(name));
  });

  it('returns an empty name for an all-NUL field', () => {
    expect(decodeEvent(datagram({ what: WHAT.COMM, words: [1, 1] }), 'comm').comm).toEqual(new Uint8Array(0));
  });

  it('returns bytes that are not UTF-8 as they are', () => {
    const raw = [0xff, 0xfe, 0x80, 0xc3, 0x28];
    const event = decodeEvent(datagram({ what: WHAT.COMM, words: [1, 1], comm: raw }), 'comm');

    expect(event.comm).toEqual(new Uint8Array(raw));
  });

  it('copies the name, so reusing the batch buffer does not change it', () => {
    const bytes = datagram({ what: WHAT.COMM, words: [1, 1], comm: ASCII('sh') });
    const event = decodeEvent(bytes, 'comm');

    bytes.fill(0x41);

    expect(event.comm).toEqual(new Uint8Array(ASCII('sh')));
  });
});

describe('decodeDatagram: position in a batch', () => {
  it('decodes a datagram at an unaligned offset inside a larger buffer', () => {
    const batch = new DataView(new ArrayBuffer(300));
    writeDatagram(batch, 0, { what: WHAT.EXEC, words: [1, 1] });
    writeDatagram(batch, 79, {
      what: WHAT.EXIT,
      cpu: 1,
      seq: 77,
      timestampNs: 0x2_0000_0001n,
      words: [2000, 2000, 9, -1, 1, 1],
    });
    writeDatagram(batch, 160, { what: WHAT.FORK, words: [3, 3, 4, 4] });

    const result = decodeDatagram(batch, 79, PROC_EVENT_BYTES, 0);

    expect(result).toEqual({
      ok: true,
      event: {
        what: 'exit',
        cpu: 1,
        seq: 77,
        timestampNs: 2 * 2 ** 32 + 1,
        pid: 2000,
        tgid: 2000,
        exitCode: 9,
        exitSignal: -1,
        parentPid: 1,
        parentTgid: 1,
      },
    });
  });

  it('reads comm relative to a view that starts inside its ArrayBuffer', () => {
    const backing = new ArrayBuffer(400);
    const view = new DataView(backing, 64, 300);
    writeDatagram(view, 100, { what: WHAT.COMM, words: [5, 5], comm: ASCII('kworker/0:1') });

    const result = decodeDatagram(view, 100, PROC_EVENT_BYTES, 0);

    if (!result.ok || result.event.what !== 'comm') throw new Error('expected a comm event');
    expect(result.event.comm).toEqual(new Uint8Array(ASCII('kworker/0:1')));
  });

  it('accepts a datagram longer than nlmsg_len (alignment padding)', () => {
    const batch = new DataView(new ArrayBuffer(80));
    writeDatagram(batch, 0, { what: WHAT.EXEC, words: [6, 6] });

    expect(decodeDatagram(batch, 0, 80, 0).ok).toBe(true);
  });
});

describe('decodeDatagram: rejects what is not a proc event', () => {
  const exec = { what: WHAT.EXEC, words: [1, 1] };

  it('rejects a datagram from a process rather than the kernel', () => {
    expect(decode(datagram(exec), 1234)).toEqual({ ok: false, reason: 'not-from-kernel' });
  });

  it('rejects a datagram shorter than 76 bytes', () => {
    const short = datagram(exec).subarray(0, 75);

    expect(decode(short)).toEqual({ ok: false, reason: 'truncated' });
    expect(decode(new Uint8Array(0))).toEqual({ ok: false, reason: 'truncated' });
  });

  it('rejects an nlmsg_len larger than the datagram', () => {
    expect(decode(datagram({ ...exec, nlmsgLen: 77 }))).toEqual({ ok: false, reason: 'truncated' });
  });

  it('rejects an nlmsg_len smaller than 76', () => {
    expect(decode(datagram({ ...exec, nlmsgLen: 75 }))).toEqual({ ok: false, reason: 'truncated' });
    expect(decode(datagram({ ...exec, nlmsgLen: 0 }))).toEqual({ ok: false, reason: 'truncated' });
  });

  it('rejects another connector index', () => {
    expect(decode(datagram({ ...exec, idx: 2 }))).toEqual({ ok: false, reason: 'not-proc-connector' });
  });

  it('rejects another connector value', () => {
    expect(decode(datagram({ ...exec, val: 2 }))).toEqual({ ok: false, reason: 'not-proc-connector' });
  });

  it('rejects a cn_msg.len other than 40', () => {
    expect(decode(datagram({ ...exec, cnLen: 4 }))).toEqual({ ok: false, reason: 'bad-length' });
    expect(decode(datagram({ ...exec, cnLen: 41 }))).toEqual({ ok: false, reason: 'bad-length' });
  });

  it('does not check nlmsg_type', () => {
    expect(decode(datagram({ ...exec, nlmsgType: 0x10 })).ok).toBe(true);
  });

  describe('a LISTEN request broadcast to the group by a privileged process', () => {
    it('is rejected for its sender', () => {
      expect(decode(listenRequest(4321), 4321)).toEqual({ ok: false, reason: 'not-from-kernel' });
    });

    it('is rejected as truncated even if it claimed to come from the kernel', () => {
      const request = listenRequest(0);

      expect(request.length).toBe(40);
      expect(decode(request, 0)).toEqual({ ok: false, reason: 'truncated' });
    });

    it('is rejected by its cn_msg.len when padded out to the size of an event', () => {
      const padded = new Uint8Array(PROC_EVENT_BYTES);
      padded.set(listenRequest(0));
      new DataView(padded.buffer).setUint32(0, PROC_EVENT_BYTES, true);

      expect(decode(padded, 0)).toEqual({ ok: false, reason: 'bad-length' });
    });
  });
});
