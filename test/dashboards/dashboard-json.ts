// Reading a Grafana dashboard's JSON the way Grafana does: its panels, its queries, the
// variables a string refers to and their substitution, and the metric names in PromQL.
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';

export interface PanelQuery {
  panel: Panel;
  refId: string;
  expr: string;
  datasource: unknown;
}

function isRow(panel: Panel | RowPanel): panel is RowPanel {
  return panel.type === 'row';
}

/** Every panel, rows included, and those inside collapsed rows. */
export function allPanels(dashboard: Dashboard): (Panel | RowPanel)[] {
  return (dashboard.panels ?? []).flatMap((panel) => (isRow(panel) ? [panel, ...(panel.panels ?? [])] : [panel]));
}

/** Every panel that shows data (all but rows). */
export function dataPanels(dashboard: Dashboard): Panel[] {
  return allPanels(dashboard).filter((panel): panel is Panel => !isRow(panel));
}

/** Every query of every panel. */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return dataPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => {
      const query = target as { refId?: string; expr?: string; datasource?: unknown };
      return { panel, refId: query.refId ?? '', expr: query.expr ?? '', datasource: query.datasource };
    }),
  );
}

/** Variables Grafana itself defines (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables). */
export const GRAFANA_VARIABLES = new Set([
  '__all',
  '__interval',
  '__interval_ms',
  '__rate_interval',
  '__rate_interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  '__dashboard',
  '__org',
  '__user',
  '__name',
  '__timeFilter',
]);

/**
 * What Grafana substitutes for its interval variables when Prometheus scrapes every
 * second: $__rate_interval is at least four scrape intervals (15 s keeps two samples in
 * any window with room to spare), $__interval follows the panel's width, $__range the
 * time picker.
 */
export const INTERVALS_AT_1S_SCRAPES: Record<string, string> = { __rate_interval: '15s', __interval: '5s', __range: '1m' };

// $name, ${name} or ${name:format}, and the deprecated [[name]] or [[name:format]].
const REFERENCE = /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g;

/** The names of the variables a string refers to. */
export function variableReferences(text: string): string[] {
  return [...text.matchAll(REFERENCE)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

/** Substitutes every variable reference; a reference without a value is an error. */
export function interpolate(text: string, values: Record<string, string>): string {
  return text.replace(REFERENCE, (reference, braced?: string, bracketed?: string, plain?: string) => {
    const name = braced ?? bracketed ?? plain!;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for the variable ${reference} in ${text}`);
    return value;
  });
}

/**
 * A value as Grafana puts a multi-value variable into a Prometheus query: its regex
 * metacharacters escaped with a backslash, doubled for PromQL's string literal.
 */
export function grafanaRegexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

const NOT_METRICS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: identifiers left once strings, variables,
 * label matchers, ranges and label lists are gone, that are neither functions nor keywords.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(REFERENCE, '') // a variable, such as the duration after offset
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const before = bare[match.index - 1] ?? ' ';
    const after = bare.slice(match.index + name.length).trimStart();
    if (/[0-9.]/.test(before)) continue; // an exponent or a duration's unit
    if (after.startsWith('(') || NOT_METRICS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** The metric of a Grafana variable query `label_values(selector, label)`. */
export function labelValuesQuery(query: string): { selector: string; label: string } {
  const match = /^label_values\((.*),\s*(\w+)\)$/.exec(query.trim());
  if (!match) throw new Error(`not a label_values(selector, label) query: ${query}`);
  return { selector: match[1]!, label: match[2]! };
}
