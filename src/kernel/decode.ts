// Decodes one datagram from the kernel's process-event connector (CN_IDX_PROC).
// Layout, host byte order (little-endian on every platform we run on):
//   0..16  nlmsghdr   len u32 @0, type u16 @4, flags u16 @6, seq u32 @8, pid u32 @12
//  16..36  cn_msg     idx u32 @16, val u32 @20, seq u32 @24, ack u32 @28, len u16 @32, flags u16 @34
//  36..76  proc_event what u32 @36, cpu u32 @40, timestamp_ns u64 @44, 24-byte union @52

/** `proc_event.what` values (include/uapi/linux/cn_proc.h). */
export const WHAT = {
  NONE: 0x0, // acknowledgement of a LISTEN/IGNORE request
  FORK: 0x1,
  EXEC: 0x2,
  UID: 0x4,
  GID: 0x40,
  SID: 0x80,
  PTRACE: 0x100,
  COMM: 0x200,
  COREDUMP: 0x40000000,
  EXIT: 0x80000000,
} as const;

/** Size of one proc connector datagram: nlmsghdr (16) + cn_msg (20) + proc_event (40). */
export const PROC_EVENT_BYTES = 76;

const WHAT_OFFSET = 36;
const UNION_OFFSET = 52;

/**
 * Where the native reader looks to recognise an EXEC event and its process, so that it can
 * read the new name on arrival. Handed to it from here so that the layout has one owner.
 */
export const EXEC_PROBE = {
  minLength: PROC_EVENT_BYTES,
  whatOffset: WHAT_OFFSET,
  what: WHAT.EXEC,
  tgidOffset: UNION_OFFSET + 4,
} as const;

const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const PROC_EVENT_PAYLOAD_BYTES = 40;
const COMM_BYTES = 16;

/** Fields every event carries. */
export interface EventHeader {
  /** CPU that numbered this message; `seq` is contiguous per CPU. */
  readonly cpu: number;
  /** cn_msg.seq, from a per-CPU counter that wraps at 2^32. */
  readonly seq: number;
  /** CLOCK_MONOTONIC nanoseconds. */
  readonly timestampNs: number;
}

export interface AckEvent extends EventHeader {
  readonly what: 'ack';
  /** cn_msg.ack: the request's ack + 1, which tells our acknowledgement from others'. */
  readonly ack: number;
  /** 0 or a positive errno. */
  readonly err: number;
}

export interface ForkEvent extends EventHeader {
  readonly what: 'fork';
  readonly parentPid: number;
  readonly parentTgid: number;
  readonly childPid: number;
  readonly childTgid: number;
}

export interface ExecEvent extends EventHeader {
  readonly what: 'exec';
  readonly pid: number;
  readonly tgid: number;
  /**
   * The contents of /proc/<tgid>/comm, read by the reader thread as the event arrived
   * (not part of the datagram); absent when the process had already gone.
   */
  procComm?: Uint8Array;
  /**
   * The contents of /proc/<tgid>/cgroup, read likewise: a container runtime moves a
   * container's first process into its cgroup before the exec. Absent when the process had
   * gone, or the reader passed it over (see native/proc_socket.cc).
   */
  procCgroup?: Uint8Array;
}

/** Shared by uid and gid changes. */
export interface IdChange extends EventHeader {
  readonly pid: number;
  readonly tgid: number;
  readonly real: number;
  readonly effective: number;
}

export interface UidEvent extends IdChange {
  readonly what: 'uid';
}

export interface GidEvent extends IdChange {
  readonly what: 'gid';
}

export interface SidEvent extends EventHeader {
  readonly what: 'sid';
  readonly pid: number;
  readonly tgid: number;
}

export interface PtraceEvent extends EventHeader {
  readonly what: 'ptrace';
  readonly pid: number;
  readonly tgid: number;
  readonly tracerPid: number;
  readonly tracerTgid: number;
}

export interface CommEvent extends EventHeader {
  readonly what: 'comm';
  readonly pid: number;
  readonly tgid: number;
  /** Raw name bytes up to the first NUL; a copy, so it outlives the batch buffer. Not always UTF-8. */
  readonly comm: Uint8Array;
}

export interface CoredumpEvent extends EventHeader {
  readonly what: 'coredump';
  readonly pid: number;
  readonly tgid: number;
  readonly parentPid: number;
  readonly parentTgid: number;
}

export interface ExitEvent extends EventHeader {
  readonly what: 'exit';
  readonly pid: number;
  readonly tgid: number;
  /** The wait status: exit(5) arrives as 1280. */
  readonly exitCode: number;
  /** Signed: -1 for threads. */
  readonly exitSignal: number;
  /** 0 for tasks reaped automatically. */
  readonly parentPid: number;
  readonly parentTgid: number;
}

export interface OtherEvent extends EventHeader {
  readonly what: 'other';
  /** The unrecognised `proc_event.what` value. */
  readonly code: number;
}

export type ProcEvent =
  | AckEvent
  | ForkEvent
  | ExecEvent
  | UidEvent
  | GidEvent
  | SidEvent
  | PtraceEvent
  | CommEvent
  | CoredumpEvent
  | ExitEvent
  | OtherEvent;

export type InvalidReason = 'not-from-kernel' | 'truncated' | 'not-proc-connector' | 'bad-length';

export type Decoded = { ok: true; event: ProcEvent } | { ok: false; reason: InvalidReason };

// Rejections are shared constants so a flood of junk allocates nothing.
const NOT_FROM_KERNEL: Decoded = Object.freeze({ ok: false, reason: 'not-from-kernel' });
const TRUNCATED: Decoded = Object.freeze({ ok: false, reason: 'truncated' });
const NOT_PROC_CONNECTOR: Decoded = Object.freeze({ ok: false, reason: 'not-proc-connector' });
const BAD_LENGTH: Decoded = Object.freeze({ ok: false, reason: 'bad-length' });

/**
 * Decodes the `length` bytes at `offset` in `view` (one datagram of a received batch).
 * `senderPort` is the sender's netlink port id; only the kernel (0) is trusted, because a
 * privileged process can broadcast anything to the group. The caller guarantees that
 * `offset + length` lies within `view`.
 *
 * nlmsg_type is not checked: the kernel sends NLMSG_DONE (3) as a data message here, and
 * the connector id plus the exact payload length already identify a proc event.
 */
export function decodeDatagram(view: DataView, offset: number, length: number, senderPort: number): Decoded {
  if (senderPort !== 0) return NOT_FROM_KERNEL;
  if (length < PROC_EVENT_BYTES) return TRUNCATED;
  const nlmsgLen = view.getUint32(offset, true);
  if (nlmsgLen < PROC_EVENT_BYTES || nlmsgLen > length) return TRUNCATED;
  if (view.getUint32(offset + 16, true) !== CN_IDX_PROC || view.getUint32(offset + 20, true) !== CN_VAL_PROC) {
    return NOT_PROC_CONNECTOR;
  }
  if (view.getUint16(offset + 32, true) !== PROC_EVENT_PAYLOAD_BYTES) return BAD_LENGTH;
  return { ok: true, event: decodeEvent(view, offset) };
}

/** Reads the proc_event of a datagram already validated by `decodeDatagram`. */
function decodeEvent(view: DataView, offset: number): ProcEvent {
  const what = view.getUint32(offset + WHAT_OFFSET, true);
  const cpu = view.getUint32(offset + 40, true);
  const seq = view.getUint32(offset + 24, true);
  // u64 as a double, no BigInt: exact to 2^53 ns (104 days), then within 1 µs for a century; fine for seconds.
  const timestampNs = view.getUint32(offset + 48, true) * 2 ** 32 + view.getUint32(offset + 44, true);
  // The union's first two u32 are (pid, tgid) or (parent_pid, parent_tgid) for fork.
  const a = view.getUint32(offset + UNION_OFFSET, true);
  const b = view.getUint32(offset + UNION_OFFSET + 4, true);

  switch (what) {
    case WHAT.NONE:
      return { what: 'ack', cpu, seq, timestampNs, ack: view.getUint32(offset + 28, true), err: a };
    case WHAT.FORK:
      return {
        what: 'fork',
        cpu,
        seq,
        timestampNs,
        parentPid: a,
        parentTgid: b,
        childPid: view.getUint32(offset + 60, true),
        childTgid: view.getUint32(offset + 64, true),
      };
    case WHAT.EXEC:
      return { what: 'exec', cpu, seq, timestampNs, pid: a, tgid: b };
    case WHAT.UID:
    case WHAT.GID:
      return {
        what: what === WHAT.UID ? 'uid' : 'gid',
        cpu,
        seq,
        timestampNs,
        pid: a,
        tgid: b,
        real: view.getUint32(offset + 60, true),
        effective: view.getUint32(offset + 64, true),
      };
    case WHAT.SID:
      return { what: 'sid', cpu, seq, timestampNs, pid: a, tgid: b };
    case WHAT.PTRACE:
      return {
        what: 'ptrace',
        cpu,
        seq,
        timestampNs,
        pid: a,
        tgid: b,
        tracerPid: view.getUint32(offset + 60, true),
        tracerTgid: view.getUint32(offset + 64, true),
      };
    case WHAT.COMM:
      return { what: 'comm', cpu, seq, timestampNs, pid: a, tgid: b, comm: readComm(view, offset + 60) };
    case WHAT.COREDUMP:
      return {
        what: 'coredump',
        cpu,
        seq,
        timestampNs,
        pid: a,
        tgid: b,
        parentPid: view.getUint32(offset + 60, true),
        parentTgid: view.getUint32(offset + 64, true),
      };
    case WHAT.EXIT:
      return {
        what: 'exit',
        cpu,
        seq,
        timestampNs,
        pid: a,
        tgid: b,
        exitCode: view.getUint32(offset + 60, true),
        exitSignal: view.getInt32(offset + 64, true),
        parentPid: view.getUint32(offset + 68, true),
        parentTgid: view.getUint32(offset + 72, true),
      };
    default:
      return { what: 'other', cpu, seq, timestampNs, code: what };
  }
}

/** Copies the 16-byte comm field up to its first NUL (COMM events are rare, a copy is cheap). */
function readComm(view: DataView, at: number): Uint8Array {
  const field = new Uint8Array(view.buffer, view.byteOffset + at, COMM_BYTES);
  const nul = field.indexOf(0);
  return field.slice(0, nul === -1 ? COMM_BYTES : nul);
}
