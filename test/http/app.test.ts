// Every route, through fastify's inject(): no port, no kernel.
import { spawnSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createExporter } from '../helpers/exporter.js';
import { forkwatchApp, frameworkErrors, wantsOpenMetrics } from '../../src/http/app.js';
import type { WebConfig } from '../../src/http/web-config.js';
import { forkwatchMetricNames } from '../helpers/metric-groups.js';
import { sampleValue } from '../helpers/metrics-text.js';
import { createLogger } from '../../src/log.js';

// Every metric of every group in src/metrics/groups.ts.
const CORE_METRICS = forkwatchMetricNames();

let app: FastifyInstance | undefined;
let logLines: string[] = [];

afterEach(async () => {
  await app?.close();
  app = undefined;
  logLines = [];
});

async function build(options: { ready?: () => boolean; telemetryPath?: string; webConfig?: WebConfig } = {}): Promise<FastifyInstance> {
  // An exporter that never subscribed: its metrics exist, all at their start values.
  const exporter = createExporter({}, '1.2.3-test');
  app = Fastify({ frameworkErrors }); // as src/server.ts builds it
  await app.register(forkwatchApp, {
    registries: exporter.registries,
    ready: options.ready ?? (() => false),
    version: '1.2.3-test',
    telemetryPath: options.telemetryPath ?? '/metrics',
    webConfig: options.webConfig,
    logger: createLogger('error', 'json', (line) => logLines.push(line)),
  });
  return app;
}

describe('GET /metrics', () => {
  it('knows the core metrics from the list of metric groups', () => {
    expect(CORE_METRICS).toContain('forkwatch_forks_total');
    expect(CORE_METRICS).toContain('forkwatch_build_info');
    expect(CORE_METRICS.every((name) => name.startsWith('forkwatch_'))).toBe(true);
  });

  it('serves the Prometheus text format with every core metric', async () => {
    const response = await (await build()).inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain; version=0.0.4');
    for (const name of CORE_METRICS) {
      expect(response.body).toContain(`# HELP ${name} `);
      expect(response.body).toContain(`# TYPE ${name} `);
    }
  });

  it('exports every label set known in advance from the start, at 0', async () => {
    const page = (await (await build()).inject('/metrics')).body;
    for (const kind of ['process', 'thread']) expect(page).toContain(`forkwatch_forks_total{kind="${kind}"} 0`);
    for (const event of ['fork', 'exec', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump', 'exit', 'other']) {
      expect(page).toContain(`forkwatch_events_total{event="${event}"} 0`);
    }
    expect(page).toContain('forkwatch_parent_forks_total{comm="__other__"} 0');
    expect(page).toContain('forkwatch_chain_forks_total{comm="__other__"} 0');
    expect(page).toContain('forkwatch_fork_chain_depth_max 0');
    expect(sampleValue(page, 'forkwatch_subscribed')).toBe(0);
    expect(sampleValue(page, 'forkwatch_build_info', { version: '1.2.3-test', nodejs: process.versions.node })).toBe(1);
  });

  it('serves a page that promtool check metrics passes without a single problem', async () => {
    const page = (await (await build()).inject('/metrics')).body;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: page, encoding: 'utf8' });
    expect(check.error, 'promtool is missing: apt-get install prometheus').toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('serves OpenMetrics to a scraper that asks for it', async () => {
    const response = await (await build()).inject({
      url: '/metrics',
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/openmetrics-text');
    expect(response.body).toContain('# TYPE forkwatch_forks counter');
    expect(response.body.endsWith('# EOF\n')).toBe(true);
  });

  it('keeps the text page intact after an OpenMetrics scrape', async () => {
    const server = await build();
    await server.inject({ url: '/metrics', headers: { accept: 'application/openmetrics-text' } });
    const page = (await server.inject('/metrics')).body;
    expect(page).toContain('# TYPE forkwatch_forks_total counter');
    expect(page).toContain('forkwatch_forks_total{kind="process"} 0');
  });

  it('serves the page at --web.telemetry-path, and not at /metrics then', async () => {
    const server = await build({ telemetryPath: '/custom/path' });
    expect((await server.inject('/custom/path')).statusCode).toBe(200);
    expect((await server.inject('/metrics')).statusCode).toBe(404);
  });
});

describe('choosing the exposition format', () => {
  it.each([
    [undefined, false],
    ['text/plain', false],
    ['*/*', false],
    ['application/openmetrics-text', true],
    // What Prometheus 2.42 sends.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5', false],
    ['application/openmetrics-text;q=0', false],
    ['application/openmetrics-text;q=oops', false],
  ])('Accept: %s -> OpenMetrics %s', (accept, expected) => {
    expect(wantsOpenMetrics(accept)).toBe(expected);
  });

  it('says that the page varies with Accept', async () => {
    expect((await (await build()).inject('/metrics')).headers.vary).toBe('Accept');
  });
});

describe('GET /', () => {
  it('names the exporter and its version and links to the metrics', async () => {
    const response = await (await build({ telemetryPath: '/m' })).inject('/');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('forkwatch');
    expect(response.body).toContain('1.2.3-test');
    expect(response.body).toContain('href="/m"');
  });
});

describe('health and readiness', () => {
  it('answers /-/healthy with 200', async () => {
    expect((await (await build()).inject('/-/healthy')).statusCode).toBe(200);
  });

  it('answers /-/ready with 503 until the subscription is confirmed, then 200', async () => {
    let ready = false;
    const server = await build({ ready: () => ready });
    expect((await server.inject('/-/ready')).statusCode).toBe(503);
    ready = true;
    expect((await server.inject('/-/ready')).statusCode).toBe(200);
  });
});

describe('basic auth and headers from the web config', () => {
  const webConfig = (): WebConfig => ({
    clientAuthType: 'NoClientCert',
    basicAuthUsers: new Map([['prometheus', bcrypt.hashSync('s3cret', 4)]]),
    headers: { 'X-Frame-Options': 'deny' },
  });
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('refuses a request without credentials with 401 and a challenge', async () => {
    const response = await (await build({ webConfig: webConfig() })).inject('/metrics');
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic');
  });

  it('refuses a wrong password and an unknown user', async () => {
    const server = await build({ webConfig: webConfig() });
    expect((await server.inject({ url: '/metrics', headers: { authorization: basic('prometheus', 'wrong') } })).statusCode).toBe(401);
    expect((await server.inject({ url: '/metrics', headers: { authorization: basic('mallory', 's3cret') } })).statusCode).toBe(401);
  });

  it('answers the probes\' paths without credentials, with the configured headers', async () => {
    let ready = false;
    const server = await build({ webConfig: webConfig(), ready: () => ready });
    const healthy = await server.inject('/-/healthy');
    expect(healthy.statusCode).toBe(200);
    expect(healthy.headers['x-frame-options']).toBe('deny');
    expect((await server.inject('/-/ready')).statusCode).toBe(503);
    ready = true;
    expect((await server.inject('/-/ready')).statusCode).toBe(200);
    // What they say discloses nothing a probe could not learn from the status.
    expect(healthy.body).toBe('forkwatch is healthy.\n');
    expect((await server.inject('/-/ready')).body).toBe('forkwatch is ready.\n');
  });

  it('asks for credentials everywhere else: the landing page, unknown paths, the probes\' paths with a query too', async () => {
    const server = await build({ webConfig: webConfig() });
    for (const url of ['/', '/nowhere', '/metrics?x=/-/healthy']) {
      expect((await server.inject(url)).statusCode, url).toBe(401);
    }
    expect((await server.inject('/-/healthy?verbose=1')).statusCode).toBe(200);
  });

  it('answers 429 at once to a second unverified attempt from an address whose first still waits for bcrypt', async () => {
    const server = await build({ webConfig: webConfig() });
    const [first, second] = await Promise.all([
      server.inject({ url: '/metrics', headers: { authorization: basic('prometheus', 'guess-1') } }),
      server.inject({ url: '/metrics', headers: { authorization: basic('prometheus', 'guess-2') } }),
    ]);
    expect(first.statusCode).toBe(401);
    expect(second.statusCode).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.body).toBe('429 Too Many Requests\n');
  });

  it('serves the right user, with the configured headers', async () => {
    const response = await (await build({ webConfig: webConfig() })).inject({
      url: '/metrics',
      headers: { authorization: basic('prometheus', 's3cret') },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-frame-options']).toBe('deny');
  });
});

describe('errors', () => {
  it('answers a failing route with a generic 500 and logs what failed', async () => {
    const exporter = createExporter({}, '1.2.3-test');
    exporter.registries.text.metrics = async () => {
      throw new Error('collect failed at /proc/4242/stat');
    };
    app = Fastify();
    await app.register(forkwatchApp, {
      registries: exporter.registries,
      ready: () => true,
      version: '1.2.3-test',
      telemetryPath: '/metrics',
      logger: createLogger('error', 'json', (line) => logLines.push(line)),
    });
    const response = await app.inject('/metrics');
    expect(response.statusCode).toBe(500);
    expect(response.body).toBe('500 Internal Server Error\n');
    expect(logLines).toHaveLength(1);
    expect(JSON.parse(logLines[0]!)).toMatchObject({ level: 'error', msg: 'request failed', url: '/metrics', error: 'collect failed at /proc/4242/stat' });
  });

  it('answers an unknown path with a generic 404 that does not echo the path', async () => {
    const response = await (await build()).inject('/%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(response.statusCode).toBe(404);
    expect(response.body).toBe('404 Not Found\n');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers a URL that is not valid percent-encoding with a generic 400 that does not echo it', async () => {
    const response = await (await build()).inject('/metrics/%zz');
    expect(response.statusCode).toBe(400);
    expect(response.body).toBe('400 Bad Request\n');
  });

  it('answers a body it cannot parse with its status only', async () => {
    const response = await (await build()).inject({ method: 'POST', url: '/metrics', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toBe('400 Bad Request\n');
    expect(logLines).toEqual([]); // a client's mistake is not forkwatch's error
  });
});
