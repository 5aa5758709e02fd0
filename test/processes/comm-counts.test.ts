import { describe, expect, it } from 'vitest';
import { OTHER_COMM, CommCounts } from '../../src/processes/comm-counts.js';

/** Counts each of `comms` once, all in `second`. */
function addAll(counts: CommCounts, comms: string[], second = 0): void {
  for (const comm of comms) counts.add(comm, second);
}

describe('CommCounts', () => {
  it('starts with __other__ at 0 and no name', () => {
    const counts = new CommCounts(3);

    expect(counts.counts).toEqual(new Map([[OTHER_COMM, 0]]));
  });

  it('counts forks by name', () => {
    const counts = new CommCounts(3);

    addAll(counts, ['bash', 'make', 'bash']);

    expect(counts.counts.get('bash')).toBe(2);
    expect(counts.counts.get('make')).toBe(1);
  });

  it('counts nothing under __other__ while under the cap', () => {
    const counts = new CommCounts(2);

    addAll(counts, ['bash', 'make']);

    expect(counts.counts.get(OTHER_COMM)).toBe(0);
  });

  it('counts new names past the cap under __other__', () => {
    const counts = new CommCounts(2);

    addAll(counts, ['bash', 'make', 'cc1', 'ld', 'cc1']);

    expect(counts.counts.get(OTHER_COMM)).toBe(3);
    expect(counts.counts.has('cc1')).toBe(false);
    expect(counts.counts.has('ld')).toBe(false);
  });

  it('keeps at most maxComms names besides __other__', () => {
    const counts = new CommCounts(2);

    addAll(counts, ['a', 'b', 'c', 'd', 'e']);

    expect([...counts.counts.keys()].sort()).toEqual([OTHER_COMM, 'a', 'b']);
  });

  it('keeps counting names already known after the cap is hit', () => {
    const counts = new CommCounts(2);
    addAll(counts, ['bash', 'make', 'cc1']);

    addAll(counts, ['bash', 'make', 'make']);

    expect(counts.counts.get('bash')).toBe(2);
    expect(counts.counts.get('make')).toBe(3);
    expect(counts.counts.get(OTHER_COMM)).toBe(1);
  });

  it('gives the slot of a name idle for a whole window to a newcomer, with its count moved to __other__', () => {
    const counts = new CommCounts(2, 60);
    addAll(counts, ['a', 'b', 'a'], 0); // window 0
    addAll(counts, ['a', 'c'], 60); // window 1: b idle, c has no slot
    expect(counts.labelFor('c')).toBe(OTHER_COMM);

    addAll(counts, ['a'], 120); // window 2: b was idle all of window 1

    expect(counts.counts).toEqual(new Map([[OTHER_COMM, 2], ['a', 4], ['c', 0]]));
    expect(counts.add('c', 121)).toBe('c');
  });

  it('gives the slot of the least busy name to a name twice as busy without a slot', () => {
    const counts = new CommCounts(2, 60);
    addAll(counts, ['busy', 'busy', 'busy', 'slow'], 0);
    for (let i = 0; i < 5; i++) addAll(counts, ['busy', 'busy', 'slow', 'bomb', 'bomb', 'bomb'], 60 + i);

    counts.add('busy', 120); // the next window deals the slots again

    expect(counts.labelFor('bomb')).toBe('bomb');
    expect(counts.labelFor('slow')).toBe(OTHER_COMM);
    expect(counts.labelFor('busy')).toBe('busy');
    // Every count is still somewhere: 4 + 30 in the windows, 1 after.
    expect([...counts.counts.values()].reduce((sum, count) => sum + count, 0)).toBe(35);
  });

  it('keeps the holders when newcomers are not twice as busy, so slots do not swap back and forth', () => {
    const counts = new CommCounts(1, 60);
    for (let i = 0; i < 10; i++) addAll(counts, ['holder', 'rival'], i);

    counts.add('holder', 60);

    expect(counts.labelFor('holder')).toBe('holder');
    expect(counts.labelFor('rival')).toBe(OTHER_COMM);
  });

  it('cannot be exhausted by many names: the busiest of the last window gets a slot', () => {
    const counts = new CommCounts(50, 60);
    for (let name = 0; name < 1000; name++) addAll(counts, [`spam-${name}`, `spam-${name}`], 0);
    for (let name = 0; name < 1000; name++) counts.add(`spam-${name}`, 60);
    for (let i = 0; i < 500; i++) counts.add('fw-bomb', 60 + i / 10);

    counts.add('spam-0', 120);

    expect(counts.labelFor('fw-bomb')).toBe('fw-bomb');
    expect(counts.counts.size).toBeLessThanOrEqual(51);
  });
});
