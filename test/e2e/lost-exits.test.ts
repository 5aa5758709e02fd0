// After a loss, the process table is brought back to the truth from /proc (issue 11): a
// bomb killed while its exit events were lost leaves no ghosts to hold a suspicion up.
// With pid_max at 4194304, as on most nodes, a ghost's pid is not reused for hours.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startBashBomb } from '../helpers/bombs.js';
import { containmentUnavailable, createContainment, destroyAllContainments } from '../helpers/cgroup.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples, sampleValue } from '../helpers/metrics-text.js';
import { describeIfAvailable } from '../helpers/requirements.js';
import { startStorm, type Storm } from '../helpers/storm.js';

const PID_MAX = '/proc/sys/kernel/pid_max';
const LARGE_PID_MAX = '4194304';
const CLEAR_AFTER_SECONDS = 5;
const CHAIN_DEPTH = 3; // the default --forkbomb.chain-depth
const CHAIN_PROCESSES = 32; // the default --forkbomb.chain-processes

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeKernelAndCgroups = describeIfAvailable(unavailable, 'needs the proc connector and pids cgroups');

/** The pids of `pids` that still exist (zombies too). */
function existing(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      readFileSync(`/proc/${pid}/stat`);
      return true;
    } catch {
      return false;
    }
  });
}

/** What the reconciliation passes logged (forkwatch runs with --log.level debug). */
function passes(stderr: string): { removed: number; checked: number }[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"msg":"reconciled the process table with /proc after lost events"'))
    .map((line) => JSON.parse(line) as { removed: number; checked: number });
}

describeKernelAndCgroups('lost exit events', () => {
  let savedPidMax: string | undefined;
  let forkwatch: RunningForkwatch | undefined;
  let storm: Storm | undefined;

  const restorePidMax = (): void => {
    if (savedPidMax !== undefined) writeFileSync(PID_MAX, savedPidMax);
  };

  beforeAll(() => {
    savedPidMax = readFileSync(PID_MAX, 'utf8').trim();
    process.once('exit', restorePidMax); // should the worker end before afterAll
    writeFileSync(PID_MAX, LARGE_PID_MAX);
  });

  afterEach(async () => {
    await storm?.stop();
    // In case the test failed while it was stopped.
    if (forkwatch && forkwatch.child.exitCode === null && forkwatch.child.signalCode === null) process.kill(forkwatch.pid, 'SIGCONT');
    await forkwatch?.stop();
    await destroyAllContainments();
    forkwatch = storm = undefined;
  });

  afterAll(() => {
    restorePidMax();
    process.off('exit', restorePidMax);
    expect(readFileSync(PID_MAX, 'utf8').trim()).toBe(savedPidMax);
  });

  it('clears the suspicion of a bomb killed while forkwatch lost its exits, and the chain depth falls back', async () => {
    forkwatch = await startForkwatch([
      '--netlink.receive-buffer-bytes', '1MiB',
      '--forkbomb.clear-after', `${CLEAR_AFTER_SECONDS}s`,
      '--log.level', 'debug',
    ]);
    const scrape = async (): Promise<{ suspected: string[]; depth: number; lost: number }> => {
      const page = await forkwatch!.scrape();
      return {
        suspected: parseSamples(page).filter((s) => s.name === 'forkwatch_forkbomb_suspected' && s.value === 1).map((s) => s.labels.comm!),
        depth: sampleValue(page, 'forkwatch_fork_chain_depth_max'),
        lost: sampleValue(page, 'forkwatch_events_lost_total'),
      };
    };

    const bomb = startBashBomb(createContainment(300));
    let during = await scrape();
    for (const deadline = Date.now() + 20_000; !during.suspected.includes('bash') && Date.now() < deadline; during = await scrape()) await sleep(200);
    expect(during.suspected, 'the bomb was not suspected in the first place').toContain('bash');
    expect(during.depth).toBeGreaterThanOrEqual(CHAIN_DEPTH);

    // Stopped, forkwatch reads nothing: the storm fills its buffer, and the bomb's exits are dropped.
    storm = startStorm(8);
    await sleep(1000);
    process.kill(forkwatch.pid, 'SIGSTOP');
    await sleep(1000);
    const copies = bomb.containment.pids();
    await bomb.stop();
    for (const deadline = Date.now() + 15_000; existing(copies).length > 0 && Date.now() < deadline; ) await sleep(100);
    expect(existing(copies), 'the killed copies are still there').toEqual([]);
    process.kill(forkwatch.pid, 'SIGCONT');
    const continuedAt = Date.now();

    let after = await scrape();
    const deadline = continuedAt + (CLEAR_AFTER_SECONDS + 15) * 1000;
    while ((after.suspected.includes('bash') || after.depth >= CHAIN_DEPTH) && Date.now() < deadline) {
      await sleep(250);
      after = await scrape();
    }
    const clearedAfterMs = Date.now() - continuedAt;

    expect(after.lost, 'nothing was lost: the test did not test anything').toBeGreaterThan(1000);
    // Ghosts there were, and a pass took them away: at least as many as it takes to suspect a name.
    const removed = passes(forkwatch.stderr()).reduce((sum, pass) => sum + pass.removed, 0);
    expect(removed).toBeGreaterThanOrEqual(CHAIN_PROCESSES);
    expect(after.suspected).not.toContain('bash');
    expect(after.depth).toBeLessThan(CHAIN_DEPTH);
    console.log(
      `bash bomb (cap 300), depth ${during.depth} while it ran; ${after.lost} events lost while forkwatch was stopped; ` +
        `${removed} ghosts removed in ${passes(forkwatch.stderr()).length} passes; suspicion cleared and depth at ${after.depth} ` +
        `${clearedAfterMs} ms after SIGCONT (clear-after ${CLEAR_AFTER_SECONDS} s)`,
    );

    const exit = await forkwatch.stop();
    expect(exit.code).toBe(0);
  }, 120_000);
});
