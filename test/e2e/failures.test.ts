// No silent death: whatever fails beneath forkwatch (a thread that cannot start, memory
// that cannot be had, an abort, a listener that throws), it unsubscribes from the kernel
// (PROC_CN_MCAST_IGNORE, seen by strace), says so in one line and exits non-zero, so that
// Kubernetes restarts it. The native failures are injected by a build of the addon with
// FORKWATCH_FAULT_INJECTION (native/fault.h), made in a folder of its own.
import { spawnSync } from 'node:child_process';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import type { Exporter } from '../../src/exporter.js';
import { forkwatchApp } from '../../src/http/app.js';
import { createLogger } from '../../src/log.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { buildAddonVariant, type AddonVariant } from '../helpers/addon-variant.js';
import { createExporter } from '../helpers/exporter.js';
import { runForkwatch, sleep, startForkwatch, type Exit, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { sampleValue } from '../helpers/metrics-text.js';
import { controlMessagesSent, IGNORE, LISTEN, straceFromStart } from '../helpers/strace.js';

const SENT = 40; // bytes of a control message: what a successful sendto returns

interface LogRecord {
  level: string;
  msg: string;
}

function errorLines(exit: Exit): LogRecord[] {
  return exit.stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogRecord)
    .filter((record) => record.level === 'error');
}

/** Forks until forkwatch exits (each fork makes reads and slices); throws if it never does. */
async function forkUntilExit(forkwatch: RunningForkwatch, limit = 5000): Promise<void> {
  for (let i = 0; i < limit && forkwatch.child.exitCode === null && forkwatch.child.signalCode === null; i++) {
    spawnSync('true');
    if (i % 20 === 0) await sleep(5); // lets this process see the exit
  }
}

describeKernel('forkwatch fails loudly and unsubscribed when its native layer fails', () => {
  let variant: AddonVariant;
  let strace: ReturnType<typeof straceFromStart>;
  let forkwatch: RunningForkwatch | undefined;

  beforeAll(() => {
    variant = buildAddonVariant('faults', { forkwatch_fault_injection: 1 });
  }, 180_000);
  afterAll(() => variant?.remove());
  afterEach(async () => {
    await forkwatch?.stop(); // SIGTERM, should a test have failed with forkwatch running
    forkwatch = undefined;
    strace?.remove();
  });

  const faults = (point: string, after = 1): { cli: string; env: Record<string, string> } => ({
    cli: variant.cli,
    env: { FORKWATCH_FAULT: point, FORKWATCH_FAULT_AFTER: String(after) },
  });

  it.each(['reader-thread', 'touch-thread'])(
    'when its %s cannot start (EAGAIN): one line naming the task limits, exit 1, and the kernel never subscribed it',
    async (point) => {
      strace = straceFromStart();

      const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0'], { ...faults(point), prefix: strace.prefix });

      expect(exit.signal, exit.stderr).toBeNull();
      expect(exit.code, exit.stderr).toBe(1);
      const errors = errorLines(exit);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.msg).toMatch(/cannot start a thread \(pthread_create: EAGAIN\).*pids\.max/);
      // Both threads start before the subscription: nothing was asked of the kernel.
      expect(controlMessagesSent(strace.read())).toEqual([]);
    },
  );

  // The fault strikes well after start-up: forkwatch is subscribed and ready by then.
  const runtime: [what: string, point: string, message: RegExp][] = [
    ['an allocation fails in the reader thread', 'reader-alloc', /stopped receiving process events: the reader thread failed: out of memory \(std::bad_alloc\)/],
    ['an allocation fails as JavaScript takes a slice', 'take-alloc', /stopped receiving process events: std::bad_alloc/],
  ];

  it.each(runtime)('when %s: unsubscribes, one line, exit 1', async (_what, point, message) => {
    strace = straceFromStart();
    forkwatch = await startForkwatch([], { ...faults(point, 300), prefix: strace.prefix });

    await forkUntilExit(forkwatch);
    const exit = await forkwatch.stop();

    expect(exit.signal, exit.stderr).toBeNull();
    expect(exit.code, exit.stderr).toBe(1);
    const errors = errorLines(exit);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(message);
    expect(controlMessagesSent(strace.read()), strace.read() + exit.stderr).toEqual([
      { op: LISTEN, result: SENT },
      { op: IGNORE, result: SENT },
    ]);
  });

  it('when the process aborts (std::terminate in the reader thread): the SIGABRT handler unsubscribes before it dies', async () => {
    strace = straceFromStart();
    // No core file: core_pattern may write one into the working directory.
    forkwatch = await startForkwatch([], { ...faults('reader-terminate', 300), prefix: ['prlimit', '--core=0', '--', ...strace.prefix] });

    await forkUntilExit(forkwatch);
    const exit = await forkwatch.stop();

    expect(exit.signal, exit.stderr).toBe('SIGABRT');
    expect(controlMessagesSent(strace.read())).toEqual([
      { op: LISTEN, result: SENT },
      { op: IGNORE, result: SENT },
    ]);
  });
});

describeKernel('when a listener throws, the failure path runs', () => {
  let exporter: Exporter | undefined;

  afterEach(() => {
    vi.restoreAllMocks();
    exporter?.close();
    exporter = undefined;
  });

  it('once: the exporter is not ready, /-/ready answers 503, forkwatch_subscribed reads 0, and no event is taken after', async () => {
    exporter = createExporter();
    const failures: Error[] = [];
    await exporter.start((error) => failures.push(error));
    const app = Fastify();
    await app.register(forkwatchApp, {
      registries: exporter.registries,
      ready: () => exporter!.ready,
      version: 'test',
      telemetryPath: '/metrics',
      logger: createLogger('error', 'json'),
    });
    expect((await app.inject('/-/ready')).statusCode).toBe(200);

    const event = vi.spyOn(Dispatcher.prototype, 'event').mockImplementation(() => {
      throw new Error('a listener failed');
    });
    for (let i = 0; i < 5 && failures.length === 0; i++) {
      spawnSync('true');
      await sleep(100);
    }
    const calls = event.mock.calls.length;
    spawnSync('true');
    await sleep(300);

    expect(failures.map((error) => error.message)).toEqual(['stopped receiving process events: a listener failed']);
    expect(event.mock.calls.length).toBe(calls);
    expect(exporter.ready).toBe(false);
    expect((await app.inject('/-/ready')).statusCode).toBe(503);
    expect(sampleValue(await exporter.registries.text.metrics(), 'forkwatch_subscribed')).toBe(0);
    await app.close();
  });
});
