// Label slots an attacker cannot use up: an unprivileged user runs 1,000 differently named
// processes that each fork in a chain, filling every comm slot forkwatch has; then a fork
// bomb with a new name starts in a pids cgroup, and the detector still names it.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startCBomb } from '../helpers/bombs.js';
import { containmentUnavailable, createContainment, destroyAllContainments } from '../helpers/cgroup.js';
import { namedChainsAs, removeForkers, uniqueName } from '../helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const MAX_COMMS = 50;
const NOBODY = 65534;

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeHostile = describeIfAvailable(unavailable, 'cannot subscribe or make a pids cgroup here');

describeHostile('hostile process names', () => {
  let forkwatch: RunningForkwatch;

  beforeAll(async () => {
    forkwatch = await startForkwatch([`--parents.max-comms=${MAX_COMMS}`, '--forkbomb.clear-after=5s']);
  });

  afterEach(async () => {
    await destroyAllContainments();
  });

  afterAll(async () => {
    await forkwatch?.stop();
    removeForkers();
  });

  const series = (page: string, name: string): string[] =>
    parseSamples(page)
      .filter((sample) => sample.name === name)
      .map((sample) => sample.labels.comm!);

  it('names a bomb that starts after an unprivileged user filled every comm slot', async () => {
    const prefix = uniqueName('fw-s').slice(0, 8);
    namedChainsAs(NOBODY, prefix, 1000, 4);
    const filled = await forkwatch.scrape();
    // Every slot is taken, most by the user's names (the other processes on a busy machine
    // take some first), and no more series than slots exist.
    const named = series(filled, 'forkwatch_parent_forks_total').filter((comm) => comm !== '__other__');
    expect(named.length).toBe(MAX_COMMS);
    expect(named.filter((comm) => comm.startsWith(prefix)).length).toBeGreaterThanOrEqual(MAX_COMMS / 2);
    expect(series(filled, 'forkwatch_parent_forks_total').length).toBeLessThanOrEqual(MAX_COMMS + 1);
    expect(series(filled, 'forkwatch_chain_forks_total').length).toBeLessThanOrEqual(MAX_COMMS + 1);

    const bombName = uniqueName('fw-bomb-');
    const bomb = startCBomb(createContainment(300), bombName);
    const deadline = Date.now() + 20_000;
    let suspected: string[] = [];
    while (!suspected.includes(bombName) && Date.now() < deadline) {
      await sleep(200);
      suspected = parseSamples(await forkwatch.scrape())
        .filter((sample) => sample.name === 'forkwatch_forkbomb_suspected' && sample.value === 1)
        .map((sample) => sample.labels.comm!);
    }
    await bomb.stop();

    expect(suspected).toContain(bombName);
    expect(suspected).not.toContain('__other__');
  }, 120_000);
});
