// An in-process exporter with the command line's defaults, for tests that need no port.
import { parseFlags, type Options } from '../../src/cli/flags.js';
import { exporterOptions } from '../../src/cli/exporter-options.js';
import { Exporter } from '../../src/exporter.js';
import { createLogger } from '../../src/log.js';

export function defaultOptions(): Options {
  const parsed = parseFlags([], 'test');
  if (parsed.kind !== 'run') throw new Error('the default flags do not parse');
  return parsed.options;
}

export function createExporter(overrides: Partial<Options> = {}, version = 'test'): Exporter {
  return new Exporter(exporterOptions({ ...defaultOptions(), ...overrides }, version, createLogger('error', 'json')));
}
