// Two registries, one writing the Prometheus text format, the other OpenMetrics, each with
// its own metric objects: prom-client renames a counter in place while it writes
// OpenMetrics, so a metric shared by both would lose "_total" on the text page.
import { collectDefaultMetrics, Registry, type OpenMetricsContentType } from 'prom-client';

export interface Registries {
  text: Registry;
  openMetrics: Registry<OpenMetricsContentType>;
}

const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createRegistries(): Registries {
  const text = new Registry();
  const openMetrics = new Registry<OpenMetricsContentType>();
  // The typings omit the constructor's content-type argument; setContentType is typed.
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const registry of [text, openMetrics]) {
    collectDefaultMetrics({ register: registry });
    // Gauges with a counter's "_total" suffix: promtool rejects them, and the page must lint.
    for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
  }
  return { text, openMetrics };
}

/** Both registries, to register each metric group in each. */
export function eachRegistry(registries: Registries): Registry[] {
  return [registries.text, registries.openMetrics as unknown as Registry];
}
