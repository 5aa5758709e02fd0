// The Kubernetes base in deploy/kubernetes/: every manifest validates against the Kubernetes
// and Prometheus Operator schemas, with no field they do not know; the DaemonSet holds the
// privileges forkwatch needs and no others; the objects point at each other correctly; and
// the PrometheusRule carries exactly the rules of deploy/prometheus/forkwatch-rules.yml
// (both generated from deploy/mixin/).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IResourceQuota, IService, IServiceAccount, INamespace } from 'kubernetes-models/v1';
import type { IPrometheusRule, IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IClusterRole, IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GENERATE_COMMAND, PROMETHEUS_RULE_FILE, RULES_FILE, renderPrometheusRule } from '../../scripts/generate-rules.js';
import { parseFlags } from '../../src/cli/flags.js';
import { packageRoot, version } from '../../src/package.js';
import { BASE, find, kubectl, kubectlMissing, type Manifest, parseManifests, readText, validateStrictly } from './manifests.js';

const NAMESPACE = 'forkwatch';
/** Kinds that belong to no namespace. */
const CLUSTER_SCOPED = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'];

const kustomization = parse(readText(`${BASE}/kustomization.yaml`)) as {
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
};
const manifestFiles = readdirSync(join(packageRoot, BASE))
  .filter((file) => /\.ya?ml$/.test(file) && file !== 'kustomization.yaml')
  .sort();
const manifests = manifestFiles.flatMap((file) => parseManifests(readText(`${BASE}/${file}`), `${BASE}/${file}`));

const only = <T>(kind: string): T => find<T>(manifests, kind);

const daemonSet = only<IDaemonSet>('DaemonSet');
const podSpec = daemonSet.spec!.template.spec!;
const container = podSpec.containers.find((c) => c.name === 'forkwatch')!;
const service = only<IService>('Service');
const serviceMonitor = only<IServiceMonitor>('ServiceMonitor');
const prometheusRule = only<IPrometheusRule>('PrometheusRule');

/** forkwatch's own parse of the container's arguments. */
function containerOptions() {
  const parsed = parseFlags(container.args ?? [], version);
  if (parsed.kind !== 'run') throw new Error(`forkwatch refuses the DaemonSet's args: ${JSON.stringify(parsed)}`);
  return parsed.options;
}

/** A Kubernetes quantity as a number (cpu in cores, memory in bytes), for the suffixes used here. */
function quantity(value: string | number | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(value));
  if (!match) throw new Error(`not a quantity this test reads: ${value}`);
  const scale = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

function matchesLabels(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
}

describe(`${BASE}: the kustomize base`, () => {
  it('kustomization.yaml lists every manifest in the folder, and only those', () => {
    expect([...kustomization.resources].sort()).toEqual(manifestFiles);
  });

  it('holds one object per file, each with a name', () => {
    for (const file of manifestFiles) {
      const objects = parseManifests(readText(`${BASE}/${file}`), file);
      expect(objects, file).toHaveLength(1);
      expect(objects[0]?.metadata?.name, file).toBeTruthy();
    }
  });

  it.each(manifestFiles)('%s validates against its schema, and every field is one the schema knows', (file) => {
    for (const manifest of parseManifests(readText(`${BASE}/${file}`), file)) {
      expect(validateStrictly(manifest), `fields ${manifest.kind} does not have`).toEqual([]);
    }
  });

  it('the strict validation catches a misspelt field and a malformed value', () => {
    const misspelt = structuredClone(daemonSet);
    (misspelt.spec!.template.spec as unknown as Record<string, unknown>).hostUser = true;
    expect(validateStrictly(misspelt as unknown as Manifest)).toEqual(['.spec.template.spec.hostUser']);

    const malformed = structuredClone(serviceMonitor);
    malformed.spec.endpoints[0]!.interval = 'fifteen seconds';
    expect(() => validateStrictly(malformed as unknown as Manifest)).toThrow(/interval/);
  });

  it(`puts every namespaced object in the ${NAMESPACE} namespace, which it creates`, () => {
    for (const manifest of manifests.filter((m) => !CLUSTER_SCOPED.includes(m.kind))) {
      expect(manifest.metadata.namespace, `${manifest.kind} ${manifest.metadata.name}`).toBe(NAMESPACE);
    }
    expect(only<INamespace>('Namespace').metadata?.name).toBe(NAMESPACE);
  });

  it('labels the namespace for the privileged Pod Security level, which host namespaces need', () => {
    const labels = only<INamespace>('Namespace').metadata?.labels;
    expect(labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
    expect(labels?.['pod-security.kubernetes.io/audit']).toBe('privileged');
    expect(labels?.['pod-security.kubernetes.io/warn']).toBe('privileged');
  });

  it("gives forkwatch its own service account, whose token is mounted in forkwatch's pods only", () => {
    const account = only<IServiceAccount>('ServiceAccount');
    expect(account.automountServiceAccountToken).toBe(false);
    expect(podSpec.serviceAccountName).toBe(account.metadata?.name);
    expect(podSpec.automountServiceAccountToken).toBe(true);
  });

  it('lets that service account get, list and watch pods, and nothing else', () => {
    const role = only<IClusterRole>('ClusterRole');
    const binding = only<IClusterRoleBinding>('ClusterRoleBinding');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    expect(role.aggregationRule).toBeUndefined();
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
    const account = only<IServiceAccount>('ServiceAccount');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata?.name, namespace: account.metadata?.namespace }]);
  });

  it('admits the priority class in the namespace with a quota that limits nothing', () => {
    const quota = only<IResourceQuota>('ResourceQuota');
    expect(podSpec.priorityClassName).toBe('system-node-critical');
    expect(quota.spec?.scopeSelector?.matchExpressions).toContainEqual({
      scopeName: 'PriorityClass',
      operator: 'In',
      values: [podSpec.priorityClassName],
    });
    expect(quota.spec?.hard).toBeUndefined();
  });

  it('uses the image tagged with forkwatch\'s version, which kustomization.yaml names', () => {
    expect(container.image).toBe(`forkwatch:${version}`);
    // newName is the repository the image is pushed to, the deployer's choice.
    expect(kustomization.images).toHaveLength(1);
    expect(kustomization.images?.[0]).toMatchObject({ name: 'forkwatch', newTag: version });
  });
});

describe('the DaemonSet', () => {
  it('selects its own pods', () => {
    expect(matchesLabels(daemonSet.spec?.selector.matchLabels, daemonSet.spec?.template.metadata?.labels)).toBe(true);
  });

  it('uses the host\'s PID namespace (hostPID)', () => {
    expect(podSpec.hostPID).toBe(true);
  });

  it('uses the host\'s network namespace (hostNetwork), resolving cluster names (ClusterFirstWithHostNet)', () => {
    expect(podSpec.hostNetwork).toBe(true);
    expect(podSpec.dnsPolicy).toBe('ClusterFirstWithHostNet');
  });

  it('uses the host\'s user namespace, explicitly (hostUsers)', () => {
    expect(podSpec.hostUsers).toBe(true);
  });

  it('drops every capability but NET_ADMIN', () => {
    expect(container.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN'] });
  });

  it('runs as root, the only user whose effective set gets NET_ADMIN, and unprivileged', () => {
    expect(container.securityContext?.runAsUser).toBe(0);
    expect(container.securityContext?.runAsNonRoot).toBe(false);
    expect(container.securityContext?.privileged).toBe(false);
  });

  it('has a read-only root file system', () => {
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
  });

  it('allows no privilege escalation', () => {
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  it('runs under the runtime\'s default seccomp profile', () => {
    expect(container.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it("mounts the host's /sys/fs/cgroup read-only where --path.cgroupfs points, and nothing else from the host", () => {
    expect(podSpec.volumes).toEqual([{ name: 'host-cgroup', hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } }]);
    expect(container.volumeMounts).toEqual([{ name: 'host-cgroup', mountPath: containerOptions().cgroupfsPath, readOnly: true }]);
  });

  it('watches its own node\'s pods: the node name comes from NODE_NAME, and the Kubernetes API is not turned off', () => {
    const options = containerOptions();
    expect(options.noKubernetes).toBe(false);
    expect(options.kubernetesKubeconfig).toBeUndefined(); // the service account, inside the cluster
    expect(container.args?.some((arg) => arg.startsWith('--kubernetes.node-name'))).toBe(false);
  });

  it('passes forkwatch a listen address it accepts, on the port named metrics', () => {
    const options = containerOptions();
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: options.listenPort, protocol: 'TCP' }]);
    expect(options.listenHost).toBe(''); // every interface: the kubelet and Prometheus use the node's address
  });

  it('probes liveness on /-/healthy and readiness on /-/ready, through the metrics port', () => {
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/-/healthy', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/-/ready', port: 'metrics' });
    expect(container.startupProbe?.httpGet).toEqual({ path: '/-/healthy', port: 'metrics' });
  });

  it('tolerates every taint, so it runs on every node', () => {
    expect(podSpec.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('sets NODE_NAME from the downward API', () => {
    expect(container.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });

  it('updates by rolling, a bounded number of nodes at a time, never two pods on a node', () => {
    const strategy = daemonSet.spec?.updateStrategy;
    expect(strategy?.type).toBe('RollingUpdate');
    expect(strategy?.rollingUpdate?.maxUnavailable).toBeDefined();
    expect(strategy?.rollingUpdate?.maxSurge).toBe(0);
  });

  it('sets cpu and memory requests and limits, each request within its limit', () => {
    const { requests, limits } = container.resources ?? {};
    for (const resource of ['cpu', 'memory']) {
      expect(requests?.[resource], `requests.${resource}`).toBeDefined();
      expect(limits?.[resource], `limits.${resource}`).toBeDefined();
      expect(quantity(requests?.[resource])).toBeLessThanOrEqual(quantity(limits?.[resource]));
    }
    // The bench's 93 MiB peak RSS plus the forced receive buffer's 64 MiB fit in the limit.
    expect(quantity(limits?.memory)).toBeGreaterThanOrEqual((93 + 64) * 2 ** 20);
  });

  it('gives forkwatch time to unsubscribe on SIGTERM (it exits within 5 s)', () => {
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5);
  });
});

describe('the Service and the ServiceMonitor', () => {
  it('the headless Service selects the DaemonSet\'s pods, on the metrics port, ready or not', () => {
    expect(service.spec?.clusterIP).toBe('None');
    expect(service.spec?.publishNotReadyAddresses).toBe(true);
    expect(matchesLabels(service.spec?.selector, daemonSet.spec?.template.metadata?.labels)).toBe(true);
    expect(service.spec?.ports).toEqual([{ name: 'metrics', port: containerOptions().listenPort, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  it('the ServiceMonitor selects the Service, in its namespace, and scrapes its metrics port every 15 s', () => {
    expect(matchesLabels(serviceMonitor.spec.selector.matchLabels, service.metadata?.labels)).toBe(true);
    expect(serviceMonitor.spec.namespaceSelector?.matchNames).toContain(service.metadata?.namespace);
    expect(serviceMonitor.spec.endpoints).toHaveLength(1);
    const endpoint = serviceMonitor.spec.endpoints[0]!;
    expect(endpoint.port).toBe('metrics');
    expect(endpoint.path).toBe(containerOptions().telemetryPath);
    expect(endpoint.interval).toBe('15s');
  });

  it("the ServiceMonitor drops the target's namespace, pod and container labels, which on forkwatch's series name the workload", () => {
    const drop = serviceMonitor.spec.endpoints[0]!.relabelings?.find((relabeling) => relabeling.action === 'labeldrop');
    const regex = new RegExp(`^(?:${drop?.regex})$`);
    for (const label of ['namespace', 'pod', 'container']) expect(regex.test(label), label).toBe(true);
    for (const label of ['job', 'instance', 'node', 'service', 'endpoint']) expect(regex.test(label), label).toBe(false);
  });

  it('the ServiceMonitor labels each target with its node', () => {
    expect(serviceMonitor.spec.endpoints[0]!.relabelings).toContainEqual({
      action: 'replace',
      sourceLabels: ['__meta_kubernetes_pod_node_name'],
      targetLabel: 'node',
    });
  });

  it('the scrape job (the Service\'s name) is one the alert rules recognise', () => {
    const jobPattern = /up\{job=~"([^"]+)"\}/.exec(readText(RULES_FILE))?.[1];
    expect(jobPattern, `an up{job=~"..."} selector in ${RULES_FILE}`).toBeDefined();
    expect(new RegExp(`^(?:${jobPattern})$`).test(service.metadata!.name!)).toBe(true);
  });
});

describe('the PrometheusRule', () => {
  it(`is generated from ${RULES_FILE} and up to date (else run: ${GENERATE_COMMAND})`, () => {
    expect(readText(PROMETHEUS_RULE_FILE) === renderPrometheusRule(readText(RULES_FILE)), `${PROMETHEUS_RULE_FILE} differs from what ${RULES_FILE} generates; run: ${GENERATE_COMMAND}`).toBe(true);
  });

  it(`has exactly the groups of ${RULES_FILE}`, () => {
    const rules = parse(readText(RULES_FILE)) as { groups: unknown[] };
    expect(prometheusRule.spec.groups).toEqual(rules.groups);
  });
});

describe.skipIf(kubectlMissing)(kubectlMissing ? 'kubectl kustomize (skipped: kubectl is not installed)' : 'kubectl kustomize', () => {
  it(`renders ${BASE} into the same objects, each valid, with the image kustomization.yaml names`, () => {
    const rendered = parseManifests(kubectl(['kustomize', BASE]), `kubectl kustomize ${BASE}`);
    const names = (list: Manifest[]) => list.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`).sort();
    expect(names(rendered)).toEqual(names(manifests));
    for (const manifest of rendered) expect(validateStrictly(manifest), manifest.kind).toEqual([]);
    const image = kustomization.images?.[0];
    const renderedDaemonSet = rendered.find((m) => m.kind === 'DaemonSet') as unknown as IDaemonSet;
    expect(renderedDaemonSet.spec?.template.spec?.containers[0]?.image).toBe(`${image?.newName}:${image?.newTag}`);
  });
});
