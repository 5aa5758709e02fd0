// How a process ended, read from its EXIT event. The event's exit_code is the wait(2)
// status (docs/kernel.md): the low 7 bits are the signal that killed it (0 when it exited
// by itself), bits 8 to 15 its exit code, 0x80 that it dumped core. The event's
// exit_signal is something else: the signal its parent is sent (SIGCHLD, -1 for threads).
// Exported for every listener that counts exits (lifecycle, workloads) to read them alike.
import { constants } from 'node:os';
import type { ExitEvent } from '../kernel/decode.js';

export const EXIT_REASONS = ['success', 'failure', 'signal'] as const;
export type ExitReason = (typeof EXIT_REASONS)[number];

/** A process ended (its main thread), not just one of its threads. */
export function isProcessExit(event: ExitEvent): boolean {
  return event.pid === event.tgid;
}

/** `signal` when a signal killed it, else `success` for exit code 0 and `failure` for any other. */
export function exitReason(status: number): ExitReason {
  if (killingSignal(status) !== 0) return 'signal';
  return (status >> 8) & 0xff ? 'failure' : 'success';
}

/** The number of the signal that killed it; 0 when it exited by itself. */
export function killingSignal(status: number): number {
  return status & 0x7f;
}

// Numbers differ between architectures: take them from the platform Node.js was built for.
// Where two names share a number (SIGABRT and SIGIOT, SIGIO and SIGPOLL), the first listed.
const NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) if (!NAMES.has(number)) NAMES.set(number, name);

/** The signals with a name, in number order: known in advance, so exported from the start. */
export const SIGNAL_NAMES: readonly string[] = [...NAMES.entries()].sort(([a], [b]) => a - b).map(([, name]) => name);

/** SIGKILL for 9; a number without a name (the real-time signals) as SIG34. At most 127 values. */
export function signalName(signal: number): string {
  return NAMES.get(signal) ?? `SIG${signal}`;
}
