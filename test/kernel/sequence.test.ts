import { describe, it, expect } from 'vitest';
import { WHAT } from '../../src/kernel/decode.js';
import { SequenceTracker } from '../../src/kernel/sequence.js';
import { datagram, decode } from './fixtures.js';

/** Feeds (cpu, seq) pairs in order and returns what each observation reported. */
function feed(tracker: SequenceTracker, messages: ReadonlyArray<readonly [cpu: number, seq: number]>): number[] {
  return messages.map(([cpu, seq]) => tracker.observe(cpu, seq));
}

describe('SequenceTracker', () => {
  it('counts nothing for a contiguous stream', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [0, 1, 2, 3, 4, 5].map((seq) => [0, seq] as const));

    expect(gaps).toEqual([0, 0, 0, 0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('counts a gap of 5', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [0, 10],
      [0, 11],
      [0, 17],
      [0, 18],
    ]);

    expect(gaps).toEqual([0, 0, 5, 0]);
    expect(tracker.lost).toBe(5);
  });

  it('tracks interleaved CPUs independently', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [0, 100],
      [1, 7],
      [3, 0],
      [0, 101],
      [1, 8],
      [1, 12], // 9, 10, 11 lost on CPU 1
      [3, 1],
      [0, 103], // 102 lost on CPU 0
      [3, 2],
    ]);

    expect(gaps).toEqual([0, 0, 0, 0, 0, 3, 0, 1, 0]);
    expect(tracker.lost).toBe(4);
  });

  it('wraps from 0xffffffff to 0 without loss', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [1, 0xfffffffe],
      [1, 0xffffffff],
      [1, 0],
      [1, 1],
    ]);

    expect(gaps).toEqual([0, 0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('counts loss across the wrap', () => {
    const tracker = new SequenceTracker();

    // 0xffffffff and 0 are missing.
    const gaps = feed(tracker, [
      [1, 0xfffffffe],
      [1, 1],
    ]);

    expect(gaps).toEqual([0, 2]);
    expect(tracker.lost).toBe(2);
  });

  it('takes the first message of each CPU as its baseline, however large its seq', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [2, 4_000_000_000],
      [5, 123_456],
      [2, 4_000_000_001],
    ]);

    expect(gaps).toEqual([0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('counts nothing for a duplicate', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [0, 5],
      [0, 6],
      [0, 6],
      [0, 7],
    ]);

    expect(gaps).toEqual([0, 0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('counts nothing for a step backwards and keeps the baseline', () => {
    const tracker = new SequenceTracker();

    // Had 3 become the baseline, 7 would report 3 lost.
    const gaps = feed(tracker, [
      [0, 6],
      [0, 3],
      [0, 7],
    ]);

    expect(gaps).toEqual([0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('reads a jump of 2^31 or more as a step backwards, and less as loss', () => {
    const backwards = new SequenceTracker();
    expect(feed(backwards, [[0, 0], [0, 2 ** 31 + 1]])).toEqual([0, 0]);

    const lossy = new SequenceTracker();
    expect(feed(lossy, [[0, 0], [0, 2 ** 31]])).toEqual([0, 2 ** 31 - 1]);
    expect(lossy.lost).toBe(2 ** 31 - 1);
  });

  it('ignores the cpu -1 of acknowledgements from old kernels', () => {
    const tracker = new SequenceTracker();

    const gaps = feed(tracker, [
      [0, 1],
      [0xffffffff, 1],
      [0xffffffff, 900],
      [0, 2],
    ]);

    expect(gaps).toEqual([0, 0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('sees no loss when fed every message, acknowledgement included', () => {
    const tracker = new SequenceTracker();
    const stream = [
      datagram({ what: WHAT.FORK, cpu: 1, seq: 40, words: [1, 1, 2, 2] }),
      datagram({ what: WHAT.NONE, cpu: 1, seq: 41, ack: 8 }),
      datagram({ what: WHAT.EXIT, cpu: 1, seq: 42, words: [2, 2, 0, 17, 1, 1] }),
    ];

    const gaps = stream.map((bytes) => {
      const result = decode(bytes);
      if (!result.ok) throw new Error(result.reason);
      return tracker.observe(result.event.cpu, result.event.seq);
    });

    expect(gaps).toEqual([0, 0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it('would see the acknowledgement as a lost message if it were skipped', () => {
    const tracker = new SequenceTracker();

    // The ack at seq 41 shares CPU 1's counter with the events around it.
    const gaps = feed(tracker, [
      [1, 40],
      [1, 42],
    ]);

    expect(gaps).toEqual([0, 1]);
    expect(tracker.lost).toBe(1);
  });
});
