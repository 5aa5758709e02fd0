// Every query of the shipped dashboard, run on a real Prometheus scraping a real forkwatch
// after some forks, with forkwatch's rules loaded so that the recorded series the panels
// read exist: with Grafana's variables substituted, each must parse and return data.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS_DIR } from '../../dashboards/src/dashboards.js';
import { RULES_FILE } from '../../scripts/generate-rules.js';
import { packageRoot } from '../../src/package.js';
import { forkAs, removeForkers, threadsAs, uniqueName } from '../helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import {
  grafanaRegexEscape,
  interpolate,
  INTERVALS_AT_1S_SCRAPES,
  labelValuesQuery,
  metricNames,
  panelQueries,
  type PanelQuery,
} from './dashboard-json.js';

const FILE = 'forkwatch-overview.json';
const dashboard = JSON.parse(readFileSync(join(DASHBOARDS_DIR, FILE), 'utf8')) as Dashboard;
const queries = panelQueries(dashboard).map((query) => [`${query.panel.title} (${query.refId})`, query] as const);
const variables = dashboard.templating.list ?? [];
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

describeKernel(`dashboards/${FILE} on a real Prometheus`, () => {
  let forkwatch: RunningForkwatch;
  let prometheus: RunningPrometheus;
  let target: string;

  beforeAll(async () => {
    forkwatch = await startForkwatch();
    target = new URL(forkwatch.url).host;
    prometheus = await startPrometheus({ targets: [target], scrapeInterval: '1s', ruleFiles: [join(packageRoot, RULES_FILE)] });
    await waitFor('Prometheus scrapes forkwatch', async () => (await prometheus.query(`up{instance="${target}"} == 1`)).length > 0);

    threadsAs(uniqueName('fw-dash-t-'), THREADS);
    forkAs(name, FORKS);
    // The named process's series appears with the first scrape after its forks.
    await waitFor(
      `Prometheus has ${SCRAPES} scrapes after the forks`,
      async () => (await prometheus.query(`count_over_time(forkwatch_parent_forks_total{instance="${target}", comm="${name}"}[1m]) >= ${SCRAPES}`)).length > 0,
    );
    // The rules are evaluated every second too: the recorded rate of its forks follows.
    await waitFor(
      'the recording rules record the named process',
      async () => (await prometheus.query(`instance_comm:forkwatch_parent_forks:rate2m{instance="${target}", comm="${name}"}`)).length > 0,
    );
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await forkwatch?.stop();
    removeForkers();
  });

  /** The variables as Grafana substitutes them: instance and comm as selected multi-values. */
  function values(comm: string): Record<string, string> {
    return { ...INTERVALS_AT_1S_SCRAPES, instance: grafanaRegexEscape(target), comm };
  }

  it("names only metrics on forkwatch's /metrics page, or series forkwatch's rules record from them", async () => {
    const exported = exportedNames(await forkwatch.scrape());
    const named = new Set(queries.flatMap(([, query]) => metricNames(query.expr)));
    for (const variable of variables.filter((candidate) => candidate.type === 'query')) {
      for (const metric of metricNames(labelValuesQuery(String(variable.query)).selector)) named.add(metric);
    }
    expect(named.size).toBeGreaterThan(10);
    for (const metric of named) {
      const recordedFrom = recordingRules.get(metric);
      const sources = recordedFrom === undefined ? [metric] : metricNames(recordedFrom);
      for (const source of sources) expect(exported.has(source), `${source}${recordedFrom ? ` (recorded as ${metric})` : ''} is not on /metrics`).toBe(true);
    }
  });

  it('offers this forkwatch as an instance, and the named process as a parent command', async () => {
    const labelValues = async (variableName: string): Promise<string[]> => {
      const variable = variables.find((candidate) => candidate.name === variableName)!;
      const { selector, label } = labelValuesQuery(interpolate(String(variable.query), values('.*')));
      return (await prometheus.query(selector)).map((series) => series.metric[label]!);
    };
    expect(await labelValues('instance')).toContain(target);
    expect(await labelValues('comm')).toContain(name);
  });

  async function run(query: PanelQuery, comm: string) {
    const promql = interpolate(query.expr, values(comm));
    const result = await prometheus.query(promql);
    expect(result.length, `no series for:\n${promql}`).toBeGreaterThan(0);
    for (const series of result) if (series.metric.instance !== undefined) expect(series.metric.instance).toBe(target);
    return result;
  }

  describe('with comm = the named process', () => {
    it.each(queries)('%s returns data', async (_, query) => {
      const result = await run(query, grafanaRegexEscape(name));
      if (query.expr.includes('$comm')) {
        for (const series of result) expect(series.metric.comm).toBe(name);
      }
    });

    it('lists the named process among the busiest parents, with its pid and every fork', async () => {
      const [, table] = queries.find(([title]) => title.startsWith('Busiest parents now'))!;
      const rows = await run(table, grafanaRegexEscape(name));
      expect(rows).toHaveLength(1);
      expect(rows[0]!.metric.pid).toMatch(/^[1-9][0-9]*$/);
      expect(Number(rows[0]!.value[1])).toBe(FORKS);
    });
  });

  describe('with comm = All (.*)', () => {
    it.each(queries)('%s returns data', async (_, query) => {
      await run(query, '.*');
    });

    it('shows no fork bomb on a healthy node: 0, and the row "(none)"', async () => {
      const suspected = queries.find(([title]) => title.startsWith('Fork bombs suspected'))![1];
      expect((await run(suspected, '.*')).map((series) => series.value[1])).toEqual(['0']);
      const names = queries.find(([title]) => title.startsWith('Suspected command names'))![1];
      expect((await run(names, '.*')).map((series) => [series.metric.comm, series.value[1]])).toEqual([['(none)', '0']]);
    });
  });
});
