import { describe, expect, it } from 'vitest';
import { ForkBombDetector, RATE_WINDOW_SECONDS, type ForkBombOptions } from '../../src/detect/forkbomb.js';
import type { DeepProcesses } from '../../src/processes/table.js';

const OPTIONS: ForkBombOptions = { chainDepth: 8, chainForksPerSecond: 20, chainProcesses: 50, clearAfterSeconds: 30, maxComms: 3 };

function nothingDeep(maxDepth = 0): DeepProcesses {
  return { maxDepth, byComm: new Map() };
}

function forks(detector: ForkBombDetector, count: number, depth: number, comm: string, second: number): void {
  for (let i = 0; i < count; i++) detector.recordFork(depth, comm, second);
}

describe('ForkBombDetector', () => {
  it('counts forks by parents at the chain depth or deeper, and no others', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forks(detector, 5, 7, 'shallow', 100);
    forks(detector, 3, 8, 'deep', 100);
    forks(detector, 2, 30, 'deep', 100);

    expect(Object.fromEntries(detector.chainForks.counts)).toEqual({ deep: 5 });
  });

  it('suspects a name whose chain forks reach the rate over the window', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forks(detector, 20 * RATE_WINDOW_SECONDS, 9, 'bomb', 100);
    detector.evaluate(100, nothingDeep(12));

    expect(detector.suspected).toEqual(['bomb']);
    expect(detector.maxDepth).toBe(12);
  });

  it('does not suspect chain forks below the rate', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forks(detector, 20 * RATE_WINDOW_SECONDS - 1, 9, 'script', 100);
    detector.evaluate(100, nothingDeep());

    expect(detector.suspected).toEqual([]);
  });

  it('does not count chain forks older than the window towards the rate', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forks(detector, 1000, 9, 'old', 100);
    detector.evaluate(100 + RATE_WINDOW_SECONDS, nothingDeep());

    expect(detector.suspected).toEqual([]);
  });

  it('suspects a name with many live processes deep in chains, even when they no longer fork', () => {
    const detector = new ForkBombDetector(OPTIONS);
    detector.evaluate(100, { maxDepth: 15, byComm: new Map([['cbomb', 50], ['other', 49]]) });

    expect(detector.suspected).toEqual(['cbomb']);
  });

  it('clears a suspicion once neither sign was seen for the clear-after time', () => {
    const detector = new ForkBombDetector(OPTIONS);
    detector.evaluate(100, { maxDepth: 15, byComm: new Map([['cbomb', 60]]) });
    detector.evaluate(100 + OPTIONS.clearAfterSeconds - 1, nothingDeep());
    expect(detector.suspected).toEqual(['cbomb']);

    detector.evaluate(100 + OPTIONS.clearAfterSeconds, nothingDeep());
    expect(detector.suspected).toEqual([]);
  });

  it('keeps labels bounded: names past the cap are suspected as __other__', () => {
    const detector = new ForkBombDetector(OPTIONS);
    for (const comm of ['a', 'b', 'c']) forks(detector, 1, 9, comm, 100);
    detector.evaluate(101, { maxDepth: 9, byComm: new Map([['d', 50], ['e', 50]]) });

    expect(detector.suspected).toEqual(['__other__']);
  });
});
