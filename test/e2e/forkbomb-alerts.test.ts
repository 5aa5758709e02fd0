// The fork-bomb detector and the alert rules, end to end: forkwatch on the real kernel,
// a real Prometheus scraping it every second with deploy/prometheus/forkwatch-rules.yml
// (its `for:` durations shortened from minutes to seconds), contained bombs, and the
// benign workloads the detector must leave alone.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';
import { grafanaRegexEscape, interpolate, INTERVALS_AT_1S_SCRAPES, panelQueries } from '../dashboards/dashboard-json.js';
import { startBashBomb, startCBomb, type RunningBomb } from '../helpers/bombs.js';
import { containmentUnavailable, createContainment, destroyAllContainments } from '../helpers/cgroup.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { rulesForTest, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { describeIfAvailable } from '../helpers/requirements.js';
import { BENIGN_WORKLOADS } from '../helpers/workloads.js';

const DASHBOARD = JSON.parse(readFileSync(join(packageRoot, 'dashboards', 'forkwatch-overview.json'), 'utf8')) as Dashboard;

const FLAG_DEADLINE_MS = 10_000; // issue 3: flagged within 10 s of the bomb's start
const ALERT_DEADLINE_MS = 30_000; // issue 3: ForkBombSuspected fires within 30 s

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeKernelAndCgroups = describeIfAvailable(unavailable, 'needs the proc connector and pids cgroups');

describeKernelAndCgroups('fork bombs caught, benign workloads left alone', () => {
  let forkwatch: RunningForkwatch;
  let prometheus: RunningPrometheus;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-alerts-'));
    // A short clear-after, so the suspicion of one bomb is gone before the next test.
    forkwatch = await startForkwatch(['--forkbomb.clear-after', '5s']);
    prometheus = await startPrometheus({ targets: [new URL(forkwatch.url).host], ruleFiles: [rulesForTest(dir)] });
  }, 60_000);

  afterEach(async () => {
    await destroyAllContainments();
  });

  afterAll(async () => {
    await destroyAllContainments();
    await prometheus?.stop();
    await forkwatch?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The dashboard's variables as Grafana substitutes them for this forkwatch. */
  function dashboardValues(): Record<string, string> {
    return { ...INTERVALS_AT_1S_SCRAPES, instance: grafanaRegexEscape(new URL(forkwatch.url).host), comm: '.*' };
  }

  async function suspectedNow(): Promise<string[]> {
    return parseSamples(await forkwatch.scrape())
      .filter((sample) => sample.name === 'forkwatch_forkbomb_suspected' && sample.value === 1)
      .map((sample) => sample.labels.comm!);
  }

  async function firingAlerts(): Promise<string[]> {
    return (await prometheus.query('ALERTS{alertstate="firing"}')).map((sample) => sample.metric.alertname!);
  }

  /** Polls `check` until it returns a value, or gives up at the deadline; returns the ms it took. */
  async function timeUntil(since: number, deadlineMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
    while (Date.now() - since < deadlineMs) {
      if (await check()) return Date.now() - since;
      await sleep(100);
    }
    return undefined;
  }

  it('flags none of the benign workloads, and fires no alert but ForkRateHigh', async () => {
    const flagged = new Set<string>();
    const fired = new Set<string>();
    const bashChainForks = async (): Promise<number> =>
      parseSamples(await forkwatch.scrape()).find((s) => s.name === 'forkwatch_chain_forks_total' && s.labels.comm === 'bash')?.value ?? 0;
    const chainForksBefore = await bashChainForks();
    for (const workload of BENIGN_WORKLOADS) {
      const done = workload.run();
      let finished = false;
      void done.finally(() => (finished = true));
      while (!finished) {
        for (const comm of await suspectedNow()) flagged.add(`${comm} (during ${workload.name})`);
        for (const alert of await firingAlerts()) fired.add(alert);
        await sleep(250);
      }
      await done;
      console.log(`benign workload done, nothing flagged so far: ${workload.name}`);
    }
    await sleep(3000); // the rules' last evaluations
    for (const alert of await firingAlerts()) fired.add(alert);

    expect([...flagged]).toEqual([]);
    expect([...fired].filter((alert) => alert !== 'ForkRateHigh')).toEqual([]);
    // The shell workloads did reach chain depth: the detector saw them, and let them be.
    expect(await bashChainForks()).toBeGreaterThan(chainForksBefore);
  }, 300_000);

  const BOMBS: [name: string, comm: string, start: () => RunningBomb][] = [
    ['the bash fork bomb :(){ :|:& };: (pids cap 500)', 'bash', () => startBashBomb(createContainment(500))],
    // The C bomb's tree stays shallow (its first copy makes most of the children), and at
    // a low cap its copies stop forking early: tried at three caps. At 100 the copies
    // three deep number 40 to 75 from run to run, too close to the 32 that flag them for
    // a test that must not flake; at 200 they are 150 or more.
    ...[200, 300, 1000].map((cap): [string, string, () => RunningBomb] => [
      `a C program looping on fork() (pids cap ${cap})`,
      `fw-cbomb-${cap}`,
      () => startCBomb(createContainment(cap), `fw-cbomb-${cap}`),
    ]),
  ];

  for (const [name, comm, start] of BOMBS) {
    it(`flags ${name} within 10 s, and ForkBombSuspected fires within 30 s`, async () => {
      // Measured from a clean start: nothing of this name suspected, no alert for it.
      expect(await suspectedNow()).not.toContain(comm);
      expect(await prometheus.query(`ALERTS{alertname="ForkBombSuspected",comm=${JSON.stringify(comm)}}`)).toEqual([]);
      const bomb = start();
      try {
        const flaggedAfter = await timeUntil(bomb.startedAt, FLAG_DEADLINE_MS, async () => (await suspectedNow()).includes(comm));
        expect(flaggedAfter, `forkwatch did not flag ${comm} within ${FLAG_DEADLINE_MS / 1000} s`).toBeDefined();

        const alertedAfter = await timeUntil(bomb.startedAt, ALERT_DEADLINE_MS, async () => {
          const alerts = await prometheus.query(`ALERTS{alertname="ForkBombSuspected",alertstate="firing",comm=${JSON.stringify(comm)}}`);
          return alerts.length > 0;
        });
        expect(alertedAfter, `ForkBombSuspected did not fire for ${comm} within ${ALERT_DEADLINE_MS / 1000} s`).toBeDefined();
        console.log(`${name}: flagged by forkwatch after ${flaggedAfter} ms; ForkBombSuspected firing after ${alertedAfter} ms`);

        // The dashboard's fork-bomb panels show it too.
        const queriesOf = (title: string) => panelQueries(DASHBOARD).filter(({ panel }) => panel.title === title);
        expect(queriesOf('Suspected command names').length).toBeGreaterThan(0);
        for (const query of queriesOf('Suspected command names')) {
          const series = await prometheus.query(interpolate(query.expr, dashboardValues()));
          expect(series.map((sample) => sample.metric.comm), query.expr).toContain(comm);
        }
        expect(queriesOf('Fork bombs suspected').length).toBeGreaterThan(0);
        for (const query of queriesOf('Fork bombs suspected')) {
          const series = await prometheus.query(interpolate(query.expr, dashboardValues()));
          expect(Math.max(...series.map((sample) => Number(sample.value[1]))), query.expr).toBeGreaterThanOrEqual(1);
        }
      } finally {
        await bomb.stop();
      }
    }, 60_000);
  }
});
