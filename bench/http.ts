// The HTTP benchmark (issue 12): how much an attacker who reaches forkwatch's port can delay
// a correct scrape. The real forkwatch command serves TLS and basic auth (bcrypt cost 10),
// as the hardened deployment does. Timing figures are reported, never judged: it exits
// non-zero only when it could not run or forkwatch failed.
//
// 1. Connections: 1,000 idle TLS connections and 50 clients that send their headers a line a
//    second, while a scraper scrapes every 200 ms: for 6 s while all are held, then for the
//    asked time while forkwatch's 10 s timeouts close them and each comes straight back.
// 2. Wrong passwords during a storm: 50 clients from 10 addresses send new wrong passwords
//    as fast as they are answered while `stress-ng --vfork 2` runs, a scraper whose
//    credentials were verified before (as Prometheus's are, scraping since the start)
//    scrapes every 200 ms, and a newcomer's credentials are verified for the first time.
//
//   npm run bench:http                       10 s each
//   npm run build && node dist/bench/http.js --seconds 20
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { sleep, startForkwatch, type RunningForkwatch } from '../test/helpers/forkwatch-process.js';
import { parseSamples } from '../test/helpers/metrics-text.js';
import { removeForkers } from '../test/helpers/forker.js';
import { between, reading, readingAfter } from '../test/helpers/kernel-forks.js';
import { startStorm } from '../test/helpers/storm.js';
import { parseSeconds } from './args.js';

const SCRAPE_INTERVAL_MS = 200;
const IDLE_CONNECTIONS = 1000;
const SLOW_HEADER_CLIENTS = 50;
const FLOOD_CLIENTS = 50;
const FLOOD_ADDRESSES = 10;
const BCRYPT_COST = 10;

/** The benchmark could not run, or forkwatch failed: report the reason and exit 1. */
class BenchError extends Error {}

interface Credentials {
  user: string;
  password: string;
}

interface Setup {
  dir: string;
  config: string;
  ca: string;
  /** The bench's own readings; the measured scraper; the one verified during the flood. */
  reader: Credentials;
  scraper: Credentials;
  newcomer: Credentials;
}

function setUp(): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-bench-http-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { cwd: dir, stdio: 'ignore' },
  );
  const reader = { user: 'bench', password: randomBytes(12).toString('base64url') };
  const scraper = { user: 'prometheus', password: randomBytes(12).toString('base64url') };
  const newcomer = { user: 'newcomer', password: randomBytes(12).toString('base64url') };
  const config = join(dir, 'web.yml');
  writeFileSync(
    config,
    [
      'tls_server_config:',
      '  cert_file: cert.pem',
      '  key_file: key.pem',
      'basic_auth_users:',
      ...[reader, scraper, newcomer].map(({ user, password }) => `  ${user}: '${bcrypt.hashSync(password, BCRYPT_COST)}'`),
      '',
    ].join('\n'),
  );
  return { dir, config, ca: readFileSync(join(dir, 'cert.pem'), 'utf8'), reader, scraper, newcomer };
}

// ---- HTTPS ----

interface Answer {
  status: number;
  body: string;
  ms: number;
}

function get(url: string, options: { ca: string; agent: Agent; credentials?: Credentials; timeoutMs?: number }): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.credentials) {
      headers.authorization = `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString('base64')}`;
    }
    const req = request(url, { ca: options.ca, agent: options.agent, headers, timeout: options.timeoutMs ?? 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within the timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A kept-alive connection from one local address, as Prometheus keeps one per target. */
function agentFrom(localAddress: string): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1, localAddress });
}

async function waitReady(forkwatch: RunningForkwatch, ca: string): Promise<void> {
  const agent = new Agent();
  const deadline = Date.now() + 20_000;
  try {
    for (;;) {
      const ready = await get(`${forkwatch.url}/-/ready`, { ca, agent }).catch(() => undefined);
      if (ready?.status === 200) return;
      if (Date.now() > deadline) throw new BenchError(`forkwatch was not ready in time:\n${forkwatch.stderr()}`);
      await sleep(50);
    }
  } finally {
    agent.destroy();
  }
}

// ---- the scraper ----

interface ScrapeLog {
  latenciesMs: number[];
  statuses: Map<string, number>;
}

/**
 * Scrapes every SCRAPE_INTERVAL_MS, one at a time, until stop(), over one kept-alive
 * connection. Its credentials are verified before it starts, as Prometheus's are.
 */
async function scrapeThroughout(url: string, ca: string, credentials: Credentials, localAddress: string): Promise<{ stop(): Promise<ScrapeLog> }> {
  const log: ScrapeLog = { latenciesMs: [], statuses: new Map() };
  const agent = agentFrom(localAddress);
  const verified = await get(url, { ca, agent, credentials });
  if (verified.status !== 200) throw new BenchError(`the scraper's first scrape got ${verified.status}`);
  let stopping = false;
  const loop = (async () => {
    let next = performance.now();
    while (!stopping) {
      let outcome: string;
      try {
        const answer = await get(url, { ca, agent, credentials });
        outcome = String(answer.status);
        if (answer.status === 200) log.latenciesMs.push(answer.ms);
      } catch (error) {
        outcome = (error as Error).message;
      }
      log.statuses.set(outcome, (log.statuses.get(outcome) ?? 0) + 1);
      next = Math.max(next + SCRAPE_INTERVAL_MS, performance.now());
      await sleep(next - performance.now());
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      agent.destroy();
      return log;
    },
  };
}

// ---- part 1: idle and slow-header connections ----

interface ConnectionLog {
  opened: number;
  closedByServer: number;
  failed: number;
}

/**
 * Keeps `count` TLS connections open that send nothing after the handshake (or, with
 * `dribbleMs`, a header line every `dribbleMs`), reopening each one forkwatch closes.
 */
function holdConnections(port: number, count: number, dribbleMs?: number): { log: ConnectionLog; stop(): ConnectionLog } {
  const log: ConnectionLog = { opened: 0, closedByServer: 0, failed: 0 };
  const sockets = new Set<TLSSocket>();
  let stopping = false;
  const open = (): void => {
    if (stopping) return;
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.resume(); // read what forkwatch sends (a 408), so that its close is seen
    sockets.add(socket);
    let timer: NodeJS.Timeout | undefined;
    socket.on('secureConnect', () => {
      log.opened++;
      if (dribbleMs === undefined) return;
      socket.write('GET /metrics HTTP/1.1\r\nHost: forkwatch\r\n');
      timer = setInterval(() => socket.write('X-Slow: 1\r\n'), dribbleMs);
    });
    socket.on('error', () => log.failed++);
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      if (stopping) return;
      log.closedByServer++;
      setTimeout(open, 10); // an attacker comes back
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    log,
    stop() {
      stopping = true;
      for (const socket of sockets) socket.destroy();
      return log;
    },
  };
}

interface ConnectionFigures {
  heldSeconds: number;
  reopeningSeconds: number;
  idleConnections: number;
  slowHeaderClients: number;
  before: Latency;
  /** While every connection is open, before forkwatch's timeouts close any. */
  held: Latency;
  /** While forkwatch closes them at its timeouts and they come back, 1,050 handshakes at a time. */
  reopening: Latency;
  scrapeFailures: Record<string, number>;
  idle: ConnectionLog;
  slow: ConnectionLog;
  peakOpenSockets: number;
  rssMiBBefore: number;
  peakRssMiB: number;
}

/** A window shorter than the 10 s headers timeout, so no connection is closed in it. */
const HELD_SECONDS = 6;

async function connectionsPart(setup: Setup, seconds: number): Promise<ConnectionFigures> {
  progress('part 1: starting forkwatch with TLS and basic auth');
  const forkwatch = await start(setup);
  try {
    const url = `${forkwatch.url}/metrics`;
    const port = Number(new URL(forkwatch.url).port);
    progress('part 1: scraping without an attack');
    const before = await scrapeFor(url, setup, 4);
    const rssBefore = rssMiB(forkwatch.pid);

    progress(`part 1: opening ${IDLE_CONNECTIONS} idle and ${SLOW_HEADER_CLIENTS} slow-header connections`);
    const idle = holdConnections(port, IDLE_CONNECTIONS);
    const slow = holdConnections(port, SLOW_HEADER_CLIENTS, 1000);
    while (idle.log.opened + slow.log.opened < IDLE_CONNECTIONS + SLOW_HEADER_CLIENTS) {
      if (idle.log.failed + slow.log.failed > 0) throw new BenchError('a connection failed to open');
      await sleep(50);
    }
    let peakSockets = 0;
    let peakRss = rssBefore;
    const watch = setInterval(() => {
      peakSockets = Math.max(peakSockets, openSockets(forkwatch.pid));
      peakRss = Math.max(peakRss, rssMiB(forkwatch.pid));
    }, 250);
    let held: ScrapeLog;
    let reopening: ScrapeLog;
    try {
      progress(`part 1: all open; scraping every ${SCRAPE_INTERVAL_MS} ms for ${HELD_SECONDS} s`);
      held = await scrapeFor(url, setup, HELD_SECONDS);
      if (idle.log.closedByServer + slow.log.closedByServer > 0) throw new BenchError('connections were closed before the held window ended');
      progress(`part 1: scraping for ${seconds} s more, while forkwatch closes them and they come back`);
      reopening = await scrapeFor(url, setup, seconds);
    } finally {
      clearInterval(watch);
    }
    const idleLog = idle.stop();
    const slowLog = slow.stop();
    alive(forkwatch);

    return {
      heldSeconds: HELD_SECONDS,
      reopeningSeconds: seconds,
      idleConnections: IDLE_CONNECTIONS,
      slowHeaderClients: SLOW_HEADER_CLIENTS,
      before: latency(before.latenciesMs),
      held: latency(held.latenciesMs),
      reopening: latency(reopening.latenciesMs),
      scrapeFailures: { ...failures(held.statuses), ...failures(reopening.statuses) },
      idle: idleLog,
      slow: slowLog,
      peakOpenSockets: peakSockets,
      rssMiBBefore: round(rssBefore, 1),
      peakRssMiB: round(peakRss, 1),
    };
  } finally {
    await stop(forkwatch);
  }
}

async function scrapeFor(url: string, setup: Setup, seconds: number): Promise<ScrapeLog> {
  const scraper = await scrapeThroughout(url, setup.ca, setup.scraper, '127.0.0.1');
  await sleep(seconds * 1000);
  return scraper.stop();
}

// ---- part 2: wrong passwords during a storm ----

interface FloodLog {
  denied: number;
  busy: number;
  other: number;
}

/**
 * FLOOD_CLIENTS clients spread over FLOOD_ADDRESSES addresses, each sending a new wrong
 * password as soon as it is answered: one per address waits for bcrypt, the others are
 * answered 429 at once and come straight back.
 */
function flood(url: string, ca: string, user: string): { stop(): Promise<FloodLog> } {
  const log: FloodLog = { denied: 0, busy: 0, other: 0 };
  let stopping = false;
  const clients = Array.from({ length: FLOOD_CLIENTS }, async (_, i) => {
    const agent = agentFrom(`127.0.1.${(i % FLOOD_ADDRESSES) + 1}`);
    while (!stopping) {
      try {
        const answer = await get(url, { ca, agent, credentials: { user, password: randomBytes(9).toString('base64') } });
        if (answer.status === 401) log.denied++;
        else if (answer.status === 429) log.busy++;
        else log.other++;
      } catch {
        log.other++;
      }
    }
    agent.destroy();
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(clients);
      return log;
    },
  };
}

interface FloodFigures {
  seconds: number;
  stormSeconds: number;
  /** What the kernel counted in the run, at least and at most (the forks during the two readings). */
  kernelForksAtLeast: number;
  kernelForksAtMost: number;
  countedForks: number;
  eventsReceived: number;
  eventsLost: number;
  netlinkDrops: number;
  attempts: FloodLog & { perSecond: number };
  newcomer: { status: number | null; ms: number | null };
  scrapes: Latency;
  scrapeStatuses: Record<string, number>;
}

async function floodPart(setup: Setup, seconds: number): Promise<FloodFigures> {
  requireStressNg();
  progress('part 2: starting forkwatch with TLS and basic auth');
  const forkwatch = await start(setup);
  const url = `${forkwatch.url}/metrics`;
  const readerAgent = agentFrom('127.0.0.3');
  const read = async (): Promise<string> => {
    const answer = await get(url, { ca: setup.ca, agent: readerAgent, credentials: setup.reader });
    if (answer.status !== 200) throw new BenchError(`the bench's own reading got ${answer.status}`);
    return answer.body;
  };
  try {
    progress('part 2: reading the kernel and forkwatch');
    const before = await reading(read);

    progress(`part 2: ${FLOOD_CLIENTS} clients sending wrong passwords during stress-ng --vfork 2 for ${seconds} s, scraping every ${SCRAPE_INTERVAL_MS} ms`);
    const scraper = await scrapeThroughout(url, setup.ca, setup.scraper, '127.0.0.2');
    const attack = flood(url, setup.ca, setup.scraper.user);
    const started = performance.now();
    const storm = startStorm(seconds);
    await sleep(1000); // the flood and the storm are under way
    const newcomer = get(url, { ca: setup.ca, agent: agentFrom('127.0.0.4'), credentials: setup.newcomer, timeoutMs: (seconds + 60) * 1000 }).catch(() => undefined);
    const watchdog = setTimeout(() => void storm.stop(), (seconds + 30) * 1000);
    let stormSeconds: number;
    let scrapes: ScrapeLog;
    let attempts: FloodLog;
    try {
      await storm.done.catch((error: Error) => {
        throw new BenchError(error.message);
      });
      stormSeconds = (performance.now() - started) / 1000;
    } finally {
      clearTimeout(watchdog);
      await storm.stop();
      scrapes = await scraper.stop();
      attempts = await attack.stop();
    }
    const newcomerAnswer = await newcomer;

    progress('part 2: reading the kernel and forkwatch once it has taken in the storm');
    const after = await readingAfter(read, before);
    const window = between(before, after);
    alive(forkwatch);
    const delta = (name: string): number => total(after.page, name) - total(before.page, name);
    const all = attempts.denied + attempts.busy + attempts.other;
    return {
      seconds,
      stormSeconds: round(stormSeconds, 2),
      kernelForksAtLeast: window.kernelAtLeast,
      kernelForksAtMost: window.kernelAtMost,
      countedForks: window.counted,
      eventsReceived: delta('forkwatch_events_total'),
      eventsLost: delta('forkwatch_events_lost_total'),
      netlinkDrops: delta('forkwatch_netlink_drops_total'),
      attempts: { ...attempts, perSecond: Math.round(all / stormSeconds) },
      newcomer: { status: newcomerAnswer?.status ?? null, ms: newcomerAnswer ? round(newcomerAnswer.ms, 1) : null },
      scrapes: latency(scrapes.latenciesMs),
      scrapeStatuses: Object.fromEntries(scrapes.statuses),
    };
  } finally {
    readerAgent.destroy();
    removeForkers();
    await stop(forkwatch);
  }
}

// ---- forkwatch ----

async function start(setup: Setup): Promise<RunningForkwatch> {
  let forkwatch: RunningForkwatch;
  try {
    forkwatch = await startForkwatch(['--web.config.file', setup.config], { waitReady: false });
  } catch (error) {
    throw new BenchError(`forkwatch did not start: ${(error as Error).message}`);
  }
  await waitReady(forkwatch, setup.ca);
  return forkwatch;
}

function alive(forkwatch: RunningForkwatch): void {
  if (forkwatch.child.exitCode !== null || forkwatch.child.signalCode !== null) {
    throw new BenchError(`forkwatch exited during the run:\n${forkwatch.stderr()}`);
  }
}

async function stop(forkwatch: RunningForkwatch): Promise<void> {
  progress('stopping forkwatch (SIGTERM)');
  const exit = await forkwatch.stop('SIGTERM');
  if (exit.code !== 0) throw new BenchError(`forkwatch exited with ${exit.signal ?? `status ${exit.code}`} on SIGTERM:\n${exit.stderr}`);
}

function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Open sockets of a process, counted from its file descriptors. */
function openSockets(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed while we looked
    }
  }
  return sockets;
}

function requireStressNg(): void {
  const probe = spawnSync('stress-ng', ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new BenchError('stress-ng is not installed: apt-get install stress-ng');
}

// ---- figures ----

interface Latency {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latency(values: number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  return { count: sorted.length, p50Ms: round(rank(50), 2), p99Ms: round(rank(99), 2), maxMs: round(sorted[sorted.length - 1] ?? NaN, 2) };
}

function failures(statuses: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...statuses].filter(([outcome]) => outcome !== '200'));
}

function total(page: string, name: string): number {
  return parseSamples(page)
    .filter((sample) => sample.name === name)
    .reduce((sum, sample) => sum + sample.value, 0);
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

const integer = (value: number): string => value.toLocaleString('en-US');
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const describeLatency = (l: Latency): string => `p50 ${ms(l.p50Ms)}   p99 ${ms(l.p99Ms)}   max ${ms(l.maxMs)}   (${l.count} scrapes)`;

function report(c: ConnectionFigures, f: FloodFigures): string {
  const rows: [string, string][] = [];
  const row = (label: string, value: string): void => void rows.push([label, value]);
  row('part 1', `${integer(c.idleConnections)} idle TLS connections + ${c.slowHeaderClients} slow-header clients (a header line a second)`);
  const delay = (l: Latency): string => `${describeLatency(l)}; delay p50 +${ms(l.p50Ms - c.before.p50Ms)}, max +${ms(l.maxMs - c.before.p50Ms)}`;
  row('scrapes before', describeLatency(c.before));
  row(`scrapes, all held (${c.heldSeconds} s)`, delay(c.held));
  row(`scrapes, reopening (${c.reopeningSeconds} s)`, delay(c.reopening));
  row('failed scrapes', JSON.stringify(c.scrapeFailures));
  row('closed by forkwatch', `idle ${integer(c.idle.closedByServer)} of ${integer(c.idle.opened)} opened, slow-header ${integer(c.slow.closedByServer)} of ${integer(c.slow.opened)}`);
  row('forkwatch sockets (peak)', integer(c.peakOpenSockets));
  row('forkwatch RSS', `${c.rssMiBBefore.toFixed(1)} MiB before, ${c.peakRssMiB.toFixed(1)} MiB peak`);
  row('', '');
  row('part 2', `${FLOOD_CLIENTS} clients from ${FLOOD_ADDRESSES} addresses sending wrong passwords (bcrypt cost ${BCRYPT_COST}) during stress-ng --vfork 2, ${f.seconds} s`);
  const bracketed = f.kernelForksAtLeast <= f.countedForks && f.countedForks <= f.kernelForksAtMost;
  row('kernel forks / counted', `${integer(f.kernelForksAtLeast)} to ${integer(f.kernelForksAtMost)} / ${integer(f.countedForks)}${bracketed ? ' (within)' : '  [OUTSIDE the kernel\'s count]'}`);
  row('events received / lost / drops', `${integer(f.eventsReceived)} / ${integer(f.eventsLost)} / ${integer(f.netlinkDrops)}`);
  row('wrong-password attempts', `${integer(f.attempts.denied)} answered 401 after bcrypt, ${integer(f.attempts.busy)} answered 429 at once, ${integer(f.attempts.other)} other (${integer(f.attempts.perSecond)}/s)`);
  row('scrapes (verified before)', describeLatency(f.scrapes));
  row('scrape answers', JSON.stringify(f.scrapeStatuses));
  row('newcomer (bcrypt, queued)', f.newcomer.status === null ? 'no answer' : `${f.newcomer.status} after ${ms(f.newcomer.ms ?? NaN)} (sent 1 s into the storm)`);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => (label === '' ? '' : `${label.padEnd(width)}${value}`)).join('\n');
}

function progress(message: string): void {
  console.error(`bench: ${message}`);
}

async function main(): Promise<void> {
  const seconds = parseSeconds('http.js');
  const setup = setUp();
  try {
    const connections = await connectionsPart(setup, seconds);
    const floodFigures = await floodPart(setup, seconds);
    console.log(report(connections, floodFigures));
    console.log(`bench-json: ${JSON.stringify({ connections, flood: floodFigures })}`);
  } catch (error) {
    if (error instanceof BenchError) console.error(`bench: ${error.message}`);
    else console.error('bench: failed:', error);
    process.exitCode = 1;
  } finally {
    rmSync(setup.dir, { recursive: true, force: true });
  }
}

await main();
