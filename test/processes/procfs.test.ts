import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStat, Procfs, SAME_START_NS, sameStart } from '../../src/processes/procfs.js';
import { FakeProcTree } from '../helpers/proc-tree.js';

describe('parseStat', () => {
  it('reads the state, the parent and the start time after the last parenthesis', () => {
    const stat = Buffer.from('4242 (a) b) (c) S 17 4242 4242 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 229153 3133440 379\n');

    expect(parseStat(stat)).toEqual({ comm: 'a) b) (c', state: 'S', ppid: 17, startTicks: 229153 });
  });

  it('keeps a name with spaces, newlines and bytes that are not UTF-8, cut to 15 bytes', () => {
    const name = Buffer.concat([Buffer.from('x y\nz '), Buffer.from([0xff, 0xfe]), Buffer.from('0123456789')]);
    const stat = Buffer.concat([Buffer.from('7 ('), name, Buffer.from(') R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n')]);

    expect(parseStat(stat)).toMatchObject({ comm: 'x y\nz \uFFFD\uFFFD0123456', state: 'R', ppid: 1, startTicks: 55 });
  });

  it('refuses text that is not a stat line', () => {
    expect(parseStat(Buffer.from('no parentheses here'))).toBeUndefined();
    expect(parseStat(Buffer.from('1 (x) S'))).toBeUndefined();
  });

  it('reads this process as the kernel shows it', () => {
    const parsed = parseStat(readFileSync('/proc/self/stat'));

    expect(parsed?.comm).toBe(readFileSync('/proc/self/comm', 'utf8').replace(/\n$/, '').slice(0, 15));
    expect(parsed?.ppid).toBe(process.ppid);
  });
});

describe('Procfs.running', () => {
  let tree: FakeProcTree;
  afterEach(() => tree.destroy());

  it('gives name, parent and start time on the event clock', () => {
    tree = new FakeProcTree();
    tree.add(300, { comm: 'bash', ppid: 299, startedNs: 900.123_456_789e9 });

    const found = tree.procfs.running(300);

    expect(found).toMatchObject({ comm: 'bash', ppid: 299 });
    expect(sameStart(found!.startedNs, 900.123_456_789e9)).toBe(true);
  });

  it('takes the time spent suspended out of the start time (/proc counts it, event times do not)', () => {
    tree = new FakeProcTree();
    tree.advance(5e9, 3600e9); // slept an hour
    tree.add(300, { comm: 'bash', startedNs: 1_004e9 });

    expect(sameStart(tree.procfs.running(300)!.startedNs, 1_004e9)).toBe(true);
  });

  it('has no process where the pid is gone, or only a zombie is left', () => {
    tree = new FakeProcTree();
    tree.add(5, { comm: 'dead', state: 'Z' });

    expect(tree.procfs.running(5)).toBeUndefined();
    expect(tree.procfs.running(6)).toBeUndefined();
  });

  it('sees the real start time of a real process, as its fork event would carry it', () => {
    const found = new Procfs().running(process.pid);
    const uptimeNs = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1e9;
    const nowNs = Number(process.hrtime.bigint());

    // This process started before now, and after boot.
    expect(found!.startedNs).toBeLessThanOrEqual(nowNs + SAME_START_NS);
    expect(found!.startedNs).toBeGreaterThan(nowNs - uptimeNs - SAME_START_NS);
  });
});
