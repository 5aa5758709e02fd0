// Writes deploy/kubernetes/prometheusrule.yaml, the Prometheus Operator's PrometheusRule
// whose spec.groups are deploy/prometheus/forkwatch-rules.yml's groups, comments and all:
// the rules file stays the single source (promtool checks and unit-tests it), and
// test/deploy/kubernetes.test.ts fails when the two drift.
//
//   node dist/scripts/generate-prometheus-rule.js           rewrite the PrometheusRule
//   node dist/scripts/generate-prometheus-rule.js --check   exit 1 if it is out of date
//
// (compiled first with `npx tsc -p scripts`, which also compiles what it imports.)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isSeq, parseDocument } from 'yaml';
import { packageRoot } from '../src/package.js';

export const RULES_FILE = 'deploy/prometheus/forkwatch-rules.yml';
export const PROMETHEUS_RULE_FILE = 'deploy/kubernetes/prometheusrule.yaml';
export const GENERATE_COMMAND = 'npm run generate:prometheus-rule';

const HEADER = [
  ` Generated from ${RULES_FILE} by scripts/generate-prometheus-rule.ts: do not edit.`,
  ` Change the rules file, then run: ${GENERATE_COMMAND}`,
  ' (test/deploy/kubernetes.test.ts fails while this file and the rules file differ.)',
  '',
  ' A Prometheus selects PrometheusRules by its ruleSelector and ruleNamespaceSelector;',
  ' README, "Deploy on Kubernetes", says how to match them.',
].join('\n');

/** The PrometheusRule manifest for the rules file's text. */
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
  // The groups' own nodes, so their comments and block scalars come along.
  manifest.setIn(['spec', 'groups'], groups.clone());
  manifest.commentBefore = HEADER;
  return manifest.toString({ lineWidth: 0 });
}

function main(args: string[]): number {
  const check = args.includes('--check');
  const expected = renderPrometheusRule(readFileSync(join(packageRoot, RULES_FILE), 'utf8'));
  const target = join(packageRoot, PROMETHEUS_RULE_FILE);
  if (check) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing counts as out of date
    }
    if (current === expected) return 0;
    process.stderr.write(`${PROMETHEUS_RULE_FILE} is out of date with ${RULES_FILE}; run: ${GENERATE_COMMAND}\n`);
    return 1;
  }
  writeFileSync(target, expected);
  process.stdout.write(`wrote ${PROMETHEUS_RULE_FILE} from ${RULES_FILE}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
