// The lifecycle metric group on both pages (text and OpenMetrics), fed through the real
// table and dispatcher over a stand-in /proc.
import { describe, expect, it } from 'vitest';
import { LIFETIME_BUCKETS, lifecycleMetrics } from '../../src/metrics/lifecycle.js';
import { createRegistries, eachRegistry } from '../../src/metrics/registries.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { ProcessTable } from '../../src/processes/table.js';
import { atSecond, exitEvent, processFork, threadFork } from '../helpers/events.js';
import { groupContext } from '../helpers/metric-groups.js';
import { parseSamples, sampleValue } from '../helpers/metrics-text.js';
import { FakeProcfs } from '../helpers/procfs.js';

function setup(procfs: FakeProcfs) {
  const table = new ProcessTable({ procfs });
  table.seed();
  const group = lifecycleMetrics(groupContext(table, procfs));
  const registries = createRegistries();
  for (const registry of eachRegistry(registries)) group.register(registry);
  const dispatcher = new Dispatcher(table, [group.listener!]);
  return {
    table,
    feed: (...events: Parameters<Dispatcher['event']>[0][]) => events.forEach((event) => dispatcher.event(event)),
    text: () => registries.text.metrics(),
    openMetrics: () => registries.openMetrics.metrics(),
  };
}

describe('lifecycle metrics', () => {
  it('exports every series known in advance at 0', async () => {
    const page = await setup(new FakeProcfs({ 1: 'init' })).text();

    for (const reason of ['success', 'failure', 'signal']) {
      expect(page).toContain(`forkwatch_exits_total{comm="__other__",reason="${reason}"} 0`);
    }
    for (const signal of ['SIGKILL', 'SIGSEGV', 'SIGTERM', 'SIGABRT']) expect(page).toContain(`forkwatch_exit_signals_total{signal="${signal}"} 0`);
    for (const name of ['execs', 'coredumps', 'setuid_root', 'ptrace_attaches']) expect(page).toContain(`forkwatch_${name}_total{comm="__other__"} 0`);
    const bounds = parseSamples(page)
      .filter((sample) => sample.name === 'forkwatch_process_lifetime_seconds_bucket')
      .map((sample) => sample.labels.le);
    expect(bounds).toEqual([...LIFETIME_BUCKETS.map(String), '+Inf']);
    expect(LIFETIME_BUCKETS[0]).toBe(0.001);
    expect(LIFETIME_BUCKETS.at(-1)).toBe(3600);
  });

  it("shows the table's live processes and threads, and pid_max", async () => {
    const procfs = new FakeProcfs({ 1: 'init', 100: 'java' }, 4_194_304);
    procfs.threads.set(100, [101, 102]);
    const { feed, text } = setup(procfs);

    feed(processFork(1, 200), threadFork(1, 200, 201), exitEvent(102, 100));

    const page = await text();
    expect(sampleValue(page, 'forkwatch_processes')).toBe(3);
    expect(sampleValue(page, 'forkwatch_threads')).toBe(2);
    expect(sampleValue(page, 'forkwatch_pid_max')).toBe(4_194_304);
  });

  it('has no pid_max sample where it cannot be read, rather than a 0 that alerts', async () => {
    const procfs = new FakeProcfs({ 1: 'init' });
    procfs.pidMax = () => undefined;

    const page = await setup(procfs).text();
    expect(page).toContain('# TYPE forkwatch_pid_max gauge');
    expect(parseSamples(page).filter((sample) => sample.name === 'forkwatch_pid_max')).toEqual([]);
  });

  it('observes each lifetime once, shown alike on the text and the OpenMetrics page', async () => {
    const { feed, text, openMetrics } = setup(new FakeProcfs({ 1: 'init' }));

    feed(processFork(1, 200, { timestampNs: atSecond(100) }), exitEvent(200, 200, { timestampNs: atSecond(100.6) }));

    for (const page of [await text(), await openMetrics()]) {
      expect(sampleValue(page, 'forkwatch_process_lifetime_seconds_bucket', { le: '0.5' })).toBe(0);
      expect(sampleValue(page, 'forkwatch_process_lifetime_seconds_bucket', { le: '1' })).toBe(1);
      expect(sampleValue(page, 'forkwatch_process_lifetime_seconds_count')).toBe(1);
      expect(sampleValue(page, 'forkwatch_process_lifetime_seconds_sum')).toBeCloseTo(0.6, 6);
    }
    expect(await text()).toContain('forkwatch_exits_total{comm="init",reason="success"} 1');
    expect(await openMetrics()).toContain('forkwatch_exits_total{comm="init",reason="success"} 1');
  });
});
