// What every forkwatch dashboard shares: the data source chosen by variable, Prometheus
// queries, the instance and comm variables, and panels that cannot be built without an id,
// a data source and a description.
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Every panel and query names its data source by this variable, never by a uid. */
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/**
 * Said by each panel that reads forkwatch's recording rules (deploy/mixin/rules.libsonnet):
 * recorded once per evaluation, they spare a large cluster's Prometheus a rate over every
 * instance's counters at each refresh, but must be loaded.
 */
export const RECORDED = 'Needs forkwatch\'s recording rules (deploy/prometheus/forkwatch-rules.yml, or the mixin\'s prometheusRules) loaded in Prometheus.';

/** The label matcher that puts a query on the chosen forkwatch instances. */
export const INSTANCE = 'instance=~"$instance"';
/** The label matcher for the chosen parent command names. */
export const COMM = 'comm=~"$comm"';

/** "All" selected, as Grafana writes it for a multi-value variable. */
const ALL: dashboard.VariableOption = { selected: true, text: ['All'], value: ['$__all'] };

export function datasourceVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder('datasource')
    .label('Data source')
    .description('The Prometheus server that scrapes forkwatch.')
    .type('prometheus');
}

/** The forkwatch targets: every instance that exports forkwatch_build_info. */
export function instanceVariable(): dashboard.QueryVariableBuilder {
  const query = 'label_values(forkwatch_build_info, instance)';
  return new dashboard.QueryVariableBuilder('instance')
    .label('Instance')
    .description('forkwatch targets (Prometheus instance label), one per node.')
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .current(ALL);
}

/**
 * Parent command names. "All" is the regex .* rather than a list of every name, so that
 * names first seen after the page loaded are not left out.
 */
export function commVariable(): dashboard.QueryVariableBuilder {
  const query = `label_values(forkwatch_parent_forks_total{${INSTANCE}}, comm)`;
  return new dashboard.QueryVariableBuilder('comm')
    .label('Parent command')
    .description('Parent command names (comm) for the panels about who is forking.')
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalCaseInsensitiveAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current(ALL);
}

export interface QueryOptions {
  /** legendFormat, e.g. "{{instance}}". */
  legend?: string;
  /** Evaluate once, at the end of the time range (stat panels, tables). */
  instant?: boolean;
  /** Rows of labels and a value, for table panels. */
  table?: boolean;
  /** Histogram buckets by `le`, for heatmap panels. */
  heatmap?: boolean;
}

export interface Query extends QueryOptions {
  expr: string;
}

function prometheusQuery(refId: string, query: Query): prometheus.DataqueryBuilder {
  const builder = new prometheus.DataqueryBuilder()
    .refId(refId)
    .datasource(DATASOURCE)
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(query.expr)
    .legendFormat(query.legend ?? '__auto');
  if (query.instant) builder.instant();
  else builder.range();
  if (query.table) builder.format(prometheus.PromQueryFormat.Table);
  if (query.heatmap) builder.format(prometheus.PromQueryFormat.Heatmap);
  return builder;
}

/** The settings every panel type's builder has. */
interface AnyPanelBuilder {
  id(id: number): this;
  title(title: string): this;
  description(description: string): this;
  datasource(datasource: common.DataSourceRef): this;
  span(w: number): this;
  height(h: number): this;
  unit(unit: string): this;
  withTarget(target: prometheus.DataqueryBuilder): this;
}

export interface PanelBasics {
  title: string;
  /** Shown as the panel's (i) tooltip: what it shows and what to do about it. */
  description: string;
  /** A Grafana unit id, e.g. "bytes", "percentunit", or "count:forks/s" (scaled, with that suffix). */
  unit: string;
  /** Width in grid columns (of 24) and height in grid rows. */
  width: number;
  height: number;
  queries: Query[];
}

export const color = {
  ok: 'green',
  warn: 'orange',
  bad: 'red',
};

/** Thresholds from a base colour, then [from, colour] steps. */
export function thresholds(base: string, ...steps: [number, string][]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps([{ value: null, color: base }, ...steps.map(([value, stepColor]) => ({ value, color: stepColor }))]);
}

/** Shows the values as text in a colour, e.g. {0: ['none', 'green']}. */
export function valueText(texts: Record<number, [string, string]>): dashboard.ValueMapping[] {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  Object.entries(texts).forEach(([value, [text, textColor]], index) => {
    options[value] = { text, color: textColor, index };
  });
  return [{ type: dashboard.MappingType.ValueToText, options }];
}

export function byThresholds(): dashboard.FieldColorBuilder {
  return new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds);
}

export function fixedColor(fixed: string): dashboard.DynamicConfigValue {
  return { id: 'color', value: { mode: dashboard.FieldColorModeId.Fixed, fixedColor: fixed } };
}

/** Numbers panels in the order they are made, so that every id in a dashboard is unique. */
export class Panels {
  private lastId = 0;

  row(title: string): dashboard.RowBuilder {
    return new dashboard.RowBuilder(title).id(++this.lastId);
  }

  timeseries(basics: PanelBasics): timeseries.PanelBuilder {
    return this.basics(new timeseries.PanelBuilder(), basics)
      .legend(
        new common.VizLegendOptionsBuilder()
          .showLegend(true)
          .displayMode(common.LegendDisplayMode.Table)
          .placement(common.LegendPlacement.Bottom)
          .calcs(['lastNotNull', 'max']),
      )
      .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
      .lineWidth(1)
      .fillOpacity(10)
      .showPoints(common.VisibilityMode.Never)
      .min(0);
  }

  stat(basics: PanelBasics): stat.PanelBuilder {
    return this.basics(new stat.PanelBuilder(), basics)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
      .graphMode(common.BigValueGraphMode.None)
      .colorMode(common.BigValueColorMode.Background)
      .textMode(common.BigValueTextMode.ValueAndName)
      .colorScheme(byThresholds());
  }

  stateTimeline(basics: PanelBasics): statetimeline.PanelBuilder {
    return this.basics(new statetimeline.PanelBuilder(), basics)
      .showValue(common.VisibilityMode.Never)
      .mergeValues(true)
      .colorScheme(byThresholds());
  }

  table(basics: PanelBasics): table.PanelBuilder {
    return this.basics(new table.PanelBuilder(), basics);
  }

  /** A Prometheus histogram's buckets over time: `unit` counts in a cell, `bucketUnit` the buckets' bounds (the y axis). */
  heatmap(basics: PanelBasics, bucketUnit: string): heatmap.PanelBuilder {
    return this.basics(new heatmap.PanelBuilder(), basics)
      .calculate(false)
      .yAxis(new heatmap.YAxisConfigBuilder().unit(bucketUnit))
      .color(new heatmap.HeatmapColorOptionsBuilder().mode(heatmap.HeatmapColorMode.Scheme).scheme('Oranges').scale(heatmap.HeatmapColorScale.Exponential).exponent(0.5))
      .cellGap(1)
      .tooltip(new heatmap.HeatmapTooltipBuilder().mode(common.TooltipDisplayMode.Single).yHistogram(true))
      .showLegend();
  }

  private basics<P extends AnyPanelBuilder>(panel: P, basics: PanelBasics): P {
    panel
      .id(++this.lastId)
      .title(basics.title)
      .description(basics.description)
      .datasource(DATASOURCE)
      .unit(basics.unit)
      .span(basics.width)
      .height(basics.height);
    basics.queries.forEach((query, index) => panel.withTarget(prometheusQuery(String.fromCharCode(65 + index), query)));
    return panel;
  }
}
