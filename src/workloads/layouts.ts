// A cgroup path -> the workload it belongs to: a pod (and container) or a systemd unit.
//
// The layouts, and where each is written down:
//
// kubelet, systemd cgroup driver (pkg/kubelet/cm/cgroup_manager_linux.go: each level of the
// cgroup name becomes a slice, "-" in a part escaped as "_"; qos_container_manager_linux.go:
// Guaranteed pods sit directly under kubepods):
//   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/<ctr>
//   /kubepods.slice/kubepods-pod<uid with _>.slice/<ctr>                       (Guaranteed)
//   /kubelet.slice/kubelet-kubepods.slice/…/kubelet-kubepods-…-pod<uid>.slice  (--cgroup-root=/kubelet, as kind sets it)
// where the runtime names the container's scope (runc's systemd driver: "<prefix>-<id>.scope"):
//   cri-containerd-<64 hex>.scope  containerd (pkg/cri: "kubepods-…slice:cri-containerd:<id>"; also the sandbox)
//   crio-<64 hex>.scope            CRI-O (internal/config/cgmgr/systemd_linux.go)
//   crio-conmon-<64 hex>.scope     CRI-O's conmon with conmon_cgroup="pod": the pod's, no container
//   crio-<64 hex>                  CRI-O's cgroupfs-made sandbox cgroup inside the pod slice
//   docker-<64 hex>.scope          dockershim / cri-dockerd
//   libpod-<64 hex>.scope          podman (libpod/container_internal_linux.go getOCICgroupPath)
// kubelet, cgroupfs driver (same files; runtimes use the bare id, CRI-O "crio-<id>"):
//   /kubepods/burstable/pod<uid>/<64 hex>   /kubepods/besteffort/pod<uid>/<64 hex>
//   /kubepods/pod<uid>/<64 hex>                                                 (Guaranteed)
//   /kubepods/burstable/pod<uid>/crio-<64 hex>, …/crio-conmon-<64 hex> (cgroupfs_linux.go)
// A process in the pod cgroup itself, or in any cgroup of the pod that names no container,
// belongs to the pod with no container. Deeper cgroups inside a container's (crun's
// "container" subgroup, systemd or docker inside the container) belong to that container.
// The pod uid is a UUID, or 32 hex digits for a static pod (kubelet's config/common.go
// applyDefaults hashes the manifest; the mirror pod carries it in kubernetes.io/config.mirror).
//
// Plain hosts, systemd (systemd.unit(5), systemd.slice(5); src/basic/cgroup-util.c
// cg_path_get_unit: the first element below the slices names the unit; a user manager's
// units are looked up below user@<uid>.service like cg_path_get_user_unit):
//   /system.slice/cron.service                              -> cron.service
//   /user.slice/user-1000.slice/session-3.scope             -> session-3.scope
//   /system.slice/docker-<64 hex>.scope                     -> docker-<64 hex>.scope (docker, systemd driver)
//   /machine.slice/libpod-<64 hex>.scope[/container]        -> libpod-<64 hex>.scope (podman as root)
//   /user.slice/user-1000.slice/user@1000.service/user.slice/libpod-<64 hex>.scope -> libpod-… (rootless podman)
// podman with the cgroupfs manager (libpod: CgroupfsDefaultCgroupParent "/libpod_parent",
// the container in "libpod-<id>" (older releases: ".../libpod-<id>/ctr"), conmon in "conmon"):
//   /libpod_parent/libpod-<64 hex>                          -> libpod-<64 hex>
//   (seen with Debian's podman on this project's cgroup v1 test machines, in every hierarchy)
// Anything else is named by its last path element, and the root cgroup by "/".
//
// Paths read from inside a private cgroup namespace start with "/.." (see src/processes/proc-cgroup.ts).
// Their elements are recognised the same way; the pod's host cgroup is then rebuilt from the
// kubelet layout, assuming the host's cgroup file system (mounted at --cgroup root) is the
// kubelet's view of the tree:
//   - systemd driver: the pod slice's name spells out every parent slice (systemd.slice(5):
//     "a-b-c.slice" lives in a.slice/a-b.slice), so the path is exact whatever the root.
//   - cgroupfs driver: kubelet's default cgroup root "/" is assumed: /kubepods[/<qos>]/pod<uid>.
//     When the path hides the QoS level (it shares it with forkwatch's own pod), the three
//     possible places are given, in order; exactly one of them exists on the host.
// Inside forkwatch's own cgroup the namespace shows paths without "/..", which are taken as
// they are: forkwatch's own container then reads as "/".
import { boundLabel } from './bound-label.js';

/** A process in a Kubernetes pod. */
export interface PodWorkload {
  readonly kind: 'pod';
  /** The pod's uid as the API server has it (metadata.uid, or a mirror pod's config.mirror). */
  readonly podUid: string;
  /** The container's full id (64 hex digits); absent for the pod's own processes and conmon. */
  readonly containerId?: string;
  /**
   * The pod's cgroup, relative to a cgroup hierarchy's root on the host (e.g.
   * "/kubepods/burstable/pod<uid>"): one path, or (only for a namespace-relative cgroupfs
   * path that hides the QoS level) the candidates to try in order.
   */
  readonly podCgroups: readonly string[];
}

/** A process outside pods: its systemd unit or scope, else its cgroup's last path element. */
export interface UnitWorkload {
  readonly kind: 'unit';
  readonly unit: string;
}

export type Workload = PodWorkload | UnitWorkload;

const UID_SYSTEMD = '[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}|[0-9a-f]{32}';
const UID_CGROUPFS = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}';
/** "kubepods-burstable-pod<uid>.slice", "kubepods-pod<uid>.slice", "kubelet-kubepods-…-pod<uid>.slice" */
const POD_SLICE = new RegExp(`^(?:[^/]*-)?pod(${UID_SYSTEMD})\\.slice$`, 'i');
/** "pod<uid>" (cgroupfs driver) */
const POD_DIR = new RegExp(`^pod(${UID_CGROUPFS})$`, 'i');
/** conmon's own cgroup inside the pod: the pod's, but no container's. */
const CONMON = /^(?:crio|libpod)-conmon-[0-9a-f]{64}(?:\.scope)?$/i;
/** A container's cgroup inside the pod: "<runtime>-<id>.scope" (systemd) or "<id>", "crio-<id>" (cgroupfs). */
const CONTAINER = /^(?:(?:cri-containerd|crio|docker|libpod)-)?([0-9a-f]{64})(?:\.scope)?$/i;
/** Unit types that hold processes (systemd.unit(5)); slices never do. */
const UNIT = /\.(?:service|scope|socket|mount|swap)$/;
/** A user's service manager; its own units are one level down (cg_path_get_user_unit). */
const USER_MANAGER = /^user@\d+\.service$/;
const QOS_CLASSES = ['burstable', 'besteffort'];

/** The workload of a cgroup path (no cache; see workloadOf). */
export function classifyCgroup(path: string): Workload {
  const elements = path.split('/').filter((element) => element !== '');
  let up = 0;
  while (elements[up] === '..') up++;
  const below = elements.slice(up);
  // The kernel writes ".." only at the start, and never "." : anything else is not its path.
  if (below.some((element) => element === '..' || element === '.')) return unitWorkload(lastElement(elements));

  const podIndex = below.findIndex((element) => POD_SLICE.test(element) || POD_DIR.test(element));
  if (podIndex < 0) return unitWorkload(unitOf(below) ?? lastElement(elements));

  const podElement = below[podIndex]!;
  const systemd = POD_SLICE.exec(podElement);
  const podUid = systemd !== null ? systemd[1]!.replaceAll('_', '-') : POD_DIR.exec(podElement)![1]!;
  const podCgroups =
    up === 0
      ? [`/${below.slice(0, podIndex + 1).join('/')}`]
      : systemd !== null
        ? [expandSlice(podElement)]
        : cgroupfsPodCgroups(podElement, below[podIndex - 1]);
  const containerId = containerIdOf(below[podIndex + 1]);
  const workload: PodWorkload = { kind: 'pod', podUid, podCgroups: Object.freeze(podCgroups) };
  return Object.freeze(containerId === undefined ? workload : { ...workload, containerId });
}

function containerIdOf(element: string | undefined): string | undefined {
  if (element === undefined || CONMON.test(element)) return undefined;
  return CONTAINER.exec(element)?.[1]?.toLowerCase();
}

/** systemd.slice(5): "a-b-c.slice" is at "/a.slice/a-b.slice/a-b-c.slice". */
function expandSlice(slice: string): string {
  const parts = slice.slice(0, -'.slice'.length).split('-');
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('-')}.slice`).join('');
}

/** kubelet's cgroupfs layout under the default cgroup root: /kubepods[/<qos>]/pod<uid>. */
function cgroupfsPodCgroups(podElement: string, parent: string | undefined): string[] {
  if (parent !== undefined && QOS_CLASSES.includes(parent)) return [`/kubepods/${parent}/${podElement}`];
  if (parent === 'kubepods') return [`/kubepods/${podElement}`];
  return [...QOS_CLASSES.map((qos) => `/kubepods/${qos}/${podElement}`), `/kubepods/${podElement}`];
}

/** The systemd unit (or scope) of a path outside pods, or undefined if it names none. */
function unitOf(elements: string[]): string | undefined {
  const first = elements.findIndex((element) => !element.endsWith('.slice'));
  if (first < 0) return undefined;
  const unit = elements[first]!;
  if (unit === 'libpod_parent' && elements[first + 1] !== undefined) return elements[first + 1]; // podman, cgroupfs
  if (!UNIT.test(unit)) return undefined;
  if (USER_MANAGER.test(unit)) {
    const rest = elements.slice(first + 1);
    const userUnit = rest.find((element) => !element.endsWith('.slice'));
    if (userUnit !== undefined && UNIT.test(userUnit) && userUnit !== 'init.scope') return userUnit;
  }
  return unit;
}

/** The last path element; "/" for the root cgroup. */
function lastElement(elements: string[]): string {
  return elements.at(-1) ?? '/';
}

function unitWorkload(unit: string): UnitWorkload {
  return Object.freeze({ kind: 'unit', unit: boundLabel(unit) });
}

/** Distinct paths remembered by workloadOf; past it the oldest is forgotten. */
export const WORKLOAD_CACHE_SIZE = 4096;
const cache = new Map<string, Workload>();

/**
 * The workload of a cgroup path, remembered by path (most processes share a few paths).
 * The cache is bounded, so hostile churn of paths costs at most a re-classification.
 */
export function workloadOf(path: string): Workload {
  const known = cache.get(path);
  if (known !== undefined) return known;
  const workload = classifyCgroup(path);
  if (cache.size >= WORKLOAD_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(path, workload);
  return workload;
}
