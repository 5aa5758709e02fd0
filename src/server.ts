// Process concerns of the HTTP side: the port, TLS, the connection limits, a graceful close.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { forkwatchApp, frameworkErrors, type AppOptions } from './http/app.js';
import { clientCertificateAccepted } from './http/web-config.js';
import { StartupError } from './startup-error.js';

/**
 * What a client may hold, and for how long. Node's defaults let a connection idle or send
 * its headers for minutes, and accept connections without end: a host-network port reached
 * by anyone would pile them up.
 */
export interface HttpLimits {
  /** The TLS handshake must be done within this. */
  handshakeTimeoutMs: number;
  /** A request's headers must all have arrived this long after its first byte (or the connection). */
  headersTimeoutMs: number;
  /** The whole request must have arrived within this. */
  requestTimeoutMs: number;
  /** A connection idle between requests is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic at all (e.g. a client that stops reading) is closed after this. */
  idleTimeoutMs: number;
  /** How often Node checks the two timeouts above; they fire up to this much late. */
  timeoutCheckIntervalMs: number;
  /** Larger request headers are answered 431 and the connection is closed. */
  maxHeaderBytes: number;
  /** Connections beyond this many are closed as soon as they are accepted. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  // Longer than a 15 s scrape interval, so Prometheus keeps its connection between scrapes.
  keepAliveTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  timeoutCheckIntervalMs: 1_000,
  // Prometheus sends well under 1 KiB of headers; Go's net/http allows 1 MiB, Node 16 KiB.
  maxHeaderBytes: 8192,
  // An idle TLS connection holds 50 to 60 KiB (npm run bench:http): 85 MiB at the cap. Kept-alive
  // connections, as Prometheus keeps its own, stay open when the cap is reached.
  maxConnections: 1500,
};

export interface ServerOptions extends AppOptions {
  host: string; // '' for every interface
  port: number;
  limits?: Partial<HttpLimits>;
}

export async function startServer(options: ServerOptions): Promise<{ app: FastifyInstance; url: string }> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const nodeOptions = {
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    maxHeaderSize: limits.maxHeaderBytes,
  };
  const https = options.webConfig?.https;
  const app = Fastify({
    logger: false,
    frameworkErrors,
    ...(https ? { https: { ...https, ...nodeOptions, handshakeTimeout: limits.handshakeTimeoutMs } } : { http: nodeOptions }),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.server.maxConnections = limits.maxConnections;
  const webConfig = options.webConfig;
  if (webConfig?.https) {
    // Two client-certificate policies need a check per connection (see web-config.ts).
    app.server.on('secureConnection', (socket: TLSSocket) => {
      if (!clientCertificateAccepted(webConfig, socket)) socket.destroy();
    });
  }
  await app.register(forkwatchApp, options);

  const shown = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  try {
    await listenAnywhere(app, options.host, options.port);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new StartupError(`cannot listen on ${shown}: the address is in use; stop what holds it or choose another with --web.listen-address`);
    }
    if (code === 'EACCES') {
      throw new StartupError(`cannot listen on ${shown}: permission denied; choose a port above 1023 with --web.listen-address`);
    }
    if (code === 'EADDRNOTAVAIL') {
      throw new StartupError(`cannot listen on ${shown}: no interface has that address; fix --web.listen-address`);
    }
    throw new StartupError(`cannot listen on ${shown}: ${(error as Error).message}`);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const scheme = options.webConfig?.https ? 'https' : 'http';
  const host = options.host === '' ? 'localhost' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return { app, url: `${scheme}://${host}:${port}` };
}

// ":9740" means every interface: IPv6 and IPv4 together where the host has IPv6.
async function listenAnywhere(app: FastifyInstance, host: string, port: number): Promise<void> {
  if (host !== '') {
    await app.listen({ host, port });
    return;
  }
  try {
    await app.listen({ host: '::', port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    await app.listen({ host: '0.0.0.0', port });
  }
}
