// The monitoring mixin in deploy/mixin/, rendered by Debian's jsonnet: its rules pass
// promtool, the files generated from it are up to date, its dashboards are the ones
// dashboards/src builds, and a user's _config changes the rules as it says.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, render } from '../../dashboards/src/dashboards.js';
import {
  GENERATE_COMMAND,
  MIXIN,
  RULES_FILE,
  renderMixin,
  renderRulesFile,
  ruleGroups,
  type RuleGroup,
} from '../../scripts/generate-rules.js';
import { packageRoot } from '../../src/package.js';
import { metricNames, panelQueries } from '../dashboards/dashboard-json.js';

const dir = mkdtempSync(join(tmpdir(), 'forkwatch-mixin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: packageRoot, encoding: 'utf8' });
  const pkg = { promtool: 'prometheus', jsonnetfmt: 'jsonnet' }[command] ?? command;
  if (result.error) throw new Error(`cannot run ${command} (apt-get install ${pkg}): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Writes a file into the test's temporary folder and returns its path. */
function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function checkRules(name: string, groups: RuleGroup[]) {
  return run('promtool', ['check', 'rules', write(name, renderRulesFile(groups))]);
}

const mixin = renderMixin();

describe(`${MIXIN} with its default _config`, () => {
  it('renders alerts and recording rules that promtool check rules passes, each part on its own', () => {
    for (const [name, groups] of [
      ['alerts.yml', mixin.prometheusAlerts.groups],
      ['rules.yml', mixin.prometheusRules.groups],
      ['all.yml', ruleGroups(mixin)],
    ] as const) {
      const check = checkRules(name, groups);
      expect(check.status, `promtool check rules ${name}:\n${check.output}`).toBe(0);
      expect(check.output).toMatch(/SUCCESS: \d+ rules found/);
    }
  });

  it('keeps alerts in prometheusAlerts and only recording rules in prometheusRules', () => {
    const alerts = mixin.prometheusAlerts.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    for (const rule of mixin.prometheusRules.groups.flatMap((group) => group.rules)) expect(rule.record, JSON.stringify(rule)).toBeTruthy();
  });

  it('names its recording rules level:metric:operations', () => {
    const records = ruleGroups(mixin).flatMap((group) => group.rules).flatMap((rule) => (rule.record ? [rule.record] : []));
    expect(records.length).toBeGreaterThan(2);
    for (const record of records) expect(record).toMatch(/^[a-z_]+:forkwatch_[a-z_]+:[a-z0-9_]+$/);
  });

  it('is formatted as jsonnetfmt formats it', () => {
    const sources = readdirSync(join(packageRoot, 'deploy/mixin'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.libsonnet'));
    expect(sources).toContain('mixin.libsonnet');
    for (const file of sources) {
      const check = run('jsonnetfmt', ['--test', join('deploy/mixin', file)]);
      expect(check.status, `deploy/mixin/${file} is not formatted: jsonnetfmt -i deploy/mixin/${file}\n${check.output}`).toBe(0);
    }
  });

  it(`is what ${RULES_FILE} holds (else run: ${GENERATE_COMMAND})`, () => {
    const current = readFileSync(join(packageRoot, RULES_FILE), 'utf8');
    expect(current === renderRulesFile(ruleGroups(mixin)), `${RULES_FILE} differs from what the mixin renders; run: ${GENERATE_COMMAND}`).toBe(true);
  });

  it('renders to YAML with jsonnet alone, as README says, into rules promtool passes', () => {
    for (const field of ['prometheusAlerts', 'prometheusRules']) {
      const rendered = run('jsonnet', ['-S', '-e', `std.manifestYamlDoc((import "${MIXIN}").${field})`]);
      expect(rendered.status, rendered.output).toBe(0);
      const check = run('promtool', ['check', 'rules', write(`${field}.yml`, rendered.output)]);
      expect(check.status, `${field}:\n${check.output}`).toBe(0);
    }
  });

  it('exposes every shipped dashboard under its file name, as dashboards/src builds it (else run: npm run dashboards)', () => {
    expect(Object.keys(mixin.grafanaDashboards).sort()).toEqual(DASHBOARDS.map((dashboard) => dashboard.file).sort());
    for (const { file, build } of DASHBOARDS) {
      expect(mixin.grafanaDashboards[file], `${file} differs from dashboards/src; run: npm run dashboards`).toEqual(JSON.parse(render(build())));
    }
  });

  it('records in prometheusRules every recorded series its dashboards read, so those rules alone serve them', () => {
    const recorded = new Set(mixin.prometheusRules.groups.flatMap((group) => group.rules).map((rule) => rule.record));
    const read = Object.values(mixin.grafanaDashboards)
      .flatMap((dashboard) => panelQueries(dashboard as Dashboard))
      .flatMap((query) => metricNames(query.expr))
      .filter((name) => name.includes(':'));
    expect(read.length).toBeGreaterThan(0);
    for (const name of read) expect(recorded.has(name), `${name} is not recorded in prometheusRules`).toBe(true);
  });
});

describe(`${MIXIN} with a _config of the user's`, () => {
  const selector = 'job="node-fw"';
  const custom = renderMixin({ forkwatchSelector: selector, forkRateHighFactor: 8, targetDownFor: '3m', runbookURLBase: 'https://wiki.example/forkwatch' });
  const rules = (groups: RuleGroup[]) => groups.flatMap((group) => group.rules);
  const alert = (groups: RuleGroup[], name: string, scope?: string) =>
    rules(groups).filter((rule) => rule.alert === name && (scope === undefined || rule.labels?.scope === scope));

  it('selects the scrape job it names in ForkwatchDown, and no other', () => {
    const down = alert(custom.prometheusAlerts.groups, 'ForkwatchDown');
    expect(down.map((rule) => rule.expr)).toEqual([`up{${selector}} == 0`, `absent(up{${selector}})`]);
    expect(JSON.stringify(custom.prometheusAlerts)).not.toContain('.*forkwatch.*');
  });

  it('changes the thresholds and durations it sets, in expressions and words', () => {
    const [rateHigh] = alert(custom.prometheusAlerts.groups, 'ForkRateHigh');
    expect(rateHigh?.expr).toContain('> 8 * clamp_min(');
    expect(rateHigh?.annotations?.summary).toBe('Fork rate over 8 times its usual level.');
    const [targetDown] = alert(custom.prometheusAlerts.groups, 'ForkwatchDown', 'target');
    expect(targetDown?.for).toBe('3m');
    expect(targetDown?.annotations?.description).toContain('for 3 minutes');
  });

  it('links runbooks at the base URL it names', () => {
    for (const rule of rules(custom.prometheusAlerts.groups).filter((candidate) => candidate.alert)) {
      expect(rule.annotations?.runbook_url).toBe(`https://wiki.example/forkwatch#${rule.alert!.toLowerCase()}`);
    }
  });

  it('changes nothing else', () => {
    const asDefault = renderMixin({ forkwatchSelector: selector });
    const escaped = (text: string) => JSON.stringify(text).slice(1, -1);
    expect(JSON.stringify(asDefault.prometheusAlerts)).toBe(
      JSON.stringify(mixin.prometheusAlerts).replaceAll(escaped(mixin._config.forkwatchSelector), escaped(selector)),
    );
    expect(asDefault.prometheusRules).toEqual(mixin.prometheusRules);
    expect(asDefault.grafanaDashboards).toEqual(mixin.grafanaDashboards);
  });

  it('renders rules that promtool passes, and that page for its job and not for the default one', () => {
    const rulesFile = write('custom-rules.yml', renderRulesFile(ruleGroups(custom)));
    const check = run('promtool', ['check', 'rules', rulesFile]);
    expect(check.status, check.output).toBe(0);

    // promtool keeps firing alerts as ALERTS series, which a PromQL test can read whatever
    // their annotations say. absent() of an equality matcher keeps its label: job.
    const firing = (scope: string, instance = '') => ({
      labels: `ALERTS{alertname="ForkwatchDown",alertstate="firing",severity="warning",scope="${scope}",job="node-fw"${instance}}`,
      value: 1,
    });
    const tests = {
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'its job (which the default selector misses) down: the target alert, after its 3m',
          interval: '1m',
          input_series: [{ series: 'up{job="node-fw",instance="node-a:9740"}', values: '0x10' }],
          promql_expr_test: [
            { expr: 'ALERTS{alertname="ForkwatchDown",alertstate="firing"}', eval_time: '2m', exp_samples: [] },
            { expr: 'ALERTS{alertname="ForkwatchDown",alertstate="firing"}', eval_time: '4m', exp_samples: [firing('target', ',instance="node-a:9740"')] },
          ],
        },
        {
          name: 'only the default job scraped: the job alert, since the selector names another',
          interval: '1m',
          input_series: [{ series: 'up{job="forkwatch",instance="node-a:9740"}', values: '0x20' }],
          promql_expr_test: [
            { expr: 'ALERTS{alertname="ForkwatchDown",alertstate="firing"}', eval_time: '15m', exp_samples: [firing('job')] },
          ],
        },
      ],
    };
    const result = run('promtool', ['test', 'rules', write('custom-rules.test.yml', JSON.stringify(tests))]); // JSON is YAML
    expect(result.status, result.output).toBe(0);
  });

  it('refuses a duration it cannot put into words, saying what to write', () => {
    expect(() => renderMixin({ targetDownFor: '1h30m' })).toThrow(/duration "1h30m": write one number and one unit/);
  });
});
