import { Gauge } from 'prom-client';
import { both, type Registries } from './registries.js';

export function registerBuildInfo(registries: Registries, version: string): void {
  const gauge = new Gauge({
    name: 'forkwatch_build_info',
    help: 'Always 1; the labels name the forkwatch version and the Node.js it runs on.',
    labelNames: ['version', 'nodejs'] as const,
    registers: both(registries),
  });
  gauge.set({ version, nodejs: process.versions.node }, 1);
}
