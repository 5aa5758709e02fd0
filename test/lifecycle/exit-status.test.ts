import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { exitReason, isProcessExit, killingSignal, SIGNAL_NAMES, signalName } from '../../src/lifecycle/exit-status.js';
import { exitEvent } from '../helpers/events.js';

describe('exit status', () => {
  // Wait statuses as the kernel sent them (measured: exit(3) arrived as 768, SIGKILL as 9,
  // a SIGSEGV that wrote no core as 11, an abort() that wrote one as 134 = 6 | 0x80).
  it.each([
    [0, 'success', 0],
    [768, 'failure', 0],
    [255 << 8, 'failure', 0],
    [9, 'signal', 9],
    [11, 'signal', 11],
    [134, 'signal', 6],
  ])('reads status %i as %s, killed by signal %i', (status, reason, signal) => {
    expect(exitReason(status)).toBe(reason);
    expect(killingSignal(status)).toBe(signal);
  });

  it('names signals as this platform numbers them, the first name where two share a number', () => {
    expect(signalName(constants.signals.SIGKILL)).toBe('SIGKILL');
    expect(signalName(constants.signals.SIGSEGV)).toBe('SIGSEGV');
    expect(signalName(constants.signals.SIGABRT)).toBe('SIGABRT'); // not SIGIOT
    expect(signalName(34)).toBe('SIG34'); // a real-time signal has no name
  });

  it('lists each named signal once, in number order', () => {
    expect(SIGNAL_NAMES).toContain('SIGTERM');
    expect(SIGNAL_NAMES).not.toContain('SIGIOT');
    expect(new Set(SIGNAL_NAMES).size).toBe(SIGNAL_NAMES.length);
    const numbers = SIGNAL_NAMES.map((name) => constants.signals[name as keyof typeof constants.signals]);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('tells the end of a process from the end of one of its threads', () => {
    expect(isProcessExit(exitEvent(100, 100))).toBe(true);
    expect(isProcessExit(exitEvent(101, 100))).toBe(false);
  });
});
