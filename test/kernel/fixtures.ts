// Builds proc connector datagrams byte by byte, so decoder tests read as field lists.
// The offsets are written out here on purpose rather than imported from the decoder:
// a fixture that shared the decoder's mistakes would prove nothing.

import { decodeDatagram, type Decoded, type ProcEvent } from '../../src/kernel/decode.js';

export const DATAGRAM_BYTES = 76;

/** Every field of one datagram; anything left out takes the value the kernel would send. */
export interface DatagramSpec {
  // nlmsghdr, offsets 0..16
  nlmsgLen?: number; // default 76
  nlmsgType?: number; // default 3, NLMSG_DONE
  nlmsgFlags?: number;
  nlmsgSeq?: number; // default: same as seq, as the kernel sends it
  nlmsgPid?: number;
  // cn_msg, offsets 16..36
  idx?: number; // default 1, CN_IDX_PROC
  val?: number; // default 1, CN_VAL_PROC
  seq?: number;
  ack?: number;
  cnLen?: number; // default 40, sizeof(struct proc_event)
  cnFlags?: number;
  // proc_event, offsets 36..76
  what: number;
  cpu?: number;
  timestampNs?: bigint;
  /** The union at offset 52 as u32 words in order; negative values are stored as two's complement. */
  words?: readonly number[];
  /** comm[16] at offset 60 (after the pid and tgid words); shorter arrays leave NULs behind. */
  comm?: readonly number[];
}

/** Writes one datagram into `target` at `offset` (76 bytes). */
export function writeDatagram(target: DataView, offset: number, spec: DatagramSpec): void {
  const seq = spec.seq ?? 0;
  const u32 = (at: number, value: number): void => target.setUint32(offset + at, value >>> 0, true);
  const u16 = (at: number, value: number): void => target.setUint16(offset + at, value, true);

  u32(0, spec.nlmsgLen ?? DATAGRAM_BYTES);
  u16(4, spec.nlmsgType ?? 3);
  u16(6, spec.nlmsgFlags ?? 0);
  u32(8, spec.nlmsgSeq ?? seq);
  u32(12, spec.nlmsgPid ?? 0);

  u32(16, spec.idx ?? 1);
  u32(20, spec.val ?? 1);
  u32(24, seq);
  u32(28, spec.ack ?? 0);
  u16(32, spec.cnLen ?? 40);
  u16(34, spec.cnFlags ?? 0);

  u32(36, spec.what);
  u32(40, spec.cpu ?? 0);
  target.setBigUint64(offset + 44, spec.timestampNs ?? 0n, true);
  for (let at = 52; at < DATAGRAM_BYTES; at++) target.setUint8(offset + at, 0);
  (spec.words ?? []).forEach((word, i) => u32(52 + 4 * i, word));
  (spec.comm ?? []).forEach((byte, i) => target.setUint8(offset + 60 + i, byte));
}

/** One datagram in a buffer of its own. */
export function datagram(spec: DatagramSpec): Uint8Array {
  const bytes = new Uint8Array(DATAGRAM_BYTES);
  writeDatagram(new DataView(bytes.buffer), 0, spec);
  return bytes;
}

/**
 * The raw 40-byte PROC_CN_MCAST_LISTEN request (nlmsghdr, cn_msg with len 4, u32 op 1).
 * A privileged process that sends it to the group address delivers it to every listener.
 */
export function listenRequest(senderPort: number): Uint8Array {
  const bytes = new Uint8Array(40);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 40, true); // nlmsg_len
  view.setUint16(4, 3, true); // NLMSG_DONE
  view.setUint32(12, senderPort, true); // nlmsg_pid
  view.setUint32(16, 1, true); // idx CN_IDX_PROC
  view.setUint32(20, 1, true); // val CN_VAL_PROC
  view.setUint16(32, 4, true); // cn_msg.len: one u32
  view.setUint32(36, 1, true); // PROC_CN_MCAST_LISTEN
  return bytes;
}

/** Parses hex with any whitespace between bytes, e.g. a hexdump pasted as is. */
export function fromHex(hex: string): Uint8Array {
  const digits = hex.replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`not a hex byte string: ${hex}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Decodes `bytes` as one whole datagram. */
export function decode(bytes: Uint8Array, senderPort = 0): Decoded {
  return decodeDatagram(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, senderPort);
}

/** Decodes `bytes`, which must be accepted as an event of kind `what`, and returns that event. */
export function decodeEvent<W extends ProcEvent['what']>(bytes: Uint8Array, what: W): Extract<ProcEvent, { what: W }> {
  const result = decode(bytes);
  if (!result.ok) throw new Error(`datagram rejected: ${result.reason}`);
  if (result.event.what !== what) throw new Error(`expected a ${what} event, got ${result.event.what}`);
  return result.event as Extract<ProcEvent, { what: W }>;
}
