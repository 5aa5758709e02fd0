// Process names are hostile input: whatever a process calls itself, the page stays valid
// for promtool and for a real Prometheus server, and the name comes through intact.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forkRenamed, removeForkers, uniqueName } from '../helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';

const FORKS = 3;

// Each hostile name as the bytes the process sets (at most 15), and the label value
// forkwatch must export for it: the same text, with invalid UTF-8 repaired.
function hostileNames(): { bytes: Uint8Array; label: string }[] {
  const tag = uniqueName('').slice(0, 4);
  const text = (name: string) => ({ bytes: Buffer.from(name), label: name });
  return [
    text(`q"${tag}"q`),
    text(`b\\${tag}\\`),
    text(`n\n${tag}\nn`),
    text(`{x="${tag}"}`),
    text(`}",e="${tag}`),
    text(`# HELP ${tag}`),
    text(`t\t${tag}\r`),
    { bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`bad${tag}`), Buffer.from([0xc3])]), label: `\uFFFD\uFFFDbad${tag}\uFFFD` },
    text(`日本${tag}`),
  ];
}

describeKernel('hostile process names', () => {
  let forkwatch: RunningForkwatch;
  let prometheus: RunningPrometheus | undefined;
  const names = hostileNames();

  beforeAll(async () => {
    forkwatch = await startForkwatch();
    for (const name of names) forkRenamed(uniqueName('fw-hostile-'), 0, name.bytes, FORKS);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await forkwatch?.stop();
    removeForkers();
  });

  async function parentForks(): Promise<Map<string, number>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const counts = new Map(
        parseSamples(await forkwatch.scrape())
          .filter((sample) => sample.name === 'forkwatch_parent_forks_total')
          .map((sample) => [sample.labels.comm!, sample.value]),
      );
      if (names.every((name) => counts.get(name.label) === FORKS) || Date.now() > deadline) return counts;
      await sleep(50);
    }
  }

  it('exports every hostile name as its own label value, counted exactly', async () => {
    const counts = await parentForks();
    for (const name of names) expect(counts.get(name.label), JSON.stringify(name.label)).toBe(FORKS);
  });

  it('serves a page that promtool check metrics passes without a single problem', async () => {
    await parentForks();
    const page = await forkwatch.scrape();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('is scraped by a real Prometheus server, which stores every name intact', async () => {
    prometheus = await startPrometheus({ targets: [new URL(forkwatch.url).host] });
    const deadline = Date.now() + 30_000;
    let stored = new Map<string, number>();
    while (Date.now() < deadline) {
      const result = await prometheus.query('forkwatch_parent_forks_total');
      stored = new Map(result.map((sample) => [sample.metric.comm!, Number(sample.value[1])]));
      if (names.every((name) => stored.has(name.label))) break;
      await sleep(500);
    }
    for (const name of names) expect(stored.get(name.label), JSON.stringify(name.label)).toBe(FORKS);
    const up = await prometheus.query('up{job="forkwatch"}');
    expect(up.map((sample) => sample.value[1])).toEqual(['1']);
  }, 60_000);
});
