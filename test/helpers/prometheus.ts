// A real Prometheus server (Debian's `prometheus`), on a free loopback port, scraping
// the targets a test names. Its data lives in a temporary folder removed at stop().
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package.js';
import { sleep } from './forkwatch-process.js';

/**
 * deploy/prometheus/forkwatch-rules.yml written into `dir` with every `for: Nm` turned into
 * `for: Ns`, so that alerts fire in seconds; returns its path.
 */
export function rulesForTest(dir: string): string {
  const rules = readFileSync(join(packageRoot, 'deploy', 'prometheus', 'forkwatch-rules.yml'), 'utf8');
  const path = join(dir, 'forkwatch-rules.yml');
  writeFileSync(path, rules.replace(/^(\s*for:\s*)(\d+)m\s*$/gm, '$1$2s'));
  return path;
}

export interface PrometheusOptions {
  /** host:port of each forkwatch to scrape, as job "forkwatch". */
  targets: string[];
  scrapeInterval?: string;
  ruleFiles?: string[];
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  url: string;
  /** An instant query; throws if Prometheus reports an error. */
  query(promql: string): Promise<VectorSample[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-prometheus-'));
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'forkwatch', static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config)); // JSON is YAML
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk) => (log += chunk));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited at start (is Debian's prometheus installed?):\n${log}`);
    }
    const response = await fetch(`${url}/-/ready`).catch(() => undefined);
    if (response?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready in 30 s:\n${log}`);
    }
    await sleep(100);
  }

  return {
    url,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: VectorSample[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`query ${promql} failed: ${body.error ?? response.status}`);
      return body.data.result;
    },
    stop,
  };
}
