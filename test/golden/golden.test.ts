// The golden page: the kernel datagrams captured in test/kernel/fixtures/, replayed through
// the real pipeline into an exporter (its /proc is test/golden/proc/), and its /metrics page
// fetched through the HTTP app, must equal test/golden/metrics.txt, forkwatch's own lines
// of it. Any change to a metric's name, help, type, labels or value shows up as a diff of
// that file in review. After an intended change, write it anew and review the diff:
//
//   FORKWATCH_UPDATE_GOLDEN=1 npx vitest run test/golden
import Fastify from 'fastify';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { exporterOptions } from '../../src/cli/exporter-options.js';
import { Exporter } from '../../src/exporter.js';
import { forkwatchApp } from '../../src/http/app.js';
import { secondOf } from '../../src/kernel/clock.js';
import { encodeRecords } from '../../src/kernel/records.js';
import { createLogger } from '../../src/log.js';
import { Procfs } from '../../src/processes/procfs.js';
import { defaultOptions } from '../helpers/exporter.js';
import { FIXTURE_NAMES, readFixture } from '../kernel/fixtures/captured.js';

const GOLDEN = fileURLToPath(new URL('./metrics.txt', import.meta.url));
const PROC = fileURLToPath(new URL('./proc', import.meta.url));

/** The captured datagrams in the order the kernel stamped them. */
function capturedInOrder() {
  return FIXTURE_NAMES.map(readFixture).sort((a, b) => Number(a.event.timestampNs) - Number(b.event.timestampNs));
}

/** forkwatch's own lines of the page; the Node.js version, which varies by machine, named. */
function forkwatchLines(page: string): string {
  return `${page
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?forkwatch_/.test(line))
    .map((line) => line.replace(`nodejs="${process.versions.node}"`, 'nodejs="<the Node.js version>"'))
    .join('\n')}\n`;
}

it('serves the golden page after replaying the captured kernel datagrams', async () => {
  const fixtures = capturedInOrder();
  const last = Number(fixtures[fixtures.length - 1]!.event.timestampNs);
  const exporter = new Exporter({
    ...exporterOptions(defaultOptions(), 'golden', createLogger('error', 'json')),
    procfs: new Procfs(PROC),
    now: () => secondOf(last) + 1,
  });
  exporter.replay([encodeRecords(fixtures.map((fixture) => ({ datagram: fixture.bytes })))]);
  const app = Fastify();
  await app.register(forkwatchApp, {
    registries: exporter.registries,
    ready: () => exporter.ready,
    version: 'golden',
    telemetryPath: '/metrics',
    logger: createLogger('error', 'json'),
  });

  const response = await app.inject('/metrics');
  await app.close();
  const page = forkwatchLines(response.body);

  if (process.env.FORKWATCH_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, page);
  expect(response.statusCode).toBe(200);
  expect(page).toBe(readFileSync(GOLDEN, 'utf8'));
});
