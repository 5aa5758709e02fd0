// The container image, built by a real container engine from the repository's Dockerfile
// and run exactly as deploy/kubernetes/daemonset.yaml runs it: in the host's PID, network
// and user namespaces, as root with every capability dropped but NET_ADMIN, a read-only
// root, no privilege escalation and the runtime's default seccomp profile. It must
// subscribe, count forks exactly, serve /metrics and, on SIGTERM, unsubscribe and exit 0.
//
// The image is built on a locally made base (see test/helpers/image.ts) with the package
// this checkout has built (the Dockerfile's `prebuilt` target): the builder and package
// stages are not run here, because npm's registry is not reachable from inside a build on
// the project's machines; test/deploy/dockerfile.test.ts checks that they make the same
// package.
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { version } from '../../src/package.js';
import { daemonSetRun, type PodmanRun } from '../helpers/daemonset-run.js';
import { forkAs, removeForkers, uniqueName } from '../helpers/forker.js';
import { sleep } from '../helpers/forkwatch-process.js';
import { assemblePackage, buildImage, containerLogs, ensureBaseImage, imageUnavailable, LIMITS, podman, removeImages } from '../helpers/image.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { sampleValue } from '../helpers/metrics-text.js';
import { describeIfAvailable } from '../helpers/requirements.js';
import { controlMessagesSent, traceSendto } from '../helpers/strace.js';

// Making the base image from nothing (debootstrap) takes a minute or two.
const SETUP_TIMEOUT_MS = 10 * 60_000;
const START_TIMEOUT_MS = 30_000;
const CAP_NET_ADMIN = 12; // linux/capability.h

const unavailable = imageUnavailable() ?? (kernelUnavailable === undefined ? undefined : `cannot subscribe here: ${kernelUnavailable}`);
const describeImage = describeIfAvailable(unavailable, 'cannot build and run the image here');

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface LogRecord {
  msg: string;
  [field: string]: unknown;
}

describeImage('forkwatch\'s image, run as the DaemonSet runs it', () => {
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const label = `forkwatch.image-test=${runId}`;
  const image = `localhost/forkwatch-image-test:${runId}`;
  const container = `forkwatch-image-test-${runId}`;
  let context: string | undefined;
  let building = false;
  let created = false;
  let run: PodmanRun;
  let base: string;
  let pid: number;

  const inspect = (format: string): string => podman(['inspect', '--format', format, container]).trim();
  const running = (): boolean => {
    if (!created) return false;
    try {
      return inspect('{{.State.Running}}') === 'true';
    } catch {
      return false; // `podman run` failed before the container was made
    }
  };
  /** forkwatch's JSON log, one record a line. */
  const logRecords = (): LogRecord[] =>
    containerLogs(container)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LogRecord);
  const get = (path: string): Promise<Response> => fetch(`${base}${path}`);

  beforeAll(async () => {
    // Under CI=true the tests run wherever they cannot: say why at once.
    if (unavailable !== undefined) throw new Error(unavailable);
    ensureBaseImage();
    context = mkdtempSync('/var/tmp/forkwatch-image-context-');
    assemblePackage(context);
    building = true;
    buildImage(context, image, label);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    run = daemonSetRun(port);
    created = true;
    podman(['run', '--detach', '--name', container, ...LIMITS, ...run.flags, image, ...run.args]);
    pid = Number(inspect('{{.State.Pid}}'));

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const ready = await get('/-/ready').catch(() => undefined);
      if (ready?.status === 200) break;
      if (!running()) throw new Error(`forkwatch's container exited at start:\n${containerLogs(container)}`);
      if (Date.now() > deadline) throw new Error(`forkwatch's container was not ready in time:\n${containerLogs(container)}`);
      await sleep(100);
    }
  }, SETUP_TIMEOUT_MS);

  afterAll(() => {
    try {
      // SIGTERM, so that it unsubscribes; podman sends SIGKILL only after the grace period.
      if (running()) podman(['stop', '--time', String(run.stopSeconds), container]);
      if (created) podman(['rm', '--ignore', container]);
      if (building) removeImages(label);
    } finally {
      if (context !== undefined) rmSync(context, { recursive: true, force: true });
      removeForkers();
    }
  }, SETUP_TIMEOUT_MS);

  it('runs in the host\'s PID, network and user namespaces', () => {
    for (const namespace of ['pid', 'net', 'user']) {
      expect(readlinkSync(`/proc/${pid}/ns/${namespace}`), namespace).toBe(readlinkSync(`/proc/self/ns/${namespace}`));
    }
  });

  it('runs as root holding NET_ADMIN and no other capability, with no new privileges and a seccomp filter', () => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    expect(field('Uid').split(/\s+/)).toEqual(['0', '0', '0', '0']);
    for (const set of ['CapEff', 'CapPrm', 'CapBnd']) expect(BigInt(`0x${field(set)}`), set).toBe(1n << BigInt(CAP_NET_ADMIN));
    expect(field('CapAmb')).toMatch(/^0+$/);
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('Seccomp')).toBe('2'); // filter mode: the runtime's default profile
  });

  it('has a read-only root file system', () => {
    const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .find((fields) => fields[4] === '/');
    expect(root?.[5]?.split(',')).toContain('ro');
  });

  it('subscribes: /-/ready answers 200, forkwatch_subscribed is 1, and the buffer was forced with NET_ADMIN', async () => {
    expect((await get('/-/ready')).status).toBe(200);
    expect(sampleValue(await (await get('/metrics')).text(), 'forkwatch_subscribed')).toBe(1);
    const subscribed = logRecords().find((record) => record.msg === 'subscribed to process events');
    expect(subscribed?.buffer_forced).toBe(true);
  });

  it('serves /metrics in the Prometheus text format, as this version on the base image\'s Node.js', async () => {
    const response = await get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const page = await response.text();
    expect(sampleValue(page, 'forkwatch_build_info', { version, nodejs: process.versions.node })).toBe(1);
    expect(sampleValue(page, 'forkwatch_events_lost_total')).toBe(0);
  });

  it('counts a process that forks N times exactly N times, under its name', async () => {
    const name = uniqueName('fw-image-');
    forkAs(name, 137);
    const counted = async (): Promise<number> => sampleValue(await (await get('/metrics')).text(), 'forkwatch_parent_forks_total', { comm: name });
    const deadline = Date.now() + 5000;
    while ((await counted()) !== 137 && Date.now() < deadline) await sleep(50);
    expect(await counted()).toBe(137);
    // Nothing more arrives later under that name.
    await sleep(300);
    expect(await counted()).toBe(137);
  });

  // The kernel counts listeners; a socket closed without PROC_CN_MCAST_IGNORE leaves the
  // count raised until reboot. strace, on the host, watches the container's process.
  it('on SIGTERM (podman stop): sends PROC_CN_MCAST_IGNORE to the kernel and exits 0', async () => {
    const tracing = await traceSendto(pid);
    await tracing.attached;
    await sleep(200); // strace attaches to the other threads just after

    podman(['stop', '--time', String(run.stopSeconds), container]);
    const trace = await tracing.done;

    expect(inspect('{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');
    expect(controlMessagesSent(trace)).toEqual([{ op: 2, result: 40 }]);
    const shutdown = logRecords().filter((record) => record.msg === 'shutting down');
    expect(shutdown).toEqual([expect.objectContaining({ signal: 'SIGTERM' })]);
  });
});
