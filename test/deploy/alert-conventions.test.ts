// Every alert the mixin renders follows the conventions kubernetes-mixin's users rely on:
// a `severity` label Alertmanager can route (critical, warning or info), a static `summary`
// that groups well in a notification, a templated `description` that says where and how
// much, and a `runbook_url` whose anchor is a heading of docs/runbooks.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMixin, type Rule } from '../../scripts/generate-rules.js';
import { packageRoot } from '../../src/package.js';

const RUNBOOKS = 'docs/runbooks.md';
const SEVERITIES = ['critical', 'warning', 'info'];

/** The anchors GitHub gives a Markdown file's headings (duplicates get -1, -2...). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** What is wrong with an alerting rule, one line each; empty when it follows the conventions. */
function conventionViolations(rule: Rule, runbookURLBase: string, anchors: Set<string>): string[] {
  const problems: string[] = [];
  const severity = rule.labels?.severity;
  if (!severity || !SEVERITIES.includes(severity)) problems.push(`severity "${severity ?? ''}" is not one of ${SEVERITIES.join(', ')}`);
  const { summary, description, runbook_url: url } = rule.annotations ?? {};
  if (!summary?.trim()) problems.push('has no summary');
  else if (summary.includes('{{')) problems.push('summary is templated: keep it static, and put labels and values in the description');
  if (!description || !/\{\{.+?\}\}/s.test(description)) problems.push('description is not templated: say where ({{ $labels.instance }}) and how much ({{ $value }})');
  if (!url) problems.push('has no runbook_url');
  else if (!url.startsWith(`${runbookURLBase}#`)) problems.push(`runbook_url ${url} is not under ${runbookURLBase}#`);
  else if (!anchors.has(url.slice(runbookURLBase.length + 1))) problems.push(`runbook_url ${url}: ${RUNBOOKS} has no heading for that anchor`);
  return problems;
}

const mixin = renderMixin();
const base = mixin._config.runbookURLBase;
const runbooks = readFileSync(join(packageRoot, RUNBOOKS), 'utf8');
const anchors = headingAnchors(runbooks);
const alerts = mixin.prometheusAlerts.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);
const label = (rule: Rule) => `${rule.alert}${rule.labels?.scope ? ` (scope ${rule.labels.scope})` : ''}`;

describe('alert conventions', () => {
  it('the mixin has alerts to check', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(6);
  });

  it.each(alerts.map((rule) => [label(rule), rule] as const))('%s: severity, static summary, templated description, runbook_url to its section', (_, rule) => {
    expect(conventionViolations(rule, base, anchors)).toEqual([]);
  });

  it(`${RUNBOOKS} has a section, a second-level heading, for each alert and for nothing else`, () => {
    const sections = [...runbooks.matchAll(/^## (.+)$/gm)].map((match) => match[1]!.trim());
    expect(new Set(sections)).toEqual(new Set(alerts.map((rule) => rule.alert)));
  });

  it(`each section of ${RUNBOOKS} says what the alert means, how to confirm it, how to stop it and how to prevent it`, () => {
    const bySection = runbooks.split(/^## /m).slice(1);
    expect(bySection.length).toBeGreaterThan(0);
    for (const section of bySection) {
      const title = section.split('\n')[0];
      const parts = [...section.matchAll(/^### (.+)$/gm)].map((match) => match[1]!.trim());
      expect(parts, title).toEqual(['What it means', 'How to confirm', 'How to stop it', 'How to prevent it']);
    }
  });

  it('the check finds each kind of mistake', () => {
    const good: Rule = {
      alert: 'ForkBombSuspected',
      expr: 'vector(1)',
      labels: { severity: 'critical' },
      annotations: { summary: 'Fork bomb suspected.', description: 'On {{ $labels.instance }}.', runbook_url: `${base}#forkbombsuspected` },
    };
    expect(conventionViolations(good, base, anchors)).toEqual([]);
    const broken = (labels: Rule['labels'], annotations: Rule['annotations']) =>
      conventionViolations({ ...good, labels: { ...good.labels, ...labels }, annotations: { ...good.annotations, ...annotations } }, base, anchors);
    expect(broken({ severity: 'page' }, {})).toEqual(['severity "page" is not one of critical, warning, info']);
    expect(broken({}, { summary: 'Bomb on {{ $labels.instance }}.' })[0]).toMatch(/^summary is templated/);
    expect(broken({}, { description: 'A fork bomb.' })[0]).toMatch(/^description is not templated/);
    expect(broken({}, { runbook_url: '' })).toEqual(['has no runbook_url']);
    expect(broken({}, { runbook_url: 'https://elsewhere.example/runbooks#forkbombsuspected' })[0]).toMatch(/is not under/);
    expect(broken({}, { runbook_url: `${base}#podpidsnearlimit` })[0]).toMatch(/has no heading for that anchor/);
  });

  it('reads anchors as GitHub makes them', () => {
    expect(headingAnchors('# Runbooks\n## ForkBombSuspected\n### What it means\n## B\n### What it means\n```\n## not a heading\n```\n')).toEqual(
      new Set(['runbooks', 'forkbombsuspected', 'what-it-means', 'b', 'what-it-means-1']),
    );
  });
});
