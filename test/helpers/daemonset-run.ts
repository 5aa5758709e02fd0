// deploy/kubernetes/daemonset.yaml translated into `podman run` flags, field by field, so
// that the image test runs forkwatch with the settings the DaemonSet gives it. A setting
// this translation does not know fails the test instead of being left out.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/package.js';

export const DAEMONSET_FILE = 'deploy/kubernetes/daemonset.yaml';

interface Container {
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostUsers?: boolean;
  securityContext?: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
  containers: Container[];
}

export interface PodmanRun {
  /** `podman run` flags (before the image). */
  flags: string[];
  /** The container's arguments (after the image). */
  args: string[];
  /** How long `podman stop` waits before SIGKILL: the pod's termination grace period. */
  stopSeconds: number;
}

/** A Kubernetes quantity ("384Mi", "100m", "1") as a number of its unit. */
function quantity(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(value);
  if (!match) throw new Error(`${DAEMONSET_FILE}: quantity ${value} is not one the image test reads`);
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

function securityFlags(context: Record<string, unknown>): string[] {
  const flags: string[] = [];
  const known = ['runAsUser', 'runAsGroup', 'runAsNonRoot', 'privileged', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'capabilities', 'seccompProfile'];
  const unknown = Object.keys(context).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new Error(`${DAEMONSET_FILE}: the image test does not run securityContext.${unknown.join(', ')}`);
  if (context.runAsUser !== undefined) flags.push(`--user=${String(context.runAsUser)}:${String(context.runAsGroup ?? 0)}`);
  // runAsNonRoot only makes the kubelet refuse to start a container that would run as root.
  if (context.runAsNonRoot === true && context.runAsUser === 0) throw new Error(`${DAEMONSET_FILE}: runAsNonRoot with runAsUser 0 never starts`);
  if (context.privileged === true) flags.push('--privileged');
  if (context.allowPrivilegeEscalation === false) flags.push('--security-opt=no-new-privileges');
  // Kubernetes mounts no tmpfs over a read-only root; podman would, on /tmp, /var/tmp and /run.
  if (context.readOnlyRootFilesystem === true) flags.push('--read-only', '--read-only-tmpfs=false');
  const capabilities = (context.capabilities ?? {}) as { drop?: string[]; add?: string[] };
  for (const capability of capabilities.drop ?? []) flags.push(`--cap-drop=${capability}`);
  for (const capability of capabilities.add ?? []) flags.push(`--cap-add=${capability}`);
  // RuntimeDefault is the runtime's own profile, which podman applies unless told otherwise.
  const seccomp = (context.seccompProfile as { type?: string } | undefined)?.type;
  if (seccomp !== undefined && seccomp !== 'RuntimeDefault') throw new Error(`${DAEMONSET_FILE}: the image test does not run seccompProfile ${seccomp}`);
  return flags;
}

function resourceFlags(resources: Container['resources'] = {}): string[] {
  const flags: string[] = [];
  const { requests = {}, limits = {} } = resources;
  if (limits.memory !== undefined) flags.push(`--memory=${quantity(limits.memory)}b`);
  if (limits.cpu !== undefined) flags.push(`--cpus=${quantity(limits.cpu)}`);
  // The kubelet turns a CPU request into CPU shares, 1024 to the core.
  if (requests.cpu !== undefined) flags.push(`--cpu-shares=${Math.max(2, Math.round(quantity(requests.cpu) * 1024))}`);
  return flags;
}

function envFlags(env: Container['env'] = []): string[] {
  return env.map(({ name, value, valueFrom }) => {
    if (value !== undefined) return `--env=${name}=${value}`;
    if (valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') return `--env=${name}=${hostname()}`;
    throw new Error(`${DAEMONSET_FILE}: the image test does not set env ${name} from ${JSON.stringify(valueFrom)}`);
  });
}

/**
 * How to run forkwatch's container as the DaemonSet runs it, listening on `port` instead
 * of the DaemonSet's own (the machine is shared, and 9740 may be taken).
 */
export function daemonSetRun(port: number): PodmanRun {
  const daemonSet = parse(readFileSync(join(packageRoot, DAEMONSET_FILE), 'utf8')) as { spec: { template: { spec: PodSpec } } };
  const pod = daemonSet.spec.template.spec;
  if (pod.containers.length !== 1) throw new Error(`${DAEMONSET_FILE}: the image test runs a pod of one container`);
  if (pod.securityContext !== undefined) throw new Error(`${DAEMONSET_FILE}: the image test does not run the pod's securityContext`);
  const container = pod.containers[0]!;
  const flags = [
    // A pod shares the node's namespaces only where it says so (hostUsers defaults to true).
    `--network=${pod.hostNetwork === true ? 'host' : 'private'}`,
    `--pid=${pod.hostPID === true ? 'host' : 'private'}`,
    `--ipc=${pod.hostIPC === true ? 'host' : 'private'}`,
    `--userns=${pod.hostUsers === false ? 'auto' : 'host'}`,
    ...securityFlags(container.securityContext ?? {}),
    ...resourceFlags(container.resources),
    ...envFlags(container.env),
  ];
  const args = (container.args ?? []).map((arg) => arg.replace(/^(--web\.listen-address=.*:)\d+$/, `$1${port}`));
  if (!args.some((arg) => arg.endsWith(`:${port}`))) throw new Error(`${DAEMONSET_FILE}: no --web.listen-address=<host>:<port> argument to move to port ${port}`);
  return { flags, args, stopSeconds: pod.terminationGracePeriodSeconds ?? 30 };
}
