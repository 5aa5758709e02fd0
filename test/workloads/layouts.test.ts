// Cgroup paths as kubelet, the container runtimes, systemd and podman write them (the sources
// for each layout are named in src/workloads/layouts.ts), and the workload each names.
import { describe, expect, it } from 'vitest';
import { MAX_LABEL_CHARS } from '../../src/workloads/bound-label.js';
import { classifyCgroup, workloadOf, type Workload } from '../../src/workloads/layouts.js';

const UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const UID_ = UID.replaceAll('-', '_');
/** A static pod's uid: kubelet's md5 of the manifest. */
const STATIC_UID = '6d1b3c0f9a8e7d6c5b4a39281706f5e4';
const ID = '3f1c9e2ab84d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e';
const ID2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

const burstableSlice = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`;
const besteffortSlice = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`;
const guaranteedSlice = `/kubepods.slice/kubepods-pod${UID_}.slice`;

function pod(podCgroups: string[], containerId?: string, podUid = UID): Workload {
  return containerId === undefined ? { kind: 'pod', podUid, podCgroups } : { kind: 'pod', podUid, containerId, podCgroups };
}

function unit(name: string): Workload {
  return { kind: 'unit', unit: name };
}

describe('kubelet with the systemd cgroup driver', () => {
  it.each([
    ['containerd, burstable', `${burstableSlice}/cri-containerd-${ID}.scope`, pod([burstableSlice], ID)],
    ['containerd, best effort', `${besteffortSlice}/cri-containerd-${ID}.scope`, pod([besteffortSlice], ID)],
    ['containerd, guaranteed (no QoS level)', `${guaranteedSlice}/cri-containerd-${ID}.scope`, pod([guaranteedSlice], ID)],
    ['CRI-O', `${burstableSlice}/crio-${ID}.scope`, pod([burstableSlice], ID)],
    ['CRI-O with crun, which runs the container in a "container" child', `${burstableSlice}/crio-${ID}.scope/container`, pod([burstableSlice], ID)],
    ['CRI-O conmon (conmon_cgroup = "pod"): the pod, no container', `${burstableSlice}/crio-conmon-${ID}.scope`, pod([burstableSlice])],
    ['CRI-O sandbox cgroup made with cgroupfs inside the slice', `${burstableSlice}/crio-${ID2}`, pod([burstableSlice], ID2)],
    ['cri-dockerd', `${guaranteedSlice}/docker-${ID}.scope`, pod([guaranteedSlice], ID)],
    ['podman', `${burstableSlice}/libpod-${ID}.scope`, pod([burstableSlice], ID)],
    ['podman conmon', `${burstableSlice}/libpod-conmon-${ID}.scope`, pod([burstableSlice])],
    ['the pod slice itself', burstableSlice, pod([burstableSlice])],
    ['systemd inside the container', `${burstableSlice}/cri-containerd-${ID}.scope/init.scope`, pod([burstableSlice], ID)],
    ['a static pod (uid is 32 hex)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`, pod([`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice`], ID, STATIC_UID)],
    [
      'kind (--cgroup-root=/kubelet)',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      pod([`/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice`], ID),
    ],
    [
      'a kind node seen from the host: the host path keeps the node container',
      `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      pod([`/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID_}.slice`], ID),
    ],
    ['an unknown element under the pod: the pod, no container', `${burstableSlice}/something-else.scope`, pod([burstableSlice])],
  ])('%s', (_what, path, expected) => {
    expect(classifyCgroup(path)).toEqual(expected);
  });
});

describe('kubelet with the cgroupfs driver', () => {
  it.each([
    ['containerd, burstable', `/kubepods/burstable/pod${UID}/${ID}`, pod([`/kubepods/burstable/pod${UID}`], ID)],
    ['containerd, best effort', `/kubepods/besteffort/pod${UID}/${ID}`, pod([`/kubepods/besteffort/pod${UID}`], ID)],
    ['guaranteed (no QoS level)', `/kubepods/pod${UID}/${ID}`, pod([`/kubepods/pod${UID}`], ID)],
    ['CRI-O', `/kubepods/burstable/pod${UID}/crio-${ID}`, pod([`/kubepods/burstable/pod${UID}`], ID)],
    ['CRI-O conmon', `/kubepods/burstable/pod${UID}/crio-conmon-${ID}`, pod([`/kubepods/burstable/pod${UID}`])],
    ['the pod cgroup itself (the sandbox before its container exists)', `/kubepods/burstable/pod${UID}`, pod([`/kubepods/burstable/pod${UID}`])],
    ['a static pod', `/kubepods/pod${STATIC_UID}/${ID}`, pod([`/kubepods/pod${STATIC_UID}`], ID, STATIC_UID)],
    ['upper-case hex in a container id is kept as the pod uid is, lower-cased for the id', `/kubepods/pod${UID}/${ID.toUpperCase()}`, pod([`/kubepods/pod${UID}`], ID)],
  ])('%s', (_what, path, expected) => {
    expect(classifyCgroup(path)).toEqual(expected);
  });
});

describe('paths read inside a private cgroup namespace (beginning with "/..")', () => {
  it.each([
    ['systemd: the slice name spells the host path', `/../../../kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`, pod([besteffortSlice], ID)],
    ['systemd, guaranteed', `/../../kubepods-pod${UID_}.slice/crio-${ID}.scope`, pod([guaranteedSlice], ID)],
    ['systemd, same QoS slice as forkwatch', `/../../kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, pod([burstableSlice], ID)],
    ['cgroupfs, QoS level visible', `/../../../besteffort/pod${UID}/${ID}`, pod([`/kubepods/besteffort/pod${UID}`], ID)],
    ['cgroupfs, guaranteed, forkwatch outside kubepods', `/../../kubepods/pod${UID}/${ID}`, pod([`/kubepods/pod${UID}`], ID)],
    [
      'cgroupfs, QoS level hidden: every place it can be, in order',
      `/../../pod${UID}/${ID}`,
      pod([`/kubepods/burstable/pod${UID}`, `/kubepods/besteffort/pod${UID}`, `/kubepods/pod${UID}`], ID),
    ],
    ['a systemd unit outside', '/../../../../system.slice/cron.service', unit('cron.service')],
    ['an ancestor of our own cgroup has no name of its own', '/../..', unit('..')],
    ['our own container reads as the root', '/', unit('/')],
  ])('%s', (_what, path, expected) => {
    expect(classifyCgroup(path)).toEqual(expected);
  });
});

describe('plain hosts', () => {
  it.each([
    ['a service', '/system.slice/cron.service', 'cron.service'],
    ['a login session', '/user.slice/user-1000.slice/session-3.scope', 'session-3.scope'],
    ['a user manager', '/user.slice/user-1000.slice/user@1000.service/init.scope', 'user@1000.service'],
    ['a user service', '/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service', 'dbus.service'],
    ['docker (systemd driver)', `/system.slice/docker-${ID}.scope`, `docker-${ID}.scope`],
    ['docker (cgroupfs driver): the last element', `/docker/${ID}`, ID],
    ['podman as root', `/machine.slice/libpod-${ID}.scope`, `libpod-${ID}.scope`],
    ['podman as root, crun\'s "container" child', `/machine.slice/libpod-${ID}.scope/container`, `libpod-${ID}.scope`],
    ['podman\'s conmon', `/machine.slice/libpod-conmon-${ID}.scope`, `libpod-conmon-${ID}.scope`],
    ['rootless podman', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, `libpod-${ID}.scope`],
    ['podman, cgroupfs manager', `/libpod_parent/libpod-${ID}`, `libpod-${ID}`],
    ['podman, cgroupfs manager, older releases\' "ctr" child', `/libpod_parent/libpod-${ID}/ctr`, `libpod-${ID}`],
    ['podman\'s conmon, cgroupfs manager', '/libpod_parent/conmon', 'conmon'],
    ['systemd itself', '/init.scope', 'init.scope'],
    ['a mount helper', '/system.slice/home.mount', 'home.mount'],
    ['a slice (v1 hierarchies may hold processes there)', '/system.slice', 'system.slice'],
    ['the root', '/', '/'],
    ['anything else: the last element', '/lxc.payload.web/app', 'app'],
    ['a pod-like name with no valid uid is not a pod', '/kubepods/burstable/podnot-a-uid/x', 'x'],
  ])('%s', (_what, path, expected) => {
    expect(classifyCgroup(path)).toEqual(unit(expected));
  });
});

describe('hostile paths', () => {
  it('bounds the length of a unit name', () => {
    const long = `/system.slice/${'a'.repeat(5000)}.service`;
    const workload = classifyCgroup(long);
    expect(workload.kind).toBe('unit');
    expect(Array.from((workload as { unit: string }).unit)).toHaveLength(MAX_LABEL_CHARS);
  });

  it('replaces control characters and lone surrogates', () => {
    expect(classifyCgroup('/x/a\u0001b\ud800c')).toEqual(unit('a\uFFFDb\uFFFDc'));
  });

  it('does not take ".." inside a path (the kernel writes it only at the start) for a pod', () => {
    expect(classifyCgroup(`/kubepods/../pod${UID}/${ID}`)).toEqual(unit(ID));
    expect(classifyCgroup(`/kubepods/./pod${UID}`)).toEqual(unit(`pod${UID}`));
  });

  it.each(['', '//', 'no-slash', '\u0000', ':::'])('gives a workload for %j', (path) => {
    expect(() => classifyCgroup(path)).not.toThrow();
    expect(classifyCgroup(path).kind).toBe('unit');
  });
});

describe('workloadOf', () => {
  it('returns the same object for the same path', () => {
    const path = `${burstableSlice}/cri-containerd-${ID}.scope`;
    expect(workloadOf(path)).toBe(workloadOf(path));
    expect(workloadOf(path)).toEqual(classifyCgroup(path));
  });

  it('stays correct when many distinct paths pass through it', () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `unit-${i}.service`);
    const units = names.map((name) => workloadOf(`/system.slice/${name}`)).map((workload) => (workload as { unit: string }).unit);
    expect(units).toEqual(names);
    expect(workloadOf('/system.slice/unit-0.service')).toEqual(unit('unit-0.service')); // forgotten, classified again
  });
});
