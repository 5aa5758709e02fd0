// Process concerns of the HTTP side: the port, TLS, and a graceful close.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { forkwatchApp, type AppOptions } from './http/app.js';
import { clientCertificateAccepted } from './http/web-config.js';
import { StartupError } from './startup-error.js';
import type { Logger } from './log.js';

export interface ServerOptions extends AppOptions {
  host: string; // '' for every interface
  port: number;
  logger: Logger;
}

export async function startServer(options: ServerOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({
    logger: false,
    ...(options.webConfig?.https ? { https: options.webConfig.https } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.setErrorHandler((error, request, reply) => {
    const message = error instanceof Error ? error.message : String(error);
    options.logger.error('request failed', { url: request.url, error: message });
    void reply.code(500).type('text/plain').send(`forkwatch: ${message}\n`);
  });
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
