import { Gauge, type Registry } from 'prom-client';

export function registerBuildInfo(registry: Registry, version: string): void {
  const gauge = new Gauge({
    name: 'forkwatch_build_info',
    help: 'Always 1; the labels name the forkwatch version and the Node.js it runs on.',
    labelNames: ['version', 'nodejs'] as const,
    registers: [registry],
  });
  gauge.set({ version, nodejs: process.versions.node }, 1);
}
