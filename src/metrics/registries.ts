// Two registries holding the same metrics: one writes the Prometheus text format, the
// other OpenMetrics, so each scrape gets the format it asks for without shared state.
import { collectDefaultMetrics, Registry, type OpenMetricsContentType } from 'prom-client';

export interface Registries {
  text: Registry;
  openMetrics: Registry<OpenMetricsContentType>;
}

export function createRegistries(): Registries {
  const text = new Registry();
  const openMetrics = new Registry<OpenMetricsContentType>();
  // The typings omit the constructor's content-type argument; setContentType is typed.
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  collectDefaultMetrics({ register: text });
  collectDefaultMetrics({ register: openMetrics });
  return { text, openMetrics };
}

export function both(registries: Registries): Registry[] {
  return [registries.text, registries.openMetrics as unknown as Registry];
}
