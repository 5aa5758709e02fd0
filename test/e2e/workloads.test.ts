// Workloads end to end: the real forkwatch command on the real kernel, real cgroups made in
// kubelet's layouts (below a capped test cgroup, removed afterwards), real processes moved
// into them the way runc moves a container's first process (write its pid to cgroup.procs,
// then exec), and pod names from a stand-in API server. Counts must be exact and under the
// right pod and container, and so are a crash-looping container's execs and exits by
// reason; a contained fork bomb in a pod whose pids.max is 200 must show
// the pod's PIDs, its limit and the refused forks, and fire PodForksRefused and
// ForkBombSuspected, with namespace and pod, on a real Prometheus.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startCBomb } from '../helpers/bombs.js';
import { containmentUnavailable, destroyAllContainments } from '../helpers/cgroup.js';
import { FakeApiServer, makePod, type ApiPod } from '../helpers/fake-apiserver.js';
import { forkerDir, removeForkers, uniqueName } from '../helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples, type Sample } from '../helpers/metrics-text.js';
import { createPodCgroups, startInCgroup, type PodCgroups } from '../helpers/pod-cgroups.js';
import { rulesForTest, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const NODE = 'node-a';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.forkwatch-e2e';

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeKernelAndCgroups = describeIfAvailable(unavailable, 'needs the proc connector and pids cgroups');

/** A pod uid and container ids unique to this run, so that nothing else on the machine matches. */
const run = Math.random().toString(16).slice(2, 10).padEnd(8, '0');
const uid = (n: number): string => `${run}-6c1d-4e8a-9b5f-${String(n).padStart(12, '0')}`;
const containerId = (n: number): string => `${run}${String(n).padStart(8, '0')}`.padEnd(64, 'c');

interface Layout {
  name: string;
  /** The pod's cgroup path elements, as kubelet makes them for this uid. */
  pod(podUid: string): string[];
  /** The container's cgroup under the pod, as the runtime names it. */
  container(id: string): string;
}

// pkg/kubelet/cm: the systemd driver escapes "-" in the uid as "_" and spells every parent
// slice out; the cgroupfs driver nests plain directories. Runtimes name the container.
const LAYOUTS: Layout[] = [
  {
    name: 'systemd driver, Burstable, containerd',
    pod: (podUid) => ['kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${podUid.replaceAll('-', '_')}.slice`],
    container: (id) => `cri-containerd-${id}.scope`,
  },
  {
    name: 'systemd driver, Guaranteed, CRI-O',
    pod: (podUid) => ['kubepods.slice', `kubepods-pod${podUid.replaceAll('-', '_')}.slice`],
    container: (id) => `crio-${id}.scope`,
  },
  {
    name: 'cgroupfs driver, BestEffort, containerd',
    pod: (podUid) => ['kubepods', 'besteffort', `pod${podUid}`],
    container: (id) => id,
  },
];

describeKernelAndCgroups('workloads: pods on real cgroups in the kubelet layouts, named by a stand-in API server', () => {
  let dir: string;
  let server: FakeApiServer;
  let forkwatch: RunningForkwatch;
  let prometheus: RunningPrometheus | undefined;
  const pods: PodCgroups[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-workloads-'));
    server = new FakeApiServer(TOKEN);
    await server.listen();
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfig, server.kubeconfig());
    forkwatch = await startForkwatch(['--kubernetes.kubeconfig', kubeconfig, '--kubernetes.node-name', NODE, '--forkbomb.clear-after', '5s']);
    await until('forkwatch is in sync with the API server', async () => (await samples('forkwatch_kubernetes_synced'))[0]?.value === 1);
  }, 60_000);

  afterEach(async () => {
    for (const pod of pods.splice(0)) await pod.destroy();
  });

  afterAll(async () => {
    for (const pod of pods.splice(0)) await pod.destroy();
    await destroyAllContainments();
    await prometheus?.stop();
    await forkwatch?.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    removeForkers();
  });

  async function samples(name: string, labels: Record<string, string> = {}): Promise<Sample[]> {
    return parseSamples(await forkwatch.scrape()).filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
    const found = await samples(name, labels);
    if (found.length > 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(labels)}`);
    return found[0]?.value;
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await sleep(100);
    }
  }

  /** Makes a pod's cgroups in `layout` with one container, and tells the API server about the pod unless `unknown`. */
  async function podIn(layout: Layout, n: number, pidsMax: number, options: { unknown?: boolean } = {}) {
    const podUid = uid(n);
    const id = containerId(n);
    const cgroups = await createPodCgroups(layout.pod(podUid), [layout.container(id)], pidsMax);
    pods.push(cgroups);
    const api: ApiPod = makePod({ name: `web-${n}`, namespace: `team-${n}`, uid: podUid, node: NODE, containers: { app: `containerd://${id}` } });
    if (!options.unknown) server.addPod(api);
    return { cgroups, api, podUid, id, containerDir: cgroups.containerDirs.get(layout.container(id))! };
  }

  LAYOUTS.forEach((layout, index) => {
    it(`${layout.name}: counts a container's forks exactly, under its namespace, pod and container`, async () => {
      const { cgroups, containerDir } = await podIn(layout, index + 1, 100);
      const labels = { namespace: `team-${index + 1}`, pod: `web-${index + 1}`, container: 'app', unit: '' };

      const holder = await cgroups.hold(containerDir, 37);
      expect(holder).toMatchObject({ forked: 37, refused: 0 });

      await until('the forks show under the pod and container', async () => (await value('forkwatch_workload_forks_total', labels)) === 37);
      await sleep(300); // and nothing more arrives later
      expect(await value('forkwatch_workload_forks_total', labels)).toBe(37);
      expect(await value('forkwatch_workload_processes', labels)).toBe(38); // the holder and its children
      expect(await value('forkwatch_pod_pids', { namespace: labels.namespace, pod: labels.pod })).toBe(38);
      expect(await value('forkwatch_pod_pids_limit', { namespace: labels.namespace, pod: labels.pod })).toBe(100);
      expect(await value('forkwatch_pod_forks_refused_total', { namespace: labels.namespace, pod: labels.pod })).toBe(0);
      expect(await value('forkwatch_top_parent_forks', { pid: String(holder.pid), comm: 'pid-holder', ...labels })).toBe(37);
      await holder.end();
    }, 60_000);
  });

  it('names a pod the API server does not know by uid and container id, and by its names once it appears', async () => {
    const layout = LAYOUTS[2]!;
    const { cgroups, containerDir, api, podUid, id } = await podIn(layout, 10, 50, { unknown: true });
    const byUid = { namespace: '', pod: `uid:${podUid}`, container: `id:${id.slice(0, 12)}`, unit: '' };
    const byName = { namespace: 'team-10', pod: 'web-10', container: 'app', unit: '' };

    const holder = await cgroups.hold(containerDir, 12);
    expect(holder.forked).toBe(12);
    await until('the forks show under the uid', async () => (await value('forkwatch_workload_forks_total', byUid)) === 12);
    expect(await value('forkwatch_pod_pids', { namespace: '', pod: `uid:${podUid}` })).toBe(13);

    server.addPod(api);
    await until('the same series carry the names', async () => (await value('forkwatch_workload_forks_total', byName)) === 12);
    expect(await value('forkwatch_workload_forks_total', byUid)).toBeUndefined();
    expect(await value('forkwatch_pod_pids', { namespace: 'team-10', pod: 'web-10' })).toBe(13);
    await holder.end();
  }, 60_000);

  it("a crash-looping container: its execs, and its exits by reason, under its pod, though each process began in the test's cgroup", async () => {
    const layout = LAYOUTS[1]!;
    const { containerDir } = await podIn(layout, 30, 100);
    const labels = { namespace: 'team-30', pod: 'web-30', container: 'app', unit: '' };
    // Each run as runc starts a container: forked outside, exec'd (as `name`), moved into the
    // container's cgroup, exec'd again (as sh); alive until released, then it ends: exit 3,
    // SIGKILL, or exit 0. The move waits until forkwatch has seen every first exec: the
    // reader reads a cgroup as the exec arrives, and one read after the move would find the
    // container's.
    const name = uniqueName('fw-crash-');
    const program = join(forkerDir(), name);
    copyFileSync('/bin/sh', program);
    const endings = ['exit 3', 'exit 3', 'exit 3', 'kill -KILL $$', 'kill -KILL $$', 'exit 0'];
    const runs = endings.map((ending) => startInCgroup(containerDir, ending, program));
    try {
      await until('every first exec is seen', async () => (await value('forkwatch_execs_total', { comm: name })) === endings.length);
      for (const run of runs) run.move();
      await until('every run is alive in the container', async () => (await value('forkwatch_workload_processes', labels)) === endings.length);
      expect(await value('forkwatch_workload_execs_total', labels)).toBe(endings.length);
    } finally {
      for (const run of runs) await run.release();
    }
    await until('the exits show under the pod', async () => (await samples('forkwatch_workload_exits_total', labels)).reduce((sum, s) => sum + s.value, 0) === endings.length);
    await sleep(300); // and nothing more arrives later
    const byReason = Object.fromEntries((await samples('forkwatch_workload_exits_total', labels)).map((s) => [s.labels.reason, s.value]));
    expect(byReason).toEqual({ failure: 3, signal: 2, success: 1 });
    expect(await value('forkwatch_workload_execs_total', labels)).toBe(endings.length);
  }, 60_000);

  it('a contained fork bomb in a pod with pids.max 200: its PIDs, limit and refused forks; PodForksRefused and ForkBombSuspected fire with namespace and pod', async () => {
    prometheus = await startPrometheus({ targets: [new URL(forkwatch.url).host], ruleFiles: [rulesForTest(dir)] });
    const layout = LAYOUTS[0]!;
    // The pod's cgroup caps the bomb at 200 tasks (and the test cgroup above it at 200 too).
    const { cgroups, containerDir } = await podIn(layout, 20, 200);
    const pod = { namespace: 'team-20', pod: 'web-20' };
    const bomb = startCBomb(cgroups.containment, 'fw-podbomb', containerDir);
    try {
      await until(
        'forkwatch suspects the bomb in its pod and container',
        async () => (await value('forkwatch_forkbomb_suspected', { comm: 'fw-podbomb', ...pod, container: 'app', unit: '' })) === 1,
        20_000,
      );
      await until('the bomb is at the pod\'s limit, and forks are refused', async () => ((await value('forkwatch_pod_forks_refused_total', pod)) ?? 0) > 0);
      const pids = await value('forkwatch_pod_pids', pod);
      expect(pids).toBeGreaterThan(180);
      expect(pids).toBeLessThanOrEqual(200);
      expect(await value('forkwatch_pod_pids_limit', pod)).toBe(200);

      const firing = async (alertname: string): Promise<Record<string, string>[]> =>
        (await prometheus!.query(`ALERTS{alertname="${alertname}",alertstate="firing",namespace="team-20",pod="web-20"}`)).map((sample) => sample.metric);
      await until('PodForksRefused and ForkBombSuspected fire for the pod', async () => (await firing('PodForksRefused')).length > 0 && (await firing('ForkBombSuspected')).length > 0, 30_000);
      expect(await firing('ForkBombSuspected')).toEqual([expect.objectContaining({ comm: 'fw-podbomb', container: 'app', severity: 'critical' })]);
      expect(await firing('PodForksRefused')).toEqual([expect.objectContaining({ severity: 'warning' })]);
      // The rules' `for` is shortened to seconds here, so this one fires too.
      await until('PodPidsNearLimit fires for the pod', async () => (await firing('PodPidsNearLimit')).length > 0, 30_000);
    } finally {
      await bomb.stop(); // kills every copy; the pod's cgroups go in afterEach
    }
  }, 120_000);
});
