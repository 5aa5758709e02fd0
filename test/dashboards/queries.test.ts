// Every query of every shipped dashboard, run on a real Prometheus scraping a real forkwatch
// after some forks (and a pod that forks past its PID limit, named by a stand-in API
// server), with forkwatch's rules loaded so that the recorded series the panels read exist:
// with Grafana's variables substituted, each must parse and return data.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS, DASHBOARDS_DIR } from '../../dashboards/src/dashboards.js';
import { RULES_FILE } from '../../scripts/generate-rules.js';
import { packageRoot } from '../../src/package.js';
import { forkAs, removeForkers, threadsAs, uniqueName } from '../helpers/forker.js';
import { removeCopies, runAs } from '../helpers/lifecycle.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { containmentUnavailable } from '../helpers/cgroup.js';
import { FakeApiServer, makePod } from '../helpers/fake-apiserver.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { createPodCgroups, startInCgroup, type Holder, type PodCgroups } from '../helpers/pod-cgroups.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { describeIfAvailable } from '../helpers/requirements.js';
import {
  grafanaRegexEscape,
  interpolate,
  INTERVALS_AT_1S_SCRAPES,
  labelValuesQuery,
  metricNames,
  panelQueries,
  type PanelQuery,
} from './dashboard-json.js';

/** Each shipped dashboard, with its queries and variables. */
const shipped = DASHBOARDS.map(({ file }) => {
  const json = JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard;
  const queries = panelQueries(json).map((query) => [`${query.panel.title} (${query.refId})`, query] as const);
  return { file, queries, variables: json.templating.list ?? [] };
});
/** forkwatch's recording rules, by the series each records. */
const recordingRules = new Map(
  (parse(readFileSync(join(packageRoot, RULES_FILE), 'utf8')) as { groups: { rules: { record?: string; expr: string }[] }[] }).groups
    .flatMap((group) => group.rules)
    .flatMap((rule) => (rule.record ? [[rule.record, rule.expr] as const] : [])),
);

const FORKS = 40;
const THREADS = 10;
/** Scrapes after the last fork before the queries run: rate() needs two samples in its window. */
const SCRAPES = 3;
const name = uniqueName('fw-dash-');
/** Programs of the lifecycle row: one crashes, one changes to root, one traces. */
const crasher = uniqueName('fw-dash-segv-');
const rooted = uniqueName('fw-dash-root-');
const tracer = uniqueName('fw-dash-trace-');

// A pod on this node, named by a stand-in API server, whose cgroup (cgroupfs layout, below a
// capped test cgroup) holds a process that forks past the pod's PID limit of 10: the
// workload, PID and refused-fork panels have a pod to show.
const NODE = 'node-a';
const POD_UID = `${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}-6c1d-4e8a-9b5f-2d4c6e8a0b1c`;
const CONTAINER_ID = 'd'.repeat(64);
const POD_PIDS_MAX = 10;

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeKernelAndCgroups = describeIfAvailable(unavailable, 'needs the proc connector and pids cgroups');

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(250);
  }
}

/** Metric names on a /metrics page: those with samples, and those declared without any yet. */
function exportedNames(page: string): Set<string> {
  const declared = [...page.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!);
  return new Set([...parseSamples(page).map((sample) => sample.name), ...declared]);
}

describeKernelAndCgroups('the shipped dashboards on a real Prometheus', () => {
  let forkwatch: RunningForkwatch;
  let prometheus: RunningPrometheus;
  let server: FakeApiServer;
  let pod: PodCgroups;
  const holders: Holder[] = [];
  let dir: string;
  let target: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-dashboards-'));
    server = new FakeApiServer('dashboard-token');
    server.addPod(makePod({ name: 'web-0', namespace: 'shop', uid: POD_UID, node: NODE, containers: { app: `containerd://${CONTAINER_ID}` } }));
    await server.listen();
    writeFileSync(join(dir, 'kubeconfig.yaml'), server.kubeconfig());
    pod = await createPodCgroups(['kubepods', 'burstable', `pod${POD_UID}`], [CONTAINER_ID], POD_PIDS_MAX);

    forkwatch = await startForkwatch(['--kubernetes.kubeconfig', join(dir, 'kubeconfig.yaml'), '--kubernetes.node-name', NODE]);
    target = new URL(forkwatch.url).host;
    prometheus = await startPrometheus({ targets: [target], scrapeInterval: '1s', ruleFiles: [join(packageRoot, RULES_FILE)] });
    await waitFor('Prometheus scrapes forkwatch', async () => (await prometheus.query(`up{instance="${target}"} == 1`)).length > 0);
    await waitFor('forkwatch has the pod names', async () => parseSamples(await forkwatch.scrape()).some((s) => s.name === 'forkwatch_kubernetes_synced' && s.value === 1));

    // A first holder (2 of the pod's 10 PIDs), so that the pod's series exist before the
    // forks and refusals that rate() and increase() are to see.
    const container = pod.containerDirs.get(CONTAINER_ID)!;
    holders.push(await pod.hold(container, 1));
    await waitFor(
      'Prometheus has the pod',
      async () => (await prometheus.query(`count_over_time(forkwatch_pod_forks_refused_total{instance="${target}", pod="web-0"}[1m]) >= 2`)).length > 0,
    );
    // A container that fails (the panels of exits by workload): runs in the pod's container
    // that exit 3 and that are killed, each held alive until forkwatch has it in the pod.
    const failing = [startInCgroup(container, 'exit 3'), startInCgroup(container, 'kill -KILL $$')];
    for (const run of failing) run.move();
    await waitFor('forkwatch has the failing runs in the pod', async () =>
      parseSamples(await forkwatch.scrape()).some((s) => s.name === 'forkwatch_workload_processes' && s.labels.pod === 'web-0' && s.value === 2 + failing.length),
    );
    for (const run of failing) await run.release();
    threadsAs(uniqueName('fw-dash-t-'), THREADS);
    // The lifecycle row: exits of every reason, deaths by two signals (SIGSEGV also starts
    // a core dump), a change to root and a ptrace attach.
    runAs(uniqueName('fw-dash-exit-'), ['exit', '3']);
    runAs(uniqueName('fw-dash-kill-'), ['signal', '9']);
    runAs(crasher, ['signal', '11']);
    runAs(rooted, ['setuid', '65534', '0']);
    runAs(tracer, ['ptrace']);
    forkAs(name, FORKS);
    // The second takes 1 PID, its children the last 7; 5 forks are refused.
    holders.push(await pod.hold(container, 12));
    expect(holders[1]).toMatchObject({ forked: 7, refused: 5 });
    // The named process's series appears with the first scrape after its forks.
    await waitFor(
      `Prometheus has ${SCRAPES} scrapes after the forks`,
      async () => (await prometheus.query(`count_over_time(forkwatch_parent_forks_total{instance="${target}", comm="${name}"}[1m]) >= ${SCRAPES}`)).length > 0,
    );
    // The rules are evaluated every second too: the recorded rates follow.
    await waitFor(
      'the recording rules record the named process and the pod',
      async () =>
        (await prometheus.query(`instance_comm:forkwatch_parent_forks:rate2m{instance="${target}", comm="${name}"}`)).length > 0 &&
        (await prometheus.query(`instance_workload:forkwatch_workload_forks:rate2m{instance="${target}", namespace="shop", pod="web-0"} > 0`)).length > 0,
    );
  }, 90_000);

  afterAll(async () => {
    for (const holder of holders) await holder.end();
    await pod?.destroy();
    await prometheus?.stop();
    await forkwatch?.stop();
    await server?.close();
    removeForkers();
    removeCopies();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The variables as Grafana substitutes them: instance and comm as selected multi-values. */
  function values(comm: string): Record<string, string> {
    return { ...INTERVALS_AT_1S_SCRAPES, instance: grafanaRegexEscape(target), comm };
  }

  async function run(query: PanelQuery, comm: string) {
    const promql = interpolate(query.expr, values(comm));
    const result = await prometheus.query(promql);
    expect(result.length, `no series for:\n${promql}`).toBeGreaterThan(0);
    for (const series of result) if (series.metric.instance !== undefined) expect(series.metric.instance).toBe(target);
    return result;
  }

  describe.each(shipped)('dashboards/$file', ({ queries, variables }) => {
    it("names only metrics on forkwatch's /metrics page, or series forkwatch's rules record from them", async () => {
      const exported = exportedNames(await forkwatch.scrape());
      const named = new Set(queries.flatMap(([, query]) => metricNames(query.expr)));
      for (const variable of variables.filter((candidate) => candidate.type === 'query')) {
        for (const metric of metricNames(labelValuesQuery(String(variable.query)).selector)) named.add(metric);
      }
      expect(named.size).toBeGreaterThan(3);
      for (const metric of named) {
        const recordedFrom = recordingRules.get(metric);
        const sources = recordedFrom === undefined ? [metric] : metricNames(recordedFrom);
        for (const source of sources) expect(exported.has(source), `${source}${recordedFrom ? ` (recorded as ${metric})` : ''} is not on /metrics`).toBe(true);
      }
    });

    it('offers this forkwatch as an instance (and the named process as a parent command, where it asks)', async () => {
      const labelValues = async (variableName: string): Promise<string[] | undefined> => {
        const variable = variables.find((candidate) => candidate.name === variableName);
        if (variable === undefined) return undefined;
        const { selector, label } = labelValuesQuery(interpolate(String(variable.query), values('.*')));
        return (await prometheus.query(selector)).map((series) => series.metric[label]!);
      };
      expect(await labelValues('instance')).toContain(target);
      const comms = await labelValues('comm');
      if (comms !== undefined) expect(comms).toContain(name);
    });

    describe('with comm = the named process', () => {
      it.each(queries)('%s returns data', async (_, query) => {
        const result = await run(query, grafanaRegexEscape(name));
        if (query.expr.includes('$comm')) {
          for (const series of result) expect(series.metric.comm).toBe(name);
        }
      });
    });

    describe('with comm = All (.*)', () => {
      it.each(queries)('%s returns data', async (_, query) => {
        await run(query, '.*');
      });
    });
  });

  /** The one query of a panel of a shipped dashboard. */
  function panelQuery(file: string, title: string): PanelQuery {
    const found = shipped.find((dashboard) => dashboard.file === file)!.queries.filter(([, query]) => query.panel.title === title);
    expect(found, `${file}: "${title}"`).toHaveLength(1);
    return found[0]![1];
  }

  it('overview: lists the deaths, the core dump, the change to root and the ptrace attach of the test programs', async () => {
    const killed = (await run(panelQuery('forkwatch-overview.json', 'Killing signals'), '.*')).map((row) => row.metric.signal);
    expect(killed).toEqual(expect.arrayContaining(['SIGKILL', 'SIGSEGV']));
    const events = await run(panelQuery('forkwatch-overview.json', 'Core dumps, changes to root, ptrace attaches'), '.*');
    const rows = events.map((row) => `${row.metric.event}: ${row.metric.comm}`);
    expect(rows).toEqual(expect.arrayContaining([`core dump: ${crasher}`, `became root: ${rooted}`, `ptrace attach: ${tracer}`]));
  });

  it('overview: lists the named process among the busiest parents, with its pid and every fork', async () => {
    const rows = await run(panelQuery('forkwatch-overview.json', 'Busiest parents now'), grafanaRegexEscape(name));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.metric.pid).toMatch(/^[1-9][0-9]*$/);
    expect(Number(rows[0]!.value[1])).toBe(FORKS);
  });

  it('overview: shows no fork bomb on a healthy node: 0, and the row "(none)"', async () => {
    expect((await run(panelQuery('forkwatch-overview.json', 'Fork bombs suspected'), '.*')).map((series) => series.value[1])).toEqual(['0']);
    const names = await run(panelQuery('forkwatch-overview.json', 'Suspected command names'), '.*');
    expect(names.map((series) => [series.metric.comm, series.value[1]])).toEqual([['(none)', '0']]);
  });

  it('overview: shows the pod by its names, at its PID limit, with the forks the kernel refused', async () => {
    const busiest = await run(panelQuery('forkwatch-overview.json', 'Busiest workloads (top 10)'), '.*');
    expect(busiest.map((series) => series.metric)).toContainEqual(expect.objectContaining({ namespace: 'shop', pod: 'web-0', container: 'app' }));
    const nearest = await run(panelQuery('forkwatch-overview.json', 'Pods nearest their PID limit'), '.*');
    expect(nearest.map((series) => [series.metric.namespace, series.metric.pod, series.value[1]])).toContainEqual(['shop', 'web-0', '1']);
    const refused = await run(panelQuery('forkwatch-overview.json', 'Refused forks by pod'), '.*');
    const ours = refused.find((series) => series.metric.pod === 'web-0');
    // increase() over the range: the counter went from nothing to 6 within it.
    expect(Number(ours?.value[1])).toBeGreaterThan(0);
  });

  it('cluster: shows the pod\'s container failing, by exit status and by signal', async () => {
    const rows = await run(panelQuery('forkwatch-cluster.json', 'Failing containers (top 10)'), '.*');
    const web0 = rows.filter((row) => row.metric.pod === 'web-0').map((row) => [row.metric.namespace, row.metric.container, row.metric.reason]);
    expect(web0.sort()).toEqual([
      ['shop', 'app', 'failure'],
      ['shop', 'app', 'signal'],
    ]);
  });

  it('cluster: shows the pod and its namespace among the busiest, and no fork bomb', async () => {
    const namespaces = await run(panelQuery('forkwatch-cluster.json', 'Busiest namespaces (top 10)'), '.*');
    expect(namespaces.map((series) => series.metric.namespace)).toContain('shop');
    const pods = await run(panelQuery('forkwatch-cluster.json', 'Busiest pods (top 10)'), '.*');
    expect(pods.map((series) => `${series.metric.namespace}/${series.metric.pod}`)).toContain('shop/web-0');
    expect((await run(panelQuery('forkwatch-cluster.json', 'Fork bombs suspected'), '.*')).map((series) => series.value[1])).toEqual(['0']);
    const where = await run(panelQuery('forkwatch-cluster.json', 'Where the bombs are'), '.*');
    expect(where.map((series) => series.metric.comm)).toEqual(['(none)']);
  });
});
