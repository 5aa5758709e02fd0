// The workload metrics as they appear on the page: events through the real table and
// dispatcher over a stand-in /proc, pods' PIDs from a stand-in cgroup file system (v1), and
// the names a stand-in pod cache gives.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { forkBombMetrics } from '../../src/metrics/forkbomb.js';
import { parentMetrics } from '../../src/metrics/parents.js';
import { workloadMetrics } from '../../src/metrics/workloads.js';
import { MAX_LABEL_CHARS } from '../../src/workloads/bound-label.js';
import { Workloads, type PodSource } from '../../src/workloads/service.js';
import { atSecond, execEvent, exitEvent, processFork, threadFork } from '../helpers/events.js';
import { groupContext } from '../helpers/metric-groups.js';
import { parseSamples, type Sample } from '../helpers/metrics-text.js';
import { testPipeline } from '../helpers/pipeline.js';
import { FakeProcfs } from '../helpers/procfs.js';

const POD_UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const POD = `/kubepods/burstable/pod${POD_UID}`;
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

const root = mkdtempSync(join(tmpdir(), 'forkwatch-cgroupfs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A v1 pids hierarchy under `root` holding the pod, with `current`, `max` and refusals per cgroup. */
function cgroupfs(pod: { current: number; max: string; refused: Record<string, number> }): string {
  const dir = mkdtempSync(join(root, 'fs-'));
  mkdirSync(join(dir, 'pids'));
  writeFileSync(join(dir, 'pids', 'cgroup.procs'), '');
  const podDir = join(dir, 'pids', POD);
  mkdirSync(podDir, { recursive: true });
  for (const [child, refused] of Object.entries(pod.refused)) {
    mkdirSync(join(podDir, child), { recursive: true });
    writeFileSync(join(podDir, child, 'pids.events'), `max ${refused}\n`);
  }
  writeFileSync(join(podDir, 'pids.current'), `${pod.current}\n`);
  writeFileSync(join(podDir, 'pids.max'), `${pod.max}\n`);
  return dir;
}

function harness(options: { cgroupRoot?: string; pods?: PodSource; max?: number } = {}) {
  const procfs = new FakeProcfs({ 1: 'systemd', 100: 'containerd-shim', 200: 'nginx', 300: 'cron' });
  procfs.cgroups.set(1, '/init.scope');
  procfs.cgroups.set(100, '/system.slice/containerd.service');
  procfs.cgroups.set(200, `${POD}/${ID_A}`);
  procfs.cgroups.set(300, '/system.slice/cron.service');
  const registry = new Registry();
  const pipeline = testPipeline((table) => {
    const workloads = new Workloads({ max: options.max ?? 1000, retentionSeconds: 600, table, pods: options.pods, now: () => 100 });
    const context = groupContext(table, procfs, { workloads, cgroupRoot: options.cgroupRoot ?? join(root, 'nothing-here'), now: () => 100 });
    const groups = [parentMetrics(context), workloadMetrics(context), forkBombMetrics(context)];
    for (const group of groups) group.register(registry);
    return groups.flatMap((group) => (group.listener ? [group.listener] : []));
  }, procfs);
  const samples = async (name: string): Promise<Sample[]> => parseSamples(await registry.metrics()).filter((sample) => sample.name === name);
  return { ...pipeline, samples };
}

const workload = (labels: Partial<Record<'namespace' | 'pod' | 'container' | 'unit', string>>) => ({ namespace: '', pod: '', container: '', unit: '', ...labels });
const IN_POD = workload({ pod: `uid:${POD_UID}`, container: `id:${ID_A.slice(0, 12)}` });

describe('forkwatch_workload_forks_total', () => {
  it('counts every process fork under the workload of its parent, and no thread', async () => {
    const { feed, samples } = harness();
    feed(processFork(200, 201), processFork(200, 202), processFork(201, 203), threadFork(200, 200, 204));
    feed(processFork(300, 301), processFork(1, 2));

    expect((await samples('forkwatch_workload_forks_total')).map(({ labels, value }) => [labels, value])).toEqual([
      [workload({ unit: '__other__' }), 0],
      [workload({ unit: 'cron.service' }), 1],
      [workload({ unit: 'init.scope' }), 1],
      [IN_POD, 3],
    ]);
  });

  it("follows a process runc moved into a container: from its exec, its forks are the container's", async () => {
    const { feed, samples, procfs } = harness();
    feed(processFork(100, 150)); // runc's init, in containerd's cgroup
    procfs.names.set(150, 'sh');
    procfs.cgroups.set(150, `${POD}/${ID_B}`); // written to cgroup.procs
    feed(execEvent(150), processFork(150, 151), processFork(150, 152));

    const forks = await samples('forkwatch_workload_forks_total');
    expect(forks.find((sample) => sample.labels.unit === 'containerd.service')?.value).toBe(1);
    expect(forks.find((sample) => sample.labels.container === `id:${ID_B.slice(0, 12)}`)?.value).toBe(2);
  });

  it('counts a parent gone before it could be read under __unknown__, so the counts add up to every process fork', async () => {
    const { feed, samples } = harness();
    feed(processFork(999, 1000), processFork(200, 201));

    const forks = await samples('forkwatch_workload_forks_total');
    expect(forks.find((sample) => sample.labels.unit === '__unknown__')?.value).toBe(1);
    expect(forks.reduce((sum, sample) => sum + sample.value, 0)).toBe(2);
  });

  it('keeps at most --workloads.max label sets, the rest under __other__', async () => {
    const { feed, samples, procfs } = harness({ max: 2 });
    for (let i = 0; i < 10; i++) {
      procfs.names.set(500 + i, 'sh');
      procfs.cgroups.set(500 + i, `/system.slice/job-${i}.service`);
      feed(processFork(500 + i, 600 + i));
    }

    const forks = await samples('forkwatch_workload_forks_total');
    expect(forks).toHaveLength(3);
    expect(forks.find((sample) => sample.labels.unit === '__other__')?.value).toBe(8);
  });

  it('bounds a hostile cgroup name and keeps the page valid', async () => {
    const { feed, samples, procfs } = harness();
    procfs.names.set(700, 'x');
    procfs.cgroups.set(700, `/evil/${'"}\\\n'.repeat(100)}`);
    feed(processFork(700, 701));

    const unit = (await samples('forkwatch_workload_forks_total')).find((sample) => sample.value === 1)?.labels.unit;
    expect(Array.from(unit!).length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
    expect(unit).not.toContain('\n');
  });
});

describe('forkwatch_workload_execs_total and forkwatch_workload_exits_total', () => {
  const v1File = (path: string): Uint8Array => new TextEncoder().encode(`12:pids:${path}\n1:name=systemd:${path}\n0::/\n`);

  it("counts a container's execs and its crash loop's exits under its pod, from the cgroup the reader read at the exec", async () => {
    const { feed, samples } = harness();
    // runc's init, forked in containerd's cgroup, moved into the container, then exec'd;
    // it is gone before the table could read its cgroup: only the reader's read says where.
    for (const [pid, status] of [[150, 1 << 8], [151, 9], [152, 0]] as const) {
      feed(processFork(100, pid));
      const exec = execEvent(pid);
      exec.procComm = new TextEncoder().encode('app\n');
      exec.procCgroup = v1File(`${POD}/${ID_B}`);
      feed(exec, exitEvent(pid, pid, {}, status));
    }
    const container = workload({ pod: `uid:${POD_UID}`, container: `id:${ID_B.slice(0, 12)}` });

    const execs = await samples('forkwatch_workload_execs_total');
    expect(execs.find((sample) => sample.labels.container === container.container)).toEqual({ name: 'forkwatch_workload_execs_total', labels: container, value: 3 });
    const exits = (await samples('forkwatch_workload_exits_total')).filter((sample) => sample.labels.container === container.container);
    expect(exits.map(({ labels, value }) => [labels.reason, value]).sort()).toEqual([['failure', 1], ['signal', 1], ['success', 1]]);
    // containerd's cgroup made the forks, and none of the execs or exits.
    const shim = (await samples('forkwatch_workload_exits_total')).filter((sample) => sample.labels.unit === 'containerd.service');
    expect(shim.reduce((sum, sample) => sum + sample.value, 0)).toBe(0);
  });

  it('counts process exits, not threads, and every one somewhere', async () => {
    const { feed, samples } = harness();
    feed(processFork(200, 201), threadFork(200, 200, 204), exitEvent(204, 200, {}, 0), exitEvent(201, 201, {}, 3 << 8), exitEvent(999, 999, {}, 0));

    const exits = await samples('forkwatch_workload_exits_total');
    expect(exits.find((sample) => sample.labels.container === IN_POD.container && sample.labels.reason === 'failure')?.value).toBe(1);
    expect(exits.find((sample) => sample.labels.container === IN_POD.container && sample.labels.reason === 'success')?.value).toBe(0);
    expect(exits.find((sample) => sample.labels.unit === '__unknown__' && sample.labels.reason === 'success')?.value).toBe(1);
    expect(exits.reduce((sum, sample) => sum + sample.value, 0)).toBe(2);
  });

  it('keeps the cgroup from before the exec, and reads it when next needed, where the reader could not read it', async () => {
    const { feed, samples, procfs } = harness();
    feed(processFork(100, 160));
    procfs.names.set(160, 'sh');
    procfs.cgroups.set(160, `${POD}/${ID_B}`);
    feed(execEvent(160));
    expect((await samples('forkwatch_workload_execs_total')).find((sample) => sample.labels.unit === 'containerd.service')?.value).toBe(1);
    feed(processFork(160, 161));
    expect((await samples('forkwatch_workload_forks_total')).find((sample) => sample.labels.container === `id:${ID_B.slice(0, 12)}`)?.value).toBe(1);
  });
});

describe('forkwatch_workload_processes', () => {
  it('counts live processes by workload from the table, at scrape time', async () => {
    const { feed, samples } = harness();
    feed(processFork(200, 201), processFork(200, 202), exitEvent(202, 202));

    expect((await samples('forkwatch_workload_processes')).map(({ labels, value }) => [labels, value])).toEqual([
      [workload({ unit: '__other__' }), 0],
      [workload({ unit: 'containerd.service' }), 1],
      [workload({ unit: 'cron.service' }), 1],
      [workload({ unit: 'init.scope' }), 1],
      [IN_POD, 2],
    ]);
  });
});

describe("pods' PIDs", () => {
  it('reads the PID count, the limit and the refused forks of each pod with live processes', async () => {
    const cgroupRoot = cgroupfs({ current: 12, max: '200', refused: { [ID_A]: 3, [ID_B]: 4 } });
    const { samples } = harness({ cgroupRoot });

    const pod = { namespace: '', pod: `uid:${POD_UID}` };
    expect(await samples('forkwatch_pod_pids')).toEqual([{ name: 'forkwatch_pod_pids', labels: pod, value: 12 }]);
    expect(await samples('forkwatch_pod_pids_limit')).toEqual([{ name: 'forkwatch_pod_pids_limit', labels: pod, value: 200 }]);
    expect(await samples('forkwatch_pod_forks_refused_total')).toEqual([{ name: 'forkwatch_pod_forks_refused_total', labels: pod, value: 7 }]);
  });

  it('has no limit series for a pod without a limit', async () => {
    const { samples } = harness({ cgroupRoot: cgroupfs({ current: 3, max: 'max', refused: {} }) });

    expect(await samples('forkwatch_pod_pids')).toHaveLength(1);
    expect(await samples('forkwatch_pod_pids_limit')).toEqual([]);
  });

  it('exports none where the cgroup file system has no pids controller', async () => {
    const { samples } = harness();

    expect(await samples('forkwatch_pod_pids')).toEqual([]);
  });
});

describe('Kubernetes names', () => {
  it("switch a pod's series from its uid to its names as soon as the pod cache knows them", async () => {
    let known = false;
    const pods: PodSource = {
      get synced() {
        return known;
      },
      names: (uid) => (known && uid === POD_UID ? { namespace: 'shop', name: 'web-0' } : undefined),
      containerName: (uid, id) => (known && uid === POD_UID && id === ID_A ? 'nginx' : undefined),
    };
    const cgroupRoot = cgroupfs({ current: 5, max: '100', refused: {} });
    const { feed, samples } = harness({ cgroupRoot, pods });
    feed(processFork(200, 201, { timestampNs: atSecond(99) }));

    expect((await samples('forkwatch_workload_forks_total')).find((sample) => sample.value === 1)?.labels).toEqual(IN_POD);
    expect((await samples('forkwatch_kubernetes_synced'))[0]?.value).toBe(0);
    known = true;
    expect((await samples('forkwatch_workload_forks_total')).find((sample) => sample.value === 1)?.labels).toEqual(
      workload({ namespace: 'shop', pod: 'web-0', container: 'nginx' }),
    );
    expect((await samples('forkwatch_pod_pids'))[0]?.labels).toEqual({ namespace: 'shop', pod: 'web-0' });
    expect((await samples('forkwatch_top_parent_forks'))[0]?.labels).toEqual({ pid: '200', comm: 'nginx', ...workload({ namespace: 'shop', pod: 'web-0', container: 'nginx' }) });
    expect((await samples('forkwatch_kubernetes_synced'))[0]?.value).toBe(1);
  });
});

describe('forkwatch_top_parent_forks', () => {
  it("labels each parent with the workload of its cgroup when it forked", async () => {
    const { feed, samples } = harness();
    feed(processFork(200, 201, { timestampNs: atSecond(99) }), processFork(300, 301, { timestampNs: atSecond(99) }), processFork(300, 302, { timestampNs: atSecond(99) }));

    expect((await samples('forkwatch_top_parent_forks')).map(({ labels, value }) => [labels, value])).toEqual([
      [{ pid: '300', comm: 'cron', ...workload({ unit: 'cron.service' }) }, 2],
      [{ pid: '200', comm: 'nginx', ...IN_POD }, 1],
    ]);
  });
});

describe('forkwatch_forkbomb_suspected', () => {
  it('says which workload the suspected copies are in', async () => {
    const { feed, samples, dispatcher } = harness();
    feed(processFork(200, 201), processFork(201, 202), processFork(202, 203));
    for (let child = 1000; child < 1040; child++) feed(processFork(203, child)); // 40 copies 4 deep, alive
    dispatcher.start(); // the detector decides at once, then every second
    dispatcher.close();

    expect((await samples('forkwatch_forkbomb_suspected')).map(({ labels, value }) => [labels, value])).toEqual([[{ comm: 'nginx', ...IN_POD }, 1]]);
  });
});
