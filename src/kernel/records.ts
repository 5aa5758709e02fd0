// The native reader's record format, the one place on this side of the boundary that
// knows it (native/proc_socket.cc writes it). A batch is records back to back:
//
//   u32 length, u32 sender port id, u32 flags, then `length` bytes of datagram padded to 4;
//   with RECORD_HAS_PROC_COMM, then u32 length and /proc/<tgid>/comm as the reader read it
//   on arrival, padded to 4; with RECORD_HAS_PROC_CGROUP, then /proc/<tgid>/cgroup likewise.
//
// Host byte order; every platform forkwatch runs on is little-endian.

export const RECORD_HEADER_BYTES = 12;
/** The datagram was longer than the reader's buffer: what is here is cut short. */
export const RECORD_TRUNCATED = 1;
/** An EXEC event, followed by the process's name as the reader found it on arrival. */
export const RECORD_HAS_PROC_COMM = 2;
/** An EXEC event, followed by the process's /proc/<tgid>/cgroup as the reader found it on arrival. */
export const RECORD_HAS_PROC_CGROUP = 4;

export interface RawRecord {
  /** The batch's bytes; the datagram is at `start`, `length` long. Valid during the visit only. */
  view: DataView;
  start: number;
  length: number;
  senderPort: number;
  truncated: boolean;
  /** /proc/<tgid>/comm as read on arrival (a view into the batch), for EXEC events. */
  procComm: Uint8Array | undefined;
  /** /proc/<tgid>/cgroup as read on arrival (a view into the batch), for EXEC events. */
  procCgroup: Uint8Array | undefined;
}

/**
 * Calls `visit` for every complete record of `batch`, in order. An incomplete record at the
 * end (which the reader never writes) ends the walk: nothing in it can be trusted.
 */
export function forEachRecord(batch: Uint8Array, visit: (record: RawRecord) => void): void {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  // One object for the whole walk: a storm's batches hold tens of thousands of records.
  const record: RawRecord = { view, start: 0, length: 0, senderPort: 0, truncated: false, procComm: undefined, procCgroup: undefined };
  let offset = 0;
  while (offset + RECORD_HEADER_BYTES <= batch.byteLength) {
    const length = view.getUint32(offset, true);
    const senderPort = view.getUint32(offset + 4, true);
    const flags = view.getUint32(offset + 8, true);
    const start = offset + RECORD_HEADER_BYTES;
    offset = start + padded(length);
    record.procComm = undefined;
    record.procCgroup = undefined;
    if (flags & (RECORD_HAS_PROC_COMM | RECORD_HAS_PROC_CGROUP)) offset = readFiles(batch, view, offset, flags, record);
    if (offset > batch.byteLength) return;
    record.start = start;
    record.length = length;
    record.senderPort = senderPort;
    record.truncated = (flags & RECORD_TRUNCATED) !== 0;
    visit(record);
  }
}

/** The files a record can carry after its datagram, in the order the reader appends them. */
const FILES = [
  [RECORD_HAS_PROC_COMM, 'procComm'],
  [RECORD_HAS_PROC_CGROUP, 'procCgroup'],
] as const;

/**
 * Reads the files appended after a datagram (each a u32 length and its bytes padded to 4)
 * into `record`; returns the offset past them, or Infinity when the batch ends first.
 */
function readFiles(batch: Uint8Array, view: DataView, offset: number, flags: number, record: RawRecord): number {
  for (const [flag, key] of FILES) {
    if (!(flags & flag)) continue;
    if (offset + 4 > batch.byteLength) return Infinity;
    const length = view.getUint32(offset, true);
    record[key] = batch.subarray(offset + 4, offset + 4 + length);
    offset += 4 + padded(length);
  }
  return offset;
}

export interface RecordSpec {
  datagram: Uint8Array;
  senderPort?: number;
  truncated?: boolean;
  procComm?: Uint8Array;
  procCgroup?: Uint8Array;
}

/**
 * A batch of records as the reader writes them: for replaying captured datagrams through
 * the pipeline, and for tests. Padding bytes are `padding` (not zero by default, so that a
 * walk which reads padding as data goes visibly wrong).
 */
export function encodeRecords(records: readonly RecordSpec[], padding = 0xaa): Buffer {
  const parts: Buffer[] = [];
  for (const { datagram, senderPort = 0, truncated = false, procComm, procCgroup } of records) {
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    header.writeUInt32LE(datagram.length, 0);
    header.writeUInt32LE(senderPort, 4);
    const flags = (truncated ? RECORD_TRUNCATED : 0) | (procComm ? RECORD_HAS_PROC_COMM : 0) | (procCgroup ? RECORD_HAS_PROC_CGROUP : 0);
    header.writeUInt32LE(flags, 8);
    parts.push(header, paddedCopy(datagram, padding));
    for (const file of [procComm, procCgroup]) {
      if (!file) continue;
      const length = Buffer.alloc(4);
      length.writeUInt32LE(file.length, 0);
      parts.push(length, paddedCopy(file, padding));
    }
  }
  return Buffer.concat(parts);
}

function paddedCopy(bytes: Uint8Array, padding: number): Buffer {
  const out = Buffer.alloc(padded(bytes.length), padding);
  out.set(bytes);
  return out;
}

function padded(length: number): number {
  return (length + 3) & ~3;
}
