import { describe, expect, it } from 'vitest';
import { OTHER_COMM, CommCounts } from '../../src/processes/comm-counts.js';

function addAll(counts: CommCounts, comms: string[]): void {
  for (const comm of comms) counts.add(comm);
}

describe('CommCounts', () => {
  it('starts empty', () => {
    const counts = new CommCounts(3);

    expect(counts.counts.size).toBe(0);
  });

  it('counts forks by name', () => {
    const counts = new CommCounts(3);

    addAll(counts, ['bash', 'make', 'bash']);

    expect(counts.counts.get('bash')).toBe(2);
    expect(counts.counts.get('make')).toBe(1);
  });

  it('has no __other__ while under the cap', () => {
    const counts = new CommCounts(2);

    addAll(counts, ['bash', 'make']);

    expect(counts.counts.has(OTHER_COMM)).toBe(false);
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

    expect([...counts.counts.keys()]).toEqual(['a', 'b', OTHER_COMM]);
  });

  it('keeps counting names already known after the cap is hit', () => {
    const counts = new CommCounts(2);
    addAll(counts, ['bash', 'make', 'cc1']);

    addAll(counts, ['bash', 'make', 'make']);

    expect(counts.counts.get('bash')).toBe(2);
    expect(counts.counts.get('make')).toBe(3);
    expect(counts.counts.get(OTHER_COMM)).toBe(1);
  });
});
