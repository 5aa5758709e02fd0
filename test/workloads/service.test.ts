// The shared workload service: cgroup paths to workloads, labels resolved when asked (so a
// pod's names replace its uid once known), label sets bounded by --workloads.max, and
// workloads gone for --workloads.retention letting their slot go.
import { describe, expect, it } from 'vitest';
import type { PodNames } from '../../src/workloads/labels.js';
import { identifyCgroup, OTHER_WORKLOAD, UNKNOWN_WORKLOAD, workloadKey, Workloads, type PodSource, type Slot } from '../../src/workloads/service.js';

const POD_UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const POD = `/kubepods/burstable/pod${POD_UID}`;
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

/** A table of live processes the test sets, and a clock it moves. */
function service(max = 3, retentionSeconds = 60, pods?: PodSource) {
  const live: { cgroup: string | undefined }[] = [];
  let now = 1000;
  const workloads = new Workloads({ max, retentionSeconds, table: { processes: () => live }, pods, now: () => now });
  return {
    workloads,
    live,
    at(second: number) {
      now = second;
    },
  };
}

function forkCounts(workloads: Workloads): Record<string, number> {
  return Object.fromEntries(workloads.heldSlots().map((slot: Slot) => [workloadKey(slot.workload), slot.forks]));
}

function processCounts(workloads: Workloads): Record<string, number> {
  return Object.fromEntries([...workloads.refresh().processes].map(([slot, count]) => [workloadKey(slot.workload), count]));
}

describe('identifyCgroup', () => {
  it('names the workload of a cgroup path, and __unknown__ when the path is not known', () => {
    expect(identifyCgroup(`${POD}/${ID_A}`)).toEqual({ kind: 'pod', podUid: POD_UID, containerId: ID_A, podCgroups: [POD] });
    expect(identifyCgroup('/system.slice/cron.service')).toEqual({ kind: 'unit', unit: 'cron.service' });
    expect(identifyCgroup(undefined)).toBe(UNKNOWN_WORKLOAD);
  });

  it('keys two paths of one workload alike: a cgroup inside a container is the container', () => {
    expect(workloadKey(identifyCgroup(`${POD}/${ID_A}/container`))).toBe(workloadKey(identifyCgroup(`${POD}/${ID_A}`)));
    expect(workloadKey(identifyCgroup(`${POD}/${ID_A}`))).not.toBe(workloadKey(identifyCgroup(`${POD}/${ID_B}`)));
    expect(workloadKey(identifyCgroup(`${POD}/${ID_A}`))).not.toBe(workloadKey(identifyCgroup(POD)));
  });
});

describe('Workloads: forks', () => {
  it('counts each fork under the workload of the parent, and the unknown under __unknown__', () => {
    const { workloads } = service();
    workloads.fork(`${POD}/${ID_A}`, 1000);
    workloads.fork(`${POD}/${ID_A}/container`, 1000);
    workloads.fork('/system.slice/cron.service', 1000);
    workloads.fork(undefined, 1000);

    expect(forkCounts(workloads)).toEqual({
      [`pod ${POD_UID} ${ID_A}`]: 2,
      'unit cron.service': 1,
      'unit __unknown__': 1,
      'unit __other__': 0,
    });
  });

  it('counts the workloads past --workloads.max under __other__', () => {
    const { workloads } = service(2);
    for (const unit of ['a.service', 'b.service', 'c.service', 'd.service', 'a.service']) workloads.fork(`/system.slice/${unit}`, 1000);

    expect(forkCounts(workloads)).toEqual({ 'unit a.service': 2, 'unit b.service': 1, 'unit __other__': 2 });
  });
});

describe('Workloads: live processes', () => {
  it('counts live processes by workload, giving a slot to a workload first seen alive', () => {
    const { workloads, live } = service();
    live.push({ cgroup: '/init.scope' }, { cgroup: `${POD}/${ID_A}` }, { cgroup: `${POD}/${ID_A}` }, { cgroup: undefined });

    expect(processCounts(workloads)).toEqual({ 'unit init.scope': 1, [`pod ${POD_UID} ${ID_A}`]: 2, 'unit __unknown__': 1 });
    expect(Object.keys(forkCounts(workloads))).toHaveLength(4); // three slots and __other__, all at 0
  });

  it('lists the pods with live processes or a slot, once each', () => {
    const { workloads, live } = service(5);
    live.push({ cgroup: `${POD}/${ID_A}` }, { cgroup: `${POD}/${ID_B}` }, { cgroup: '/init.scope' });
    workloads.fork('/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/' + 'c'.repeat(64), 1000);

    expect(workloads.refresh().pods.map((pod) => pod.podUid).sort()).toEqual([POD_UID, '11111111-2222-3333-4444-555555555555']);
  });
});

describe('Workloads: retention', () => {
  it('lets a workload with no live process and no fork go after the retention, and frees its slot', () => {
    const { workloads, live, at } = service(1, 60);
    workloads.fork('/user.slice/user-1000.slice/session-3.scope', 1000);
    at(1059);
    expect(processCounts(workloads)).toEqual({});
    expect(forkCounts(workloads)).toEqual({ 'unit session-3.scope': 1, 'unit __other__': 0 });

    at(1060);
    workloads.refresh();
    expect(forkCounts(workloads)).toEqual({ 'unit __other__': 0 });

    // The freed slot goes to the next workload.
    workloads.fork('/user.slice/user-1000.slice/session-4.scope', 1061);
    expect(forkCounts(workloads)).toEqual({ 'unit session-4.scope': 1, 'unit __other__': 0 });
    live.push({ cgroup: '/user.slice/user-1000.slice/session-4.scope' });
    at(5000);
    expect(processCounts(workloads)).toEqual({ 'unit session-4.scope': 1 }); // alive: kept however long ago it forked
  });

  it('keeps a workload that forked within the retention', () => {
    const { workloads, at } = service(3, 60);
    workloads.fork('/system.slice/cron.service', 1000);
    workloads.fork('/system.slice/cron.service', 1050);
    at(1100);
    workloads.refresh();

    expect(forkCounts(workloads)).toEqual({ 'unit cron.service': 2, 'unit __other__': 0 });
  });

  it('gives a slot a gone workload freed to a workload that was counted under __other__', () => {
    const { workloads, at } = service(1, 60);
    workloads.fork('/system.slice/a.service', 1000);
    workloads.fork('/system.slice/b.service', 1000); // no slot left: __other__
    at(1060);
    workloads.refresh(); // a.service goes
    workloads.fork('/system.slice/b.service', 1061);

    expect(forkCounts(workloads)).toEqual({ 'unit b.service': 1, 'unit __other__': 1 });
  });

  it('never holds more than --workloads.max slots, however many workloads come and go', () => {
    const { workloads, live, at } = service(50, 5);
    for (let i = 0; i < 5000; i++) {
      const second = 1000 + Math.floor(i / 100);
      at(second);
      workloads.fork(`/forkwatch-test/churn-${i}`, second);
      live.splice(0, live.length, { cgroup: `/forkwatch-test/churn-${i}` });
      if (i % 10 === 0) workloads.refresh();
      expect(workloads.heldSlots().length).toBeLessThanOrEqual(51);
    }
    live.length = 0;
    at(1100);
    workloads.refresh();
    expect(workloads.heldSlots().map((slot) => slot.workload)).toEqual([OTHER_WORKLOAD]);
  });
});

describe('Workloads: labels', () => {
  it('names a pod by uid until the pod cache knows it, then by its names', () => {
    const known = new Map<string, { namespace: string; name: string }>();
    const pods: PodSource & PodNames = {
      synced: false,
      names: (uid) => known.get(uid),
      containerName: (uid, id) => (known.has(uid) && id === ID_A ? 'nginx' : undefined),
    };
    const { workloads } = service(3, 60, pods);
    const workload = identifyCgroup(`${POD}/${ID_A}`);

    expect(workloads.labels(workload)).toEqual({ namespace: '', pod: `uid:${POD_UID}`, container: `id:${ID_A.slice(0, 12)}`, unit: '' });
    known.set(POD_UID, { namespace: 'shop', name: 'web-0' });
    expect(workloads.labels(workload)).toEqual({ namespace: 'shop', pod: 'web-0', container: 'nginx', unit: '' });
    expect(workloads.podLabels(POD_UID)).toEqual({ namespace: 'shop', pod: 'web-0' });
  });

  it('says whether the pod cache is in sync, and not without one', () => {
    expect(service().workloads.kubernetesSynced).toBe(false);
    expect(service(3, 60, { synced: true, names: () => undefined, containerName: () => undefined }).workloads.kubernetesSynced).toBe(true);
  });

  it('labels __other__ and __unknown__ as units', () => {
    const { workloads } = service();
    expect(workloads.labels(OTHER_WORKLOAD)).toEqual({ namespace: '', pod: '', container: '', unit: '__other__' });
    expect(workloads.labels(UNKNOWN_WORKLOAD)).toEqual({ namespace: '', pod: '', container: '', unit: '__unknown__' });
  });
});
