// The HTTP limits, with real sockets: a connection that idles, sends its headers slowly, or
// never finishes its TLS handshake is closed; connections beyond the cap are closed at once;
// oversized headers are refused. Shortened limits prove each mechanism quickly; the default
// ones are checked where a test can wait for them.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadWebConfig, type WebConfig } from '../../src/http/web-config.js';
import { createLogger } from '../../src/log.js';
import { packageRoot } from '../../src/package.js';
import { DEFAULT_HTTP_LIMITS, startServer, type HttpLimits } from '../../src/server.js';
import { createExporter } from '../helpers/exporter.js';

const SHORT: Partial<HttpLimits> = {
  handshakeTimeoutMs: 500,
  headersTimeoutMs: 500,
  requestTimeoutMs: 1000,
  keepAliveTimeoutMs: 500,
  idleTimeoutMs: 1000,
  timeoutCheckIntervalMs: 100,
};

let running: FastifyInstance | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await running?.close();
  running = undefined;
});

async function serve(limits: Partial<HttpLimits>, webConfig?: WebConfig): Promise<{ port: number; app: FastifyInstance }> {
  const exporter = createExporter({}, 'test');
  const { app } = await startServer({
    host: '127.0.0.1',
    port: 0,
    registries: exporter.registries,
    ready: () => true,
    version: 'test',
    telemetryPath: '/metrics',
    logger: createLogger('error', 'json', () => {}),
    limits,
    ...(webConfig ? { webConfig } : {}),
  });
  running = app;
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return { port: address.port, app };
}

interface Client {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
}

async function open(port: number): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const closed = whenClosed(socket);
  await once(socket, 'connect');
  return { socket, received: () => text, closed };
}

/** Resolves when the socket closes, whether the server ended or reset it. */
function whenClosed(socket: Socket): Promise<void> {
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes one header line every `everyMs` until the socket closes. */
function dribbleHeaders(socket: Socket, everyMs: number): void {
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write('X-Slow: 1\r\n');
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}

async function connectionCount(app: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) => app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe('timeouts, with shortened limits', () => {
  it('closes a connection that never sends a byte, with 408', async () => {
    const { port } = await serve(SHORT);
    const client = await open(port);
    expect(await within(client.closed, 10_000)).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that sends its headers a line at a time, however steadily', async () => {
    const { port } = await serve(SHORT);
    const client = await open(port);
    dribbleHeaders(client.socket, 100); // five lines per headers timeout: activity never stops
    expect(await within(client.closed, 10_000)).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a kept-alive connection that idles after its response', async () => {
    const { port } = await serve(SHORT);
    const client = await open(port);
    client.socket.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await within(client.closed, 10_000)).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*forkwatch is healthy\.\n$/);
  });

  it('keeps a connection open while it makes requests within the keep-alive timeout', async () => {
    const { port } = await serve(SHORT);
    const client = await open(port);
    for (let i = 0; i < 3; i++) {
      client.socket.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(client.socket.destroyed).toBe(false);
    expect(client.received().match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
  });

  it('closes a TLS connection that idles or sends its headers slowly after its handshake', async () => {
    const { port } = await serve(SHORT, tlsConfig());
    const handshake = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket));
        socket.resume(); // read, so that the server's close is seen
        sockets.push(socket);
        socket.once('error', reject);
      });
    const idle = await handshake();
    const slow = await handshake();
    const closed = [idle, slow].map((socket) => within(whenClosed(socket), 10_000));
    dribbleHeaders(slow, 100);
    expect(await Promise.all(closed)).toEqual([true, true]);
  });

  it('closes a TLS connection that never finishes its handshake', async () => {
    const { port } = await serve(SHORT, tlsConfig());
    const client = await open(port);
    client.socket.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello, and no more
    expect(await within(client.closed, 10_000)).toBe(true);
  });
});

describe('the connection cap', () => {
  it('closes connections beyond the cap as soon as they are accepted, and admits new ones once others close', async () => {
    const { port, app } = await serve({ ...SHORT, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000, idleTimeoutMs: 60_000, maxConnections: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => open(port)));
    while ((await connectionCount(app)) < 5) await new Promise((resolve) => setTimeout(resolve, 10));

    const refused = await Promise.all(Array.from({ length: 3 }, () => open(port)));
    for (const client of refused) expect(await within(client.closed, 10_000)).toBe(true);
    for (const client of refused) expect(client.received()).toBe('');
    expect(held.every((client) => !client.socket.destroyed)).toBe(true);
    expect(await connectionCount(app)).toBe(5);

    held[0]!.socket.destroy();
    while ((await connectionCount(app)) > 4) await new Promise((resolve) => setTimeout(resolve, 10));
    const admitted = await open(port);
    admitted.socket.write('GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await admitted.closed;
    expect(admitted.received()).toMatch(/^HTTP\/1\.1 200 OK/);
  });
});

describe('header size', () => {
  it(`answers 431 to request headers over ${DEFAULT_HTTP_LIMITS.maxHeaderBytes} bytes, and serves them under it`, async () => {
    const { port } = await serve({});
    const big = await open(port);
    big.socket.write(`GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(DEFAULT_HTTP_LIMITS.maxHeaderBytes)}\r\n\r\n`);
    await big.closed;
    expect(big.received()).toMatch(/^HTTP\/1\.1 431 /);

    const fine = await open(port);
    fine.socket.write(`GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
    await fine.closed;
    expect(fine.received()).toMatch(/^HTTP\/1\.1 200 OK/);
  });
});

describe('the default limits', () => {
  it('are the ones the README states', () => {
    expect(DEFAULT_HTTP_LIMITS).toEqual({
      handshakeTimeoutMs: 10_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 30_000,
      idleTimeoutMs: 30_000,
      timeoutCheckIntervalMs: 1_000,
      maxHeaderBytes: 8192,
      maxConnections: 1500,
    });
    const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
    for (const row of [
      '| TLS handshake | 10 s |',
      '| request headers, from the connection\'s start or the request\'s first byte | 10 s |',
      '| whole request | 30 s |',
      '| idle between requests (keep-alive) | 30 s |',
      '| no traffic at all (e.g. a client that stops reading) | 30 s |',
      '| request header size | 8 KiB |',
      '| open connections | 1,500 |',
    ]) {
      expect(readme).toContain(row);
    }
    expect(readme).toContain('The timeouts are checked every second.');
  });

  it('close an idle and a slow-header connection within the headers timeout (10 s) and the check interval', async () => {
    const { port } = await serve({});
    const idle = await open(port);
    const slow = await open(port);
    dribbleHeaders(slow.socket, 1000);
    const deadline = DEFAULT_HTTP_LIMITS.headersTimeoutMs + DEFAULT_HTTP_LIMITS.timeoutCheckIntervalMs + 5000;
    const [idleClosed, slowClosed] = await Promise.all([within(idle.closed, deadline), within(slow.closed, deadline)]);
    expect(idleClosed).toBe(true);
    expect(slowClosed).toBe(true);
    expect(idle.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});

let tlsDir: string | undefined;
function tlsConfig(): WebConfig {
  if (tlsDir === undefined) {
    tlsDir = mkdtempSync(join(tmpdir(), 'forkwatch-server-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1'],
      { cwd: tlsDir, stdio: 'ignore' },
    );
    writeFileSync(join(tlsDir, 'web.yml'), 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n');
  }
  return loadWebConfig(join(tlsDir, 'web.yml'));
}

afterAll(() => {
  if (tlsDir !== undefined) rmSync(tlsDir, { recursive: true, force: true });
});
