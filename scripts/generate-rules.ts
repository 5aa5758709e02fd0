// Writes the rule files generated from the monitoring mixin in deploy/mixin/, the one place
// the alerts and recording rules are written:
//   deploy/prometheus/forkwatch-rules.yml   the mixin's groups, rendered with jsonnet and its
//                                           default _config (promtool checks and unit-tests it)
//   deploy/kubernetes/prometheusrule.yaml   the same groups in a Prometheus Operator PrometheusRule
// test/deploy/mixin.test.ts and test/deploy/kubernetes.test.ts fail while either is out of date.
//
//   node dist/scripts/generate-rules.js           rewrite both
//   node dist/scripts/generate-rules.js --check   exit 1 if either is out of date
//
// (compiled first with `npx tsc -p scripts`, which also compiles what it imports.)
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isScalar, isSeq, parseDocument, Scalar, visit } from 'yaml';
import { packageRoot } from '../src/package.js';

export const MIXIN = 'deploy/mixin/mixin.libsonnet';
export const RULES_FILE = 'deploy/prometheus/forkwatch-rules.yml';
export const PROMETHEUS_RULE_FILE = 'deploy/kubernetes/prometheusrule.yaml';
export const GENERATE_COMMAND = 'npm run generate:rules';

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

/** What a monitoring mixin exposes. */
export interface Mixin {
  prometheusAlerts: { groups: RuleGroup[] };
  prometheusRules: { groups: RuleGroup[] };
  grafanaDashboards: Record<string, unknown>;
  _config: Record<string, unknown> & { runbookURLBase: string; forkwatchSelector: string };
}

/**
 * The mixin rendered by jsonnet, with `config` merged into its _config, as a user's
 * `(import 'mixin.libsonnet') + { _config+:: config }` would.
 */
export function renderMixin(config: Record<string, unknown> = {}): Mixin {
  const program = [
    `local mixin = (import ${JSON.stringify(MIXIN)}) + { _config+:: std.extVar('config') };`,
    '{ [field]: mixin[field] for field in ["prometheusAlerts", "prometheusRules", "grafanaDashboards", "_config"] }',
  ].join('\n');
  const run = spawnSync('jsonnet', ['--ext-code', `config=${JSON.stringify(config)}`, '-e', program], {
    cwd: packageRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw new Error(`cannot run jsonnet (apt-get install jsonnet): ${run.error.message}`);
  if (run.status !== 0) throw new Error(`jsonnet could not render ${MIXIN}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as Mixin;
}

/** jsonnet sorts keys; rules read better in the order Prometheus documents them. */
const RULE_KEYS = ['record', 'alert', 'expr', 'for', 'labels', 'annotations'];
const ANNOTATION_KEYS = ['summary', 'description', 'runbook_url'];

function ordered<T extends object>(object: T, first: string[]): T {
  const rank = (key: string): number => (first.includes(key) ? first.indexOf(key) : first.length);
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))) as T;
}

/** Every group of the mixin, alerts first, each rule's keys in reading order. */
export function ruleGroups(mixin: Mixin): RuleGroup[] {
  return [...mixin.prometheusAlerts.groups, ...mixin.prometheusRules.groups].map((group) => ({
    name: group.name,
    rules: group.rules.map((rule) => {
      const tidy = ordered(rule, RULE_KEYS);
      if (tidy.labels) tidy.labels = ordered(tidy.labels, ['severity']);
      if (tidy.annotations) tidy.annotations = ordered(tidy.annotations, ANNOTATION_KEYS);
      return tidy;
    }),
  }));
}

const RULES_HEADER = [
  ` Generated from the monitoring mixin in deploy/mixin/ by scripts/generate-rules.ts: do not edit.`,
  ` Change the mixin, then run: ${GENERATE_COMMAND}`,
  ' (test/deploy/mixin.test.ts fails while this file and the mixin differ.)',
  '',
  ' forkwatch\'s alerting and recording rules, as the mixin renders them with its default',
  ' _config. Load this file with `rule_files:` in prometheus.yml. Why each rule is as it is:',
  ' the comments in deploy/mixin/alerts.libsonnet and rules.libsonnet. What to do when an',
  ' alert fires: docs/runbooks.md. Unit tests: test/deploy/forkwatch-rules.test.yml.',
].join('\n');

/** A Prometheus rules file holding the groups. */
export function renderRulesFile(groups: RuleGroup[]): string {
  const document = new Document({ groups });
  // Descriptions are prose: folded (>-) reads as it will be shown.
  visit(document, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'description' && isScalar(pair.value)) pair.value.type = Scalar.BLOCK_FOLDED;
    },
  });
  document.commentBefore = RULES_HEADER;
  return document.toString({ lineWidth: 100 });
}

const PROMETHEUS_RULE_HEADER = [
  ` Generated from ${RULES_FILE} (itself generated from deploy/mixin/) by`,
  ` scripts/generate-rules.ts: do not edit. Change the mixin, then run: ${GENERATE_COMMAND}`,
  ' (test/deploy/kubernetes.test.ts fails while this file and the rules file differ.)',
  '',
  ' A Prometheus selects PrometheusRules by its ruleSelector and ruleNamespaceSelector;',
  ' README, "Deploy on Kubernetes", says how to match them.',
].join('\n');

/** The PrometheusRule manifest whose spec.groups are the groups of the rules file's text. */
export function renderPrometheusRule(rulesYaml: string): string {
  const rules = parseDocument(rulesYaml);
  if (rules.errors.length > 0) throw new Error(`${RULES_FILE}: ${rules.errors[0]?.message}`);
  const groups = rules.get('groups', true);
  if (!isSeq(groups)) throw new Error(`${RULES_FILE}: has no list of groups`);

  const manifest = new Document({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'forkwatch',
      namespace: 'forkwatch',
      labels: { 'app.kubernetes.io/name': 'forkwatch' },
    },
    spec: { groups: [] },
  });
  // The groups' own nodes, so their block scalars come along as they are.
  manifest.setIn(['spec', 'groups'], groups.clone());
  manifest.commentBefore = PROMETHEUS_RULE_HEADER;
  return manifest.toString({ lineWidth: 100 });
}

/** Each generated file and the text it should hold. */
export function generatedFiles(): { file: string; text: string }[] {
  const rulesFile = renderRulesFile(ruleGroups(renderMixin()));
  return [
    { file: RULES_FILE, text: rulesFile },
    { file: PROMETHEUS_RULE_FILE, text: renderPrometheusRule(rulesFile) },
  ];
}

function main(args: string[]): number {
  const check = args.includes('--check');
  let stale = 0;
  for (const { file, text } of generatedFiles()) {
    const path = join(packageRoot, file);
    if (!check) {
      writeFileSync(path, text);
      process.stdout.write(`wrote ${file} from deploy/mixin/\n`);
      continue;
    }
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // missing counts as out of date
    }
    if (current !== text) {
      process.stderr.write(`${file} is out of date with deploy/mixin/; run: ${GENERATE_COMMAND}\n`);
      stale += 1;
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
