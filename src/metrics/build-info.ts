import { Gauge, type Registry } from 'prom-client';
import type { MetricGroup } from './group.js';

export const buildInfoMetrics: MetricGroup = ({ version }) => ({
  register(registry: Registry) {
    const gauge = new Gauge({
      name: 'forkwatch_build_info',
      help: 'Always 1; the labels name the forkwatch version and the Node.js it runs on.',
      labelNames: ['version', 'nodejs'] as const,
      registers: [registry],
    });
    gauge.set({ version, nodejs: process.versions.node }, 1);
  },
});
