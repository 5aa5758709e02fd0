// The four workload labels (namespace, pod, container, unit) of a workload, as the product
// contract names them: Kubernetes names once the pod cache knows them, `uid:<pod uid>` and
// `id:<first 12 hex of the container id>` until then; `unit` only outside pods.
//
// Cgroup paths and API objects are hostile input, so every value is bounded here.
import { boundLabel } from './bound-label.js';
import type { Workload } from './layouts.js';

/** Characters of a container id shown until its name is known (as `docker ps` and crictl show). */
const SHORT_ID_CHARS = 12;

/** The labels that name a workload, always all four, in this order. */
export const WORKLOAD_LABEL_NAMES = ['namespace', 'pod', 'container', 'unit'] as const;

export interface WorkloadLabels {
  namespace: string;
  pod: string;
  container: string;
  unit: string;
}

/** What the labels need from the Kubernetes pod cache (PodCache implements it). */
export interface PodNames {
  names(podUid: string): { namespace: string; name: string } | undefined;
  containerName(podUid: string, containerId: string): string | undefined;
}

/** A node's name is a DNS subdomain (RFC 1123); anything else cannot be in a field selector. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function isNodeName(name: string): boolean {
  return NODE_NAME.test(name);
}

/** namespace and pod of a pod, by name once known, else `pod="uid:<uid>"` and no namespace. */
export function podLabels(podUid: string, pods: PodNames | undefined): { namespace: string; pod: string } {
  const names = pods?.names(podUid);
  if (names === undefined) return { namespace: '', pod: boundLabel(`uid:${podUid}`) };
  return { namespace: boundLabel(names.namespace), pod: boundLabel(names.name) };
}

/** The four labels of a workload; `pods` may be undefined (--no-kubernetes). */
export function workloadLabels(workload: Workload, pods: PodNames | undefined): WorkloadLabels {
  if (workload.kind === 'unit') return { namespace: '', pod: '', container: '', unit: workload.unit };
  const { namespace, pod } = podLabels(workload.podUid, pods);
  const { containerId } = workload;
  if (containerId === undefined) return { namespace, pod, container: '', unit: '' };
  const name = pods?.containerName(workload.podUid, containerId);
  const container = boundLabel(name ?? `id:${containerId.slice(0, SHORT_ID_CHARS)}`);
  return { namespace, pod, container, unit: '' };
}
