// The real kernel, the real command: forks counted exactly and attributed by name.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { forkAs, forkerDir, forkRenamed, removeForkers, threadsAs, uniqueName } from '../helpers/forker.js';
import { settle, sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { parseSamples, sampleValue } from '../helpers/metrics-text.js';
import { between, reading, readingAfter } from '../helpers/kernel-forks.js';

const threads = (page: string): number => sampleValue(page, 'forkwatch_forks_total', { kind: 'thread' });
const processes = (page: string): number => sampleValue(page, 'forkwatch_forks_total', { kind: 'process' });
const attributed = (page: string): number =>
  parseSamples(page).filter((s) => s.name === 'forkwatch_parent_forks_total').reduce((sum, s) => sum + s.value, 0);

describeKernel('counting forks from the kernel', () => {
  let forkwatch: RunningForkwatch;

  beforeAll(async () => {
    forkwatch = await startForkwatch();
  });

  afterAll(async () => {
    await forkwatch?.stop();
    removeForkers();
  });

  it('counts a child that forks exactly N times exactly N times, under its name', async () => {
    const name = uniqueName('fw-exact-');
    forkAs(name, 137);
    const counted = await settle(forkwatch, (page) => sampleValue(page, 'forkwatch_parent_forks_total', { comm: name }), 137);
    expect(counted).toBe(137);
    // Nothing more arrives later under that name.
    await sleep(300);
    expect(sampleValue(await forkwatch.scrape(), 'forkwatch_parent_forks_total', { comm: name })).toBe(137);
  });

  it('attributes forks to the name a process gave itself with prctl(PR_SET_NAME)', async () => {
    const first = uniqueName('fw-first-');
    const renamed = uniqueName('fw-renamed-');
    forkRenamed(first, 7, Buffer.from(renamed), 42);
    const counted = await settle(forkwatch, (page) => sampleValue(page, 'forkwatch_parent_forks_total', { comm: renamed }), 42);
    expect(counted).toBe(42);
    expect(sampleValue(await forkwatch.scrape(), 'forkwatch_parent_forks_total', { comm: first })).toBe(7);
  });

  it('moves forkwatch_forks_total as /proc/stat counts forks, bracketed while the machine forks', async () => {
    const name = uniqueName('fw-window-');
    const before = await reading(forkwatch.scrape);
    forkAs(name, 500);
    const after = await readingAfter(forkwatch.scrape, before);
    const window = between(before, after);
    expect(window.kernelAtLeast).toBeGreaterThanOrEqual(501); // the forker itself, and its 500
    expect(window.counted).toBeGreaterThanOrEqual(window.kernelAtLeast);
    expect(window.counted).toBeLessThanOrEqual(window.kernelAtMost);
    expect(sampleValue(after.page, 'forkwatch_parent_forks_total', { comm: name })).toBe(500);
    // Every fork is an event of type fork, and every process fork is attributed to a parent.
    expect(sampleValue(after.page, 'forkwatch_events_total', { event: 'fork' })).toBe(after.counted);
    expect(attributed(after.page)).toBe(processes(after.page));
  });

  it('counts threads as kind="thread" and never attributes them as process forks', async () => {
    const name = uniqueName('fw-threads-');
    const before = await reading(forkwatch.scrape);
    threadsAs(name, 64);
    const after = await readingAfter(forkwatch.scrape, before);
    const window = between(before, after);

    expect(threads(after.page) - threads(before.page)).toBeGreaterThanOrEqual(64);
    // The threads' process made no process fork of its own.
    expect(sampleValue(after.page, 'forkwatch_parent_forks_total', { comm: name })).toBe(0);
    // Every process fork is attributed to a parent, and no thread is.
    expect(attributed(after.page) - attributed(before.page)).toBe(processes(after.page) - processes(before.page));
    expect(window.counted).toBeGreaterThanOrEqual(window.kernelAtLeast);
    expect(window.counted).toBeLessThanOrEqual(window.kernelAtMost);
  });

  it('names a parent by the program it exec\'d, not by the one that forked it', async () => {
    const name = uniqueName('fw-sh-');
    const shell = join(forkerDir(), name);
    copyFileSync('/bin/sh', shell);
    // Each copy forks twice, then waits for its stdin to close: alive while its exec is read,
    // however busy the machine (a program gone before the reader or /proc could name it
    // counts under __unknown__, which the README says).
    const runs = Array.from({ length: 30 }, () => spawn(shell, ['-c', '/bin/true; /bin/true; read line'], { stdio: ['pipe', 'ignore', 'inherit'] }));
    try {
      const counted = await settle(forkwatch, (page) => sampleValue(page, 'forkwatch_parent_forks_total', { comm: name }), 60);
      expect(counted).toBe(60);
    } finally {
      for (const child of runs) {
        child.stdin.end();
        if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      }
    }
  });

  it('loses nothing and rejects nothing while counting', async () => {
    const page = await forkwatch.scrape();
    expect(sampleValue(page, 'forkwatch_events_lost_total')).toBe(0);
    expect(sampleValue(page, 'forkwatch_messages_invalid_total')).toBe(0);
    expect(sampleValue(page, 'forkwatch_subscribed')).toBe(1);
  });
});
