import { describe, expect, it } from 'vitest';
import { ForkBombDetector, RECENT_SECONDS, type ForkBombOptions } from '../../src/detect/forkbomb.js';
import type { DeepProcesses } from '../../src/processes/table.js';

const OPTIONS: ForkBombOptions = { chainDepth: 4, chainParents: 20, chainProcesses: 50, clearAfterSeconds: 30, maxComms: 3 };

function nothingDeep(maxDepth = 0): DeepProcesses {
  return { maxDepth, byComm: new Map() };
}

/** `parents` distinct processes (pids from `firstPid`), each forking `forks` times at `depth`. */
function forksByParents(detector: ForkBombDetector, parents: number, depth: number, comm: string, second: number, firstPid = 1000, forks = 2): void {
  for (let pid = firstPid; pid < firstPid + parents; pid++) {
    for (let fork = 0; fork < forks; fork++) detector.recordFork(pid, depth, comm, second);
  }
}

describe('ForkBombDetector', () => {
  it('counts forks by parents at the chain depth or deeper, and no others', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forksByParents(detector, 5, 3, 'shallow', 100);
    forksByParents(detector, 3, 4, 'deep', 100);
    forksByParents(detector, 2, 30, 'deep', 100, 2000);

    expect(Object.fromEntries(detector.chainForks.counts)).toEqual({ deep: 10 });
  });

  it('suspects a name when enough distinct processes in chains forked recently', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forksByParents(detector, 20, 5, 'bomb', 100);
    detector.evaluate(100, nothingDeep(12));

    expect(detector.suspected).toEqual(['bomb']);
    expect(detector.maxDepth).toBe(12);
  });

  it('does not suspect many processes in chains that fork once each: a loop of nested subshells', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forksByParents(detector, 200, 6, 'bash', 100, 1000, 1);
    detector.evaluate(100, nothingDeep());

    expect(detector.suspected).toEqual([]);
  });

  it('does not suspect one busy parent deep in a chain, however much it forks', () => {
    const detector = new ForkBombDetector(OPTIONS);
    for (let i = 0; i < 10_000; i++) detector.recordFork(4242, 6, 'script', 100);
    detector.evaluate(100, nothingDeep());

    expect(detector.suspected).toEqual([]);
    expect(detector.chainForks.counts.get('script')).toBe(10_000);
  });

  it('does not count parents that forked before the recent window', () => {
    const detector = new ForkBombDetector(OPTIONS);
    forksByParents(detector, 1000, 5, 'old', 100);
    detector.evaluate(100 + RECENT_SECONDS, nothingDeep());

    expect(detector.suspected).toEqual([]);
  });

  it('suspects a name with many live processes in chains, even when they no longer fork', () => {
    const detector = new ForkBombDetector(OPTIONS);
    detector.evaluate(100, { maxDepth: 6, byComm: new Map([['cbomb', 50], ['other', 49]]) });

    expect(detector.suspected).toEqual(['cbomb']);
  });

  it('clears a suspicion once neither sign was seen for the clear-after time', () => {
    const detector = new ForkBombDetector(OPTIONS);
    detector.evaluate(100, { maxDepth: 6, byComm: new Map([['cbomb', 60]]) });
    detector.evaluate(100 + OPTIONS.clearAfterSeconds - 1, nothingDeep());
    expect(detector.suspected).toEqual(['cbomb']);

    detector.evaluate(100 + OPTIONS.clearAfterSeconds, nothingDeep());
    expect(detector.suspected).toEqual([]);
  });

  it('keeps labels bounded: names past the cap are suspected as __other__', () => {
    const detector = new ForkBombDetector(OPTIONS);
    for (const comm of ['a', 'b', 'c']) forksByParents(detector, 1, 5, comm, 100);
    detector.evaluate(101, { maxDepth: 9, byComm: new Map([['d', 50], ['e', 50]]) });

    expect(detector.suspected).toEqual(['__other__']);
  });
});
