// A pod's PIDs from the pids controller. Fixture trees show each layout and counting rule
// (this machine's cgroup v2 tree has no pids controller, so v2 is shown with fixtures
// only); real cgroups in kubelet's layouts prove v1 against the kernel.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { workloadOf, type PodWorkload } from '../../src/workloads/layouts.js';
import { findPidsHierarchy, PodPidsReader, refusalCounting, type PidsHierarchy } from '../../src/workloads/pod-pids.js';
import { readProcCgroup } from '../../src/workloads/proc-cgroup.js';
import { containmentUnavailable } from '../helpers/cgroup.js';
import { createPodCgroups, type PodCgroups } from '../helpers/pod-cgroups.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const ID_A = '3f1c9e2ab84d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e';
const ID_B = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const POD = `/kubepods/burstable/pod${UID}`;
const V2_MOUNTS = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n';

const roots: string[] = [];
afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

/** A fake cgroup file system: path -> content, under a new temporary root. */
function fakeTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'forkwatch-cgroupfs-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

function podAt(...podCgroups: string[]): PodWorkload {
  return { kind: 'pod', podUid: UID, podCgroups };
}

/** The files of a pids cgroup (as the kernel shows them) at `dir`. */
function pidsFiles(dir: string, current: number, max: string, refused: number, local?: number): Record<string, string> {
  const files: Record<string, string> = {
    [`${dir}/pids.current`]: `${current}\n`,
    [`${dir}/pids.max`]: `${max}\n`,
    [`${dir}/pids.events`]: `max ${refused}\n`,
  };
  if (local !== undefined) files[`${dir}/pids.events.local`] = `max ${local}\n`;
  return files;
}

describe('findPidsHierarchy', () => {
  it('finds a v1 pids hierarchy at <root>/pids', () => {
    const root = fakeTree({ 'pids/cgroup.procs': '1\n', 'unified/cgroup.controllers': '\n' });
    expect(findPidsHierarchy(root, '')).toEqual({ version: 1, dir: join(root, 'pids'), localEvents: true });
  });

  it('finds cgroup v2 offering pids at the root', () => {
    const root = fakeTree({ 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n' });
    expect(findPidsHierarchy(root, V2_MOUNTS)).toEqual({ version: 2, dir: root, localEvents: false });
  });

  it('sees the pids_localevents mount option of cgroup2', () => {
    const root = fakeTree({ 'cgroup.controllers': 'memory pids\n' });
    const mounts = 'cgroup2 /sys/fs/cgroup cgroup2 rw,relatime,nsdelegate,pids_localevents 0 0\n';
    expect(findPidsHierarchy(root, mounts)?.localEvents).toBe(true);
  });

  it('does not mistake a v2 child cgroup named "pids" for a v1 hierarchy', () => {
    const root = fakeTree({ 'cgroup.controllers': 'pids\n', 'pids/cgroup.procs': '', 'pids/cgroup.controllers': 'pids\n' });
    expect(findPidsHierarchy(root, V2_MOUNTS)?.version).toBe(2);
  });

  it('finds nothing where no hierarchy offers pids (a hybrid host whose v1 has no pids)', () => {
    const root = fakeTree({ 'unified/cgroup.controllers': 'hugetlb\n', 'memory/cgroup.procs': '1\n' });
    expect(findPidsHierarchy(root, '')).toBeUndefined();
    expect(findPidsHierarchy(join(root, 'missing'), '')).toBeUndefined();
  });

  it('finds this machine\'s real hierarchy under /sys/fs/cgroup', () => {
    const found = findPidsHierarchy('/sys/fs/cgroup');
    expect(found).toBeDefined();
    expect(readFileSync(join(found!.dir, 'cgroup.procs'), 'utf8')).toMatch(/^\d+$/m);
  });
});

describe('PodPidsReader on v1 (local counts, summed over the pod)', () => {
  const v1: (files: Record<string, string>) => PodPidsReader = (files) => {
    const root = fakeTree({ 'pids/cgroup.procs': '1\n', ...files });
    return new PodPidsReader(findPidsHierarchy(root, '')!);
  };

  it('reads current and limit, and sums refused forks over the pod and its containers', () => {
    const reader = v1({
      ...pidsFiles(`pids${POD}`, 11, '10', 2),
      ...pidsFiles(`pids${POD}/${ID_A}`, 7, 'max', 0),
      ...pidsFiles(`pids${POD}/${ID_B}`, 3, 'max', 4),
      ...pidsFiles(`pids${POD}/${ID_B}/nested`, 0, 'max', 1),
    });
    expect(reader.read(podAt(POD))).toEqual({ current: 11, limit: 10, refused: 7 });
  });

  it('gives no limit where pids.max is "max"', () => {
    const reader = v1(pidsFiles(`pids${POD}`, 3, 'max', 0));
    expect(reader.read(podAt(POD))).toEqual({ current: 3, refused: 0 });
  });

  it('gives undefined for a pod whose cgroup is gone', () => {
    expect(v1({}).read(podAt(POD))).toBeUndefined();
  });

  it('uses the first of the candidate paths that exists', () => {
    const guaranteed = `/kubepods/pod${UID}`;
    const reader = v1(pidsFiles(`pids${guaranteed}`, 5, '50', 0));
    expect(reader.read(podAt(`/kubepods/burstable/pod${UID}`, `/kubepods/besteffort/pod${UID}`, guaranteed))).toEqual({ current: 5, limit: 50, refused: 0 });
  });

  it('treats files it cannot understand as missing values, not as errors', () => {
    const reader = v1({
      [`pids${POD}/pids.current`]: '12\n',
      [`pids${POD}/pids.max`]: 'lots\n',
      [`pids${POD}/pids.events`]: 'garbage\n',
      [`pids${POD}/c/pids.events`]: 'max -3\n',
    });
    expect(reader.read(podAt(POD))).toEqual({ current: 12, refused: 0 });
    const unreadable = v1({ [`pids${POD}/pids.current`]: 'x\n' });
    expect(unreadable.read(podAt(POD))).toBeUndefined();
  });

  it('keeps the count of a container cgroup once it is gone, and of one made again', () => {
    const root = fakeTree({ 'pids/cgroup.procs': '1\n', ...pidsFiles(`pids${POD}`, 4, '10', 0), ...pidsFiles(`pids${POD}/${ID_A}`, 3, 'max', 5) });
    const reader = new PodPidsReader(findPidsHierarchy(root, '')!);
    expect(reader.read(podAt(POD))?.refused).toBe(5);
    rmSync(join(root, `pids${POD}/${ID_A}`), { recursive: true });
    expect(reader.read(podAt(POD))?.refused).toBe(5);
    writeFileSync(join(root, `pids${POD}/pids.events`), 'max 1\n');
    expect(reader.read(podAt(POD))?.refused).toBe(6);
    mkdirSync(join(root, `pids${POD}/${ID_A}`));
    writeFileSync(join(root, `pids${POD}/${ID_A}/pids.events`), 'max 2\n'); // made again, counting from 0
    expect(reader.read(podAt(POD))?.refused).toBe(8);
  });

  it('readAll reads each pod once and forgets pods it is no longer given', () => {
    const root = fakeTree({ 'pids/cgroup.procs': '1\n', ...pidsFiles(`pids${POD}`, 4, '10', 0), ...pidsFiles(`pids${POD}/${ID_A}`, 3, 'max', 5) });
    const reader = new PodPidsReader(findPidsHierarchy(root, '')!);
    const container: PodWorkload = { ...podAt(POD), containerId: ID_A };
    expect(reader.readAll([podAt(POD), container])).toEqual(new Map([[UID, { current: 4, limit: 10, refused: 5 }]]));
    expect(reader.readAll([])).toEqual(new Map());
    rmSync(join(root, `pids${POD}/${ID_A}`), { recursive: true });
    expect(reader.readAll([container]).get(UID)?.refused).toBe(0); // forgotten: its gone container no longer counts
  });
});

describe('PodPidsReader on v2', () => {
  const v2 = (mounts: string, files: Record<string, string>): { reader: PodPidsReader; hierarchy: PidsHierarchy; root: string } => {
    const root = fakeTree({ 'cgroup.controllers': 'cpu memory pids\n', ...files });
    const hierarchy = findPidsHierarchy(root, mounts)!;
    return { reader: new PodPidsReader(hierarchy), hierarchy, root };
  };

  it('with pids.events.local, takes the pod\'s own hierarchical count (its containers\' are already in it)', () => {
    const { reader, hierarchy, root } = v2(V2_MOUNTS, {
      ...pidsFiles(POD, 10, '10', 4, 4),
      ...pidsFiles(`${POD}/${ID_A}`, 7, 'max', 0, 0),
      ...pidsFiles(`${POD}/${ID_B}`, 3, '3', 2, 2),
    });
    expect(refusalCounting(hierarchy, join(root, POD))).toBe('hierarchical');
    expect(reader.read(podAt(POD))).toEqual({ current: 10, limit: 10, refused: 4 });
  });

  it('without pids.events.local (older kernels), sums the local counts like v1', () => {
    const { reader, hierarchy, root } = v2(V2_MOUNTS, { ...pidsFiles(POD, 10, '10', 0), ...pidsFiles(`${POD}/${ID_B}`, 3, 'max', 4) });
    expect(refusalCounting(hierarchy, join(root, POD))).toBe('local');
    expect(reader.read(podAt(POD))).toEqual({ current: 10, limit: 10, refused: 4 });
  });

  it('mounted with pids_localevents, sums the local counts like v1', () => {
    const mounts = 'cgroup2 /sys/fs/cgroup cgroup2 rw,pids_localevents 0 0\n';
    const { reader } = v2(mounts, { ...pidsFiles(POD, 10, '10', 0, 0), ...pidsFiles(`${POD}/${ID_B}`, 3, 'max', 4, 4) });
    expect(reader.read(podAt(POD))).toEqual({ current: 10, limit: 10, refused: 4 });
  });
});

// ---- Real cgroups ------------------------------------------------------------------------

const describeCgroups = describeIfAvailable(await containmentUnavailable(), 'cannot make a pids cgroup here');

describeCgroups('a pod in real cgroups, in each kubelet layout', () => {
  let pod: PodCgroups | undefined;
  afterEach(async () => {
    await pod?.destroy();
    pod = undefined;
  });

  const UID_ = UID.replaceAll('-', '_');
  it.each([
    ['cgroupfs driver', ['kubepods', 'burstable', `pod${UID}`], [ID_A, ID_B]],
    ['systemd driver, containerd', ['kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${UID_}.slice`], [`cri-containerd-${ID_A}.scope`, `cri-containerd-${ID_B}.scope`]],
  ])('%s: PID count, limit and refused forks', async (_layout, podElements, containers) => {
    pod = await createPodCgroups(podElements, containers, 10);
    const [a, b] = containers.map((name) => pod!.containerDirs.get(name)!);

    // Container A takes 7 of the pod's 10 PIDs; container B gets 3 and is refused 4 forks.
    const holderA = await pod.hold(a!, 6);
    expect(holderA).toMatchObject({ forked: 6, refused: 0 });
    const holderB = await pod.hold(b!, 6);
    expect(holderB).toMatchObject({ forked: 2, refused: 4 });
    // v1 lets a process sit in the pod's own cgroup (v2 does not: it has children): moving
    // in is not limited, forking is.
    const inPod = pod.version === 1 ? await pod.hold(pod.podDir, 2) : undefined;
    if (inPod !== undefined) expect(inPod).toMatchObject({ forked: 0, refused: 2 });
    const refusedByHolders = holderA.refused + holderB.refused + (inPod?.refused ?? 0);

    // From the process, as forkwatch will see it: its cgroup, its workload, the pod's PIDs.
    const path = readProcCgroup(holderB.pid);
    expect(path).toBe(`${pod.podPath}/${containers[1]}`);
    const workload = workloadOf(path!);
    expect(workload).toEqual({ kind: 'pod', podUid: UID, containerId: ID_B, podCgroups: [pod.podPath] });

    const hierarchy = findPidsHierarchy(pod.cgroupRoot);
    expect(hierarchy?.version).toBe(pod.version);
    const reader = new PodPidsReader(hierarchy!);
    const tasks = 7 + 3 + (inPod === undefined ? 0 : 1);
    expect(reader.read(workload as PodWorkload)).toEqual({ current: tasks, limit: 10, refused: refusedByHolders });

    if (pod.version === 1) {
      // The kernel fact the sum rests on: each refusal is counted where the fork was made,
      // not in the pod cgroup whose limit refused it.
      const events = (dir: string): string => readFileSync(join(dir, 'pids.events'), 'utf8').trim();
      expect([events(pod.podDir), events(a!), events(b!)]).toEqual(['max 2', 'max 0', 'max 4']);
    }

    // Container B ends and its cgroup is removed (a restart): its refusals still count.
    await holderB.end();
    await pod.removeContainer(containers[1]!);
    expect(reader.read(workload as PodWorkload)).toEqual({ current: tasks - 3, limit: 10, refused: refusedByHolders });
  });
});
