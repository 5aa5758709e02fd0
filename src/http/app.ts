// The HTTP routes, as a fastify plugin: tests build it and use inject(); src/server.ts
// owns the port, the signals and the shutdown.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registries } from '../metrics/registries.js';
import { checkBasicAuth, type WebConfig } from './web-config.js';

export interface AppOptions {
  registries: Registries;
  /** True once the kernel confirmed the subscription. */
  ready: () => boolean;
  version: string;
  telemetryPath: string;
  webConfig?: WebConfig;
}

export async function forkwatchApp(app: FastifyInstance, options: AppOptions): Promise<void> {
  const { registries, telemetryPath, webConfig } = options;

  if (webConfig) {
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      for (const [name, value] of Object.entries(webConfig.headers)) reply.header(name, value);
      if (!(await checkBasicAuth(webConfig, request.headers.authorization))) {
        return reply.code(401).header('www-authenticate', 'Basic').type('text/plain').send('Unauthorized\n');
      }
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
