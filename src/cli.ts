#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=256
// The Node.js options forkwatch runs with, the same in package.json's start script and the
// Dockerfile's ENTRYPOINT (test/e2e/cli.test.ts and test/deploy/dockerfile.test.ts check).
// Measured with npm run bench (README, "Benchmark"): nearly every object forkwatch makes
// dies within one slice of events, so a young generation of 1 MiB semi-spaces (V8 grows
// them to 16 MiB) costs no CPU; and a 256 MiB heap limit makes V8 grow the old generation
// by 1.3 times what lives instead of 4 times, and collect it sooner. Peak RSS in a 10 s
// storm: 75 MiB instead of 90 to 94; over 500,000 processes 82 instead of 96. The limit is
// also a bound: the largest process table (262,144 processes) takes some 30 MiB, and a
// heap past it aborts, unsubscribing first (native/proc_socket.h), where the container's
// memory limit would kill without a word.
import type { FastifyInstance } from 'fastify';
import { checkAgainstKernel, parseFlags } from './cli/flags.js';
import { exporterOptions } from './cli/exporter-options.js';
import { KubernetesFlagError, podWatch } from './cli/kubernetes.js';
import { Exporter, type PodWatch } from './exporter.js';
import { loadWebConfig, type WebConfig } from './http/web-config.js';
import { StartupError } from './startup-error.js';
import { createLogger } from './log.js';
import { Procfs } from './processes/procfs.js';
import { version } from './package.js';
import { startServer } from './server.js';

const EXIT_FAILED = 1;
const EXIT_BAD_FLAGS = 2;
const SHUTDOWN_BUDGET_MS = 4000;

async function main(argv: string[]): Promise<void> {
  const parsed = parseFlags(argv, version);
  if (parsed.kind === 'help' || parsed.kind === 'version') {
    process.stdout.write(parsed.text.endsWith('\n') ? parsed.text : `${parsed.text}\n`);
    return;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`forkwatch: ${parsed.message}\n`);
    process.exitCode = EXIT_BAD_FLAGS;
    return;
  }
  const options = parsed.options;
  const unreachable = checkAgainstKernel(options, new Procfs().pidMax());
  if (unreachable !== undefined) {
    process.stderr.write(`forkwatch: ${unreachable}\n`);
    process.exitCode = EXIT_BAD_FLAGS;
    return;
  }
  const logger = createLogger(options.logLevel, options.logFormat);

  let webConfig: WebConfig | undefined;
  if (options.webConfigFile !== undefined) {
    try {
      webConfig = loadWebConfig(options.webConfigFile);
    } catch (error) {
      logger.error(`--web.config.file: ${(error as Error).message}`);
      process.exitCode = EXIT_BAD_FLAGS;
      return;
    }
  }

  let kubernetes: PodWatch | undefined;
  try {
    kubernetes = await podWatch(options, logger);
  } catch (error) {
    if (!(error instanceof KubernetesFlagError)) throw error;
    logger.error(error.message);
    process.exitCode = EXIT_BAD_FLAGS;
    return;
  }

  const exporter = new Exporter({ ...exporterOptions(options, version, logger), kubernetes });
  let app: FastifyInstance | undefined;
  let stopping = false;

  // Installed before anything can be subscribed: however it is asked to stop, forkwatch
  // unsubscribes and exits 0. (SIGHUP: the terminal of an `npm start` closed.)
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    exporter.close();
    // A scrape in progress may finish; a stuck connection may not hold the exit up.
    setTimeout(() => process.exit(0), SHUTDOWN_BUDGET_MS).unref();
    void (app?.close() ?? Promise.resolve()).finally(() => process.exit(0));
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);

  // A failed start, or events that stopped for good (the reader thread died, a listener
  // threw: /-/ready already answers 503, forkwatch_subscribed reads 0 and the kernel has
  // the IGNORE): one line, unsubscribe, exit non-zero so that Kubernetes restarts it.
  const fail = async (error: unknown): Promise<void> => {
    if (stopping) return; // a signal or an earlier failure owns the exit
    stopping = true;
    if (error instanceof StartupError) logger.error(error.message);
    else logger.error(`forkwatch failed: ${(error as Error).message}`, { stack: ((error as Error).cause as Error | undefined)?.stack ?? (error as Error).stack });
    exporter.close();
    setTimeout(() => process.exit(EXIT_FAILED), SHUTDOWN_BUDGET_MS).unref();
    await app?.close();
    process.exit(EXIT_FAILED);
  };

  try {
    const server = await startServer({
      host: options.listenHost,
      port: options.listenPort,
      telemetryPath: options.telemetryPath,
      registries: exporter.registries,
      ready: () => exporter.ready,
      version,
      webConfig,
      logger,
    });
    app = server.app;
    logger.info('listening', { url: `${server.url}${options.telemetryPath}`, version });
    await exporter.start((error) => void fail(error));
  } catch (error) {
    await fail(error);
  }
}

void main(process.argv.slice(2));
