// Decoded proc events as plain objects, so accounting and attribution tests read as field
// lists. Header fields the test does not name take harmless defaults (cpu 0, seq 0, time 0).
import type { CommEvent, CoredumpEvent, EventHeader, ExecEvent, ExitEvent, ForkEvent, PtraceEvent, UidEvent } from '../../src/kernel/decode.js';

export type Header = Partial<EventHeader>;

const NS_PER_SECOND = 1e9;

/** A monotonic timestamp in nanoseconds, `seconds` after boot. */
export function atSecond(seconds: number): number {
  return seconds * NS_PER_SECOND;
}

function header({ cpu = 0, seq = 0, timestampNs = 0 }: Header): EventHeader {
  return { cpu, seq, timestampNs };
}

/** A new process: the child is its own thread group leader (childPid === childTgid). */
export function processFork(parentTgid: number, childTgid: number, at: Header = {}): ForkEvent {
  return { what: 'fork', ...header(at), parentPid: parentTgid, parentTgid, childPid: childTgid, childTgid };
}

/** A new thread `threadPid` in process `tgid` (childPid !== childTgid). */
export function threadFork(parentTgid: number, tgid: number, threadPid: number, at: Header = {}): ForkEvent {
  return { what: 'fork', ...header(at), parentPid: parentTgid, parentTgid, childPid: threadPid, childTgid: tgid };
}

export function execEvent(tgid: number, at: Header = {}): ExecEvent {
  return { what: 'exec', ...header(at), pid: tgid, tgid };
}

/** A rename of thread `pid` in process `tgid`; `name` as text is encoded as UTF-8. */
export function commEvent(pid: number, tgid: number, name: string | Uint8Array, at: Header = {}): CommEvent {
  const comm = typeof name === 'string' ? new TextEncoder().encode(name) : name;
  return { what: 'comm', ...header(at), pid, tgid, comm };
}

/** The end of thread `pid` of process `tgid`; `status` is the wait(2) status (exit(3) is 768). */
export function exitEvent(pid: number, tgid: number, at: Header = {}, status = 0): ExitEvent {
  return { what: 'exit', ...header(at), pid, tgid, exitCode: status, exitSignal: pid === tgid ? 17 : -1, parentPid: 1, parentTgid: 1 };
}

/** Thread `pid` of process `tgid` changed its effective user to `effective`. */
export function uidEvent(pid: number, tgid: number, effective: number, real = 0, at: Header = {}): UidEvent {
  return { what: 'uid', ...header(at), pid, tgid, real, effective };
}

/** `tracerTgid` attached to process `tgid`; a tracer of 0 is a detach, as the kernel sends it. */
export function ptraceEvent(tgid: number, tracerTgid: number, at: Header = {}): PtraceEvent {
  return { what: 'ptrace', ...header(at), pid: tgid, tgid, tracerPid: tracerTgid, tracerTgid };
}

export function coredumpEvent(tgid: number, at: Header = {}): CoredumpEvent {
  return { what: 'coredump', ...header(at), pid: tgid, tgid, parentPid: 1, parentTgid: 1 };
}
