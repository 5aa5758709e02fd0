// The shipped dashboards' JSON: generated from dashboards/src (and not edited since), in
// Grafana's current schema, importable anywhere (the data source is a variable), and
// complete: every panel described, every variable defined, every query parsed by promtool.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDashboard, type Dashboard, type Panel, type ThresholdsConfig } from '@grafana/grafana-foundation-sdk/dashboard';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS, DASHBOARDS_DIR, REGENERATE, render } from '../../dashboards/src/dashboards.js';
import { RULES_FILE } from '../../scripts/generate-rules.js';
import { packageRoot } from '../../src/package.js';
import {
  allPanels,
  dataPanels,
  GRAFANA_VARIABLES,
  grafanaRegexEscape,
  INTERVALS_AT_1S_SCRAPES,
  interpolate,
  labelValuesQuery,
  metricNames,
  panelQueries,
  variableReferences,
} from './dashboard-json.js';

const PROMETHEUS_BY_VARIABLE = { type: 'prometheus', uid: '${datasource}' };

/** Values for every variable, enough for promtool to parse the queries. */
const SAMPLE_VALUES = { ...INTERVALS_AT_1S_SCRAPES, instance: grafanaRegexEscape('127.0.0.1:9740'), comm: '.*' };

/** Every string in a JSON value, with the path to it. */
function strings(value: unknown, path = ''): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((item, index) => strings(item, `${path}[${index}]`));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([key, item]) => strings(item, `${path}.${key}`));
  return [];
}

/** Every `datasource` property anywhere in a JSON value, with the path to it. */
function datasources(value: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => datasources(item, `${path}[${index}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) =>
    key === 'datasource' ? [[`${path}.${key}`, item] as [string, unknown]] : datasources(item, `${path}.${key}`),
  );
}

/** The colour a panel's thresholds give a value. */
function colourOf(panel: Panel, value: number): string {
  const steps = (panel.fieldConfig?.defaults.thresholds as ThresholdsConfig).steps;
  return steps.filter((step) => step.value === null || value >= step.value).at(-1)!.color;
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  if (run.error) throw new Error(`cannot run promtool (apt-get install prometheus): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The series forkwatch's recording rules record. */
function recordedNames(): Set<string> {
  const rules = parse(readFileSync(join(packageRoot, RULES_FILE), 'utf8')) as { groups: { rules: { record?: string }[] }[] };
  return new Set(rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [rule.record] : []))));
}

/** forkwatch's metrics, from the README's metrics table. */
function documentedMetrics(): Set<string> {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  return new Set([...readme.matchAll(/^\| `(forkwatch_\w+)` \|/gm)].map((match) => match[1]!));
}

describe.each(DASHBOARDS.map((shipped) => [shipped.file, shipped] as const))('dashboards/%s', (file, { build }) => {
  const text = readFileSync(join(DASHBOARDS_DIR, file), 'utf8');
  const json = JSON.parse(text) as Dashboard;
  const variables = json.templating.list ?? [];
  const variableNames = new Set(variables.map((variable) => variable.name));
  const queries = panelQueries(json);

  it('is what its source generates', () => {
    expect(text, `dashboards/${file} differs from its source in dashboards/src: run \`${REGENERATE}\` and commit the result`).toBe(
      render(build()),
    );
  });

  it("is in the foundation SDK's current schema, with a uid and no database id", () => {
    expect(json.schemaVersion).toBe(defaultDashboard().schemaVersion);
    expect(json.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(json.title).toBeTruthy();
    expect(json.id ?? null).toBeNull();
    expect(json).not.toHaveProperty('__inputs');
  });

  it('chooses its Prometheus data source by the variable "datasource", and hard-codes no uid', () => {
    const variable = variables.find((candidate) => candidate.name === 'datasource');
    expect(variable?.type).toBe('datasource');
    expect(variable?.query).toBe('prometheus');
    for (const panel of dataPanels(json)) expect(panel.datasource, panel.title).toEqual(PROMETHEUS_BY_VARIABLE);
    for (const query of queries) expect(query.datasource, `${query.panel.title} ${query.refId}`).toEqual(PROMETHEUS_BY_VARIABLE);
    const found = datasources(json);
    expect(found.length).toBeGreaterThan(queries.length);
    for (const [path, datasource] of found) expect(datasource, path).toEqual(PROMETHEUS_BY_VARIABLE);
  });

  it('has the instance variable, from forkwatch_build_info, and every query follows it', () => {
    const instance = variables.find((variable) => variable.name === 'instance');
    expect(instance?.query).toBe('label_values(forkwatch_build_info, instance)');
    for (const query of queries) expect(query.expr, `${query.panel.title} ${query.refId}`).toContain('instance=~"$instance"');
  });

  it('defines every variable it uses, and uses every variable it defines', () => {
    const used = new Set<string>();
    for (const [path, value] of strings(json)) {
      for (const name of variableReferences(value)) {
        expect(variableNames.has(name) || GRAFANA_VARIABLES.has(name), `${path}: $${name} is not defined`).toBe(true);
        used.add(name);
      }
    }
    for (const name of variableNames) expect(used.has(name), `$${name} is defined but never used`).toBe(true);
  });

  it('gives every panel a title, a description and a unit', () => {
    for (const panel of dataPanels(json)) {
      expect(panel.title, JSON.stringify(panel.gridPos)).toBeTruthy();
      expect(panel.description?.length, `${panel.title}: description`).toBeGreaterThan(40);
      expect(panel.fieldConfig?.defaults.unit, `${panel.title}: unit`).toBeTruthy();
    }
  });

  it('gives every panel at least one query, each with its own refId and an expression', () => {
    for (const panel of dataPanels(json)) {
      const refIds = queries.filter((query) => query.panel === panel).map((query) => query.refId);
      expect(refIds.length, panel.title).toBeGreaterThan(0);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const refId of refIds) expect(refId, panel.title).toMatch(/^[A-Z]$/);
    }
    for (const query of queries) expect(query.expr.trim(), `${query.panel.title} ${query.refId}`).not.toBe('');
  });

  it('numbers its panels with unique ids', () => {
    const ids = allPanels(json).map((panel) => panel.id);
    for (const id of ids) expect(Number.isInteger(id) && id! > 0, `id ${id}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lays its panels out on the 24-column grid without overlaps, each under a row', () => {
    const placed = allPanels(json).map((panel) => ({ title: panel.title ?? '', type: panel.type, ...panel.gridPos! }));
    for (const { title, type, x, y, w, h } of placed) {
      for (const n of [x, y, w, h]) expect(Number.isInteger(n) && n >= 0, `${title}: ${JSON.stringify({ x, y, w, h })}`).toBe(true);
      expect(w >= 1 && h >= 1 && x + w <= 24, `${title}: ${JSON.stringify({ x, y, w, h })}`).toBe(true);
      if (type === 'row') expect({ x, w, h }, title).toEqual({ x: 0, w: 24, h: 1 });
    }
    placed.forEach((a, i) => {
      for (const b of placed.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
      }
    });
    const firstRow = Math.min(...placed.filter((panel) => panel.type === 'row').map((row) => row.y));
    for (const panel of placed.filter((candidate) => candidate.type !== 'row')) expect(panel.y, panel.title).toBeGreaterThan(firstRow);
  });

  it("names only forkwatch's documented metrics, its recording rules and the Node.js process metrics", () => {
    const documented = documentedMetrics();
    expect(documented.size).toBeGreaterThan(10);
    const recorded = recordedNames();
    const named = queries.flatMap((query) => metricNames(query.expr));
    expect(named).toContain('forkwatch_forks_peak_per_second');
    expect(named).toContain('instance_kind:forkwatch_forks:rate2m');
    for (const name of named) {
      if (name.includes(':')) expect(recorded.has(name), `${name} is not recorded by ${RULES_FILE}`).toBe(true);
      else if (name.startsWith('forkwatch_')) expect(documented.has(name), `${name} is not in the README's metrics table`).toBe(true);
      else expect(name, 'a metric that is not forkwatch_* must be a default process_* or nodejs_* metric').toMatch(/^(process|nodejs)_/);
    }
    for (const variable of variables.filter((candidate) => candidate.type === 'query')) {
      for (const name of metricNames(labelValuesQuery(String(variable.query)).selector)) expect(documented.has(name), name).toBe(true);
    }
  });

  it('has queries that promtool parses, once the variables are substituted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forkwatch-dashboard-'));
    try {
      const rules = queries.map((query, index) => ({ record: `dashboard:query:${index}`, expr: interpolate(query.expr, SAMPLE_VALUES) }));
      writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] })); // JSON is YAML
      const check = promtool('check', 'rules', join(dir, 'rules.yml'));
      expect(check.status, check.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboards/forkwatch-overview.json colours', () => {
  const json = JSON.parse(readFileSync(join(DASHBOARDS_DIR, 'forkwatch-overview.json'), 'utf8')) as Dashboard;
  const panel = (title: string): Panel => {
    const found = dataPanels(json).find((candidate) => candidate.title === title);
    if (!found) throw new Error(`no panel "${title}"`);
    return found;
  };

  it.each([
    ['Events lost', 0, 'green'],
    ['Events lost', 1, 'red'],
    ['Kernel drops', 1, 'red'],
    ['Invalid messages', 1, 'orange'],
    ['Subscribed', 0, 'red'],
    ['Subscribed', 1, 'green'],
    ['Fork bombs suspected', 0, 'green'],
    ['Fork bombs suspected', 1, 'red'],
    ['Receive buffer', 425_984, 'orange'], // rmem_max's usual 208 KiB, doubled: no CAP_NET_ADMIN
    ['Receive buffer', 67_108_864, 'green'], // the default 32 MiB, doubled
  ])('"%s" at %d is %s', (title, value, colour) => {
    expect(colourOf(panel(title), value)).toBe(colour);
  });
});
