import { describe, expect, it } from 'vitest';
import { PeakPerSecond } from '../../src/accounting/peak.js';

/** Adds `count` forks in `second`. */
function addForks(peak: PeakPerSecond, second: number, count: number): void {
  for (let i = 0; i < count; i++) peak.add(second);
}

describe('PeakPerSecond', () => {
  it('is 0 before any fork', () => {
    const peak = new PeakPerSecond(() => 0);

    expect(peak.peak(1000)).toBe(0);
  });

  it('counts the forks of one whole second', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 10, 3);

    expect(peak.peak(11)).toBe(3);
  });

  it('reports the busiest second, not the sum', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 10, 2);
    addForks(peak, 11, 5);
    addForks(peak, 12, 1);

    expect(peak.peak(13)).toBe(5);
  });

  it('leaves out the second in progress', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 19, 2);
    addForks(peak, 20, 4);

    expect(peak.peak(20)).toBe(2);
    expect(peak.peak(21)).toBe(4);
  });

  it('still counts a second exactly 60 s before now', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 100, 3);

    expect(peak.peak(160)).toBe(3);
  });

  it('forgets a second more than 60 s before now', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 100, 3);

    expect(peak.peak(161)).toBe(0);
  });

  it('finds an older peak behind a quieter recent second', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 100, 7);
    addForks(peak, 150, 2);

    expect(peak.peak(155)).toBe(7);
    expect(peak.peak(161)).toBe(2);
  });

  it('starts a reused slot from zero for the newer second', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 100, 5);

    addForks(peak, 161, 2); // 61 s later: the same slot as second 100

    expect(peak.peak(162)).toBe(2);
  });

  it('ignores an event older than the ring without disturbing the newer second', () => {
    const peak = new PeakPerSecond(() => 0);
    addForks(peak, 161, 1);

    addForks(peak, 100, 3); // arrives late, for the second that slot held before
    addForks(peak, 161, 1);

    expect(peak.peak(162)).toBe(2);
  });
});
