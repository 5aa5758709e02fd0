// The HTTP routes, as a fastify plugin: tests build it and use inject(); src/server.ts
// owns the port, the connection limits, the signals and the shutdown.
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import type { Registries } from '../metrics/registries.js';
import { BasicAuth } from './basic-auth.js';
import type { WebConfig } from './web-config.js';

export interface AppOptions {
  registries: Registries;
  /** True once the kernel confirmed the subscription. */
  ready: () => boolean;
  version: string;
  telemetryPath: string;
  webConfig?: WebConfig;
  logger: Logger;
}

// The probes' paths answer without credentials: they tell only that forkwatch runs and has
// subscribed, and a kubelet cannot send credentials it does not have.
const PROBE_PATHS: readonly string[] = ['/-/healthy', '/-/ready'];

export async function forkwatchApp(app: FastifyInstance, options: AppOptions): Promise<void> {
  const { registries, telemetryPath, webConfig, logger } = options;

  // Error bodies say only the status: a 5xx's detail goes to the log, never to the client.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) logger.error('request failed', { method: request.method, url: request.url, error: error.message });
    return sendStatus(reply, status);
  });
  app.setNotFoundHandler((_request, reply) => sendStatus(reply, 404));

  if (webConfig) {
    const basicAuth = new BasicAuth(webConfig.basicAuthUsers);
    app.addHook('onClose', async () => basicAuth.close());
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      for (const [name, value] of Object.entries(webConfig.headers)) reply.header(name, value);
      if (PROBE_PATHS.includes(request.routeOptions.url ?? '')) return;
      const result = await basicAuth.check(request.headers.authorization, request.socket.remoteAddress ?? '');
      if (result === 'denied') return sendStatus(reply.header('www-authenticate', 'Basic'), 401);
      // Too many unverified attempts wait for bcrypt already: refuse without adding one.
      if (result === 'busy') return sendStatus(reply.header('retry-after', '1'), 429);
    });
  }

  app.get(telemetryPath, async (request, reply) => {
    const registry = wantsOpenMetrics(request.headers.accept) ? registries.openMetrics : registries.text;
    const page = await registry.metrics();
    return reply.header('vary', 'Accept').type(registry.contentType).send(page);
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(landingPage(options.version, telemetryPath)));

  app.get('/-/healthy', async (_request, reply) => reply.type('text/plain').send('forkwatch is healthy.\n'));

  app.get('/-/ready', async (_request, reply) =>
    options.ready()
      ? reply.type('text/plain').send('forkwatch is ready.\n')
      : reply.code(503).type('text/plain').send('forkwatch is not ready: the kernel has not confirmed the subscription yet.\n'),
  );
}

/** OpenMetrics when the scraper prefers it (by q-value) to the text format. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (!Number.isFinite(weight)) continue;
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, weight);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, weight);
  }
  return openMetrics > 0 && openMetrics >= text;
}

/**
 * Fastify's `frameworkErrors` option: errors met before any route is chosen (a URL that is
 * not valid percent-encoding), which would otherwise be answered with the URL echoed back.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void sendStatus(reply, error.statusCode ?? 400);
}

function sendStatus(reply: FastifyReply, status: number): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${status} ${STATUS_CODES[status] ?? 'Error'}\n`);
}

function landingPage(version: string, telemetryPath: string): string {
  const path = escapeHtml(telemetryPath);
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>forkwatch</title></head>
<body>
<h1>forkwatch</h1>
<p>Prometheus exporter for Linux process creation, version ${escapeHtml(version)}.</p>
<p><a href="${path}">Metrics</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></p>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
