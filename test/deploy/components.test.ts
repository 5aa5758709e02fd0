// The kustomize components in deploy/kubernetes/components/: each renders with the base into
// objects that validate against their schemas, and wires what it changes correctly.
// web-config: TLS and basic auth from forkwatch's own web config (its probes run against a
// real forkwatch in test/e2e/web-config-https.test.ts). kube-rbac-proxy: the locked-down
// deployment, as kube-prometheus deploys node_exporter.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IClusterRole, IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IContainer, IProbe, IService } from 'kubernetes-models/v1';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseFlags } from '../../src/cli/flags.js';
import { packageRoot, version } from '../../src/package.js';
import { BASE, COMPONENTS, find, kubectl, kubectlMissing, type Manifest, parseManifests, readText, renderWithComponent, validateStrictly } from './manifests.js';

const PROBES = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const;

function daemonSetParts(manifests: Manifest[]) {
  const daemonSet = find<IDaemonSet>(manifests, 'DaemonSet');
  const pod = daemonSet.spec!.template.spec!;
  const container = (name: string): IContainer => {
    const found = pod.containers.find((c) => c.name === name);
    if (!found) throw new Error(`no container ${name}`);
    return found;
  };
  return { daemonSet, pod, forkwatch: container('forkwatch'), container };
}

function forkwatchOptions(container: IContainer) {
  const parsed = parseFlags(container.args ?? [], version);
  if (parsed.kind !== 'run') throw new Error(`forkwatch refuses the container's args: ${JSON.stringify(parsed)}`);
  return parsed.options;
}

/** The value of `--name=value` among a container's args. */
function flag(container: IContainer, name: string): string | undefined {
  const prefix = `--${name}=`;
  return container.args?.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

const endpointOf = (manifests: Manifest[]) => find<IServiceMonitor>(manifests, 'ServiceMonitor').spec.endpoints[0]!;

const components = readdirSync(join(packageRoot, COMPONENTS)).sort();

describe.each(components)(`${COMPONENTS}/%s`, (component) => {
  const dir = `${COMPONENTS}/${component}`;
  const kustomization = parse(readText(`${dir}/kustomization.yaml`)) as {
    kind: string;
    resources?: string[];
    patches?: { path: string }[];
  };

  it('is a kustomize Component that uses every file in its folder', () => {
    expect(kustomization.kind).toBe('Component');
    const used = [...(kustomization.resources ?? []), ...(kustomization.patches ?? []).map((patch) => patch.path), 'kustomization.yaml'];
    expect(used.sort()).toEqual(readdirSync(join(packageRoot, dir)).sort());
  });

  it.skipIf(kubectlMissing)(`renders with the base into the base's objects and its own, each valid${kubectlMissing ? ' (skipped: kubectl is not installed)' : ''}`, () => {
    const rendered = renderWithComponent(component);
    const base = parseManifests(kubectl(['kustomize', BASE]), BASE);
    const own = (kustomization.resources ?? []).flatMap((file) => parseManifests(readText(`${dir}/${file}`), file));
    const names = (list: Manifest[]) => list.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`).sort();
    expect(names(rendered)).toEqual(names([...base, ...own]));
    for (const manifest of rendered) expect(validateStrictly(manifest), `${manifest.kind} ${manifest.metadata.name}`).toEqual([]);
  });
});

describe.skipIf(kubectlMissing)(`deploy/overlays/kube-rbac-proxy${kubectlMissing ? ' (skipped: kubectl is not installed)' : ''}`, () => {
  it('renders exactly as the base with components/kube-rbac-proxy', () => {
    const shipped = parseManifests(kubectl(['kustomize', 'deploy/overlays/kube-rbac-proxy']), 'deploy/overlays/kube-rbac-proxy');
    expect(shipped).toEqual(renderWithComponent('kube-rbac-proxy'));
  });
});

describe.skipIf(kubectlMissing)(`${COMPONENTS}/web-config${kubectlMissing ? ' (skipped: kubectl is not installed)' : ''}`, () => {
  const rendered = kubectlMissing ? [] : renderWithComponent('web-config');
  const base = kubectlMissing ? [] : parseManifests(kubectl(['kustomize', BASE]), BASE);

  it('gives forkwatch the web config from the Secret forkwatch-web-config, read-only and readable by root alone', () => {
    const { pod, forkwatch } = daemonSetParts(rendered);
    const file = forkwatchOptions(forkwatch).webConfigFile;
    expect(file).toBeDefined();
    const mount = forkwatch.volumeMounts?.find((m) => file!.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.secret).toEqual({ secretName: 'forkwatch-web-config', defaultMode: 0o400 });
  });

  it('changes nothing else about forkwatch: same listen address, privileges and resources', () => {
    const before = daemonSetParts(base).forkwatch;
    const after = daemonSetParts(rendered).forkwatch;
    const { webConfigFile: _, ...options } = forkwatchOptions(after);
    expect(options).toEqual(forkwatchOptions(before));
    expect(after.securityContext).toEqual(before.securityContext);
    expect(after.resources).toEqual(before.resources);
    expect(after.ports).toEqual(before.ports);
  });

  it('probes over HTTPS, on the same port and paths', () => {
    const before = daemonSetParts(base).forkwatch;
    const after = daemonSetParts(rendered).forkwatch;
    for (const probe of PROBES) {
      expect(after[probe]?.httpGet, probe).toEqual({ ...before[probe]?.httpGet, scheme: 'HTTPS' });
    }
  });

  it('has Prometheus scrape over HTTPS, verifying the certificate by name, with basic auth from forkwatch-scrape-credentials', () => {
    const endpoint = endpointOf(rendered);
    expect(endpoint.scheme).toBe('https');
    expect(endpoint.tlsConfig).toEqual({ ca: { secret: { name: 'forkwatch-web-config', key: 'tls.crt' } }, serverName: 'forkwatch.forkwatch.svc' });
    expect(endpoint.tlsConfig?.insecureSkipVerify).toBeUndefined();
    expect(endpoint.basicAuth).toEqual({
      username: { name: 'forkwatch-scrape-credentials', key: 'username' },
      password: { name: 'forkwatch-scrape-credentials', key: 'password' },
    });
    const { scheme: _s, tlsConfig: _t, basicAuth: _b, ...rest } = endpoint;
    expect(rest).toEqual(endpointOf(base));
  });
});

describe.skipIf(kubectlMissing)(`${COMPONENTS}/kube-rbac-proxy${kubectlMissing ? ' (skipped: kubectl is not installed)' : ''}`, () => {
  const rendered = kubectlMissing ? [] : renderWithComponent('kube-rbac-proxy');
  const base = kubectlMissing ? [] : parseManifests(kubectl(['kustomize', BASE]), BASE);
  const parts = () => {
    const { pod, forkwatch, container } = daemonSetParts(rendered);
    return { pod, forkwatch, proxy: container('kube-rbac-proxy') };
  };

  it('has forkwatch listen on the node\'s loopback only, declaring no port', () => {
    const { forkwatch } = parts();
    const options = forkwatchOptions(forkwatch);
    expect(options.listenHost).toBe('127.0.0.1');
    expect(options.listenPort).toBe(forkwatchOptions(daemonSetParts(base).forkwatch).listenPort);
    expect(forkwatch.ports).toBeUndefined();
  });

  it('has kube-rbac-proxy serve the node\'s address on that port, named metrics as the Service expects, proxying to forkwatch', () => {
    const { forkwatch, proxy } = parts();
    const { listenPort } = forkwatchOptions(forkwatch);
    expect(flag(proxy, 'upstream')).toBe(`http://127.0.0.1:${listenPort}/`);
    expect(flag(proxy, 'secure-listen-address')).toBe(`[$(IP)]:${listenPort}`);
    expect(proxy.env).toContainEqual({ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
    expect(proxy.ports).toEqual([{ name: 'metrics', containerPort: listenPort, protocol: 'TCP' }]);
    const service = find<IService>(rendered, 'Service');
    expect(service.spec?.ports?.[0]?.targetPort).toBe('metrics');
  });

  it('runs a pinned kube-rbac-proxy release', () => {
    expect(parts().proxy.image).toMatch(/^quay\.io\/brancz\/kube-rbac-proxy:v\d+\.\d+\.\d+$/);
  });

  it('probes forkwatch through the proxy over HTTPS, on paths the proxy lets through without a token', () => {
    const { forkwatch, proxy } = parts();
    const ignored = flag(proxy, 'ignore-paths')?.split(',') ?? [];
    const before = daemonSetParts(base).forkwatch;
    for (const probe of PROBES) {
      const httpGet = (forkwatch[probe] as IProbe).httpGet!;
      expect(httpGet, probe).toEqual({ path: before[probe]?.httpGet?.path, port: proxy.ports![0]!.containerPort, scheme: 'HTTPS' });
      expect(ignored, probe).toContain(httpGet.path);
    }
    // The page itself is never among them.
    expect(ignored).not.toContain(endpointOf(rendered).path);
  });

  it('runs the proxy unprivileged: non-root, no capability, no escalation, read-only root, default seccomp', () => {
    expect(parts().proxy.securityContext).toEqual({
      runAsUser: 65532,
      runAsGroup: 65532,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it("gives the proxy the pod's service-account token, which forkwatch reads pods with too", () => {
    const { pod, proxy } = parts();
    expect(pod.automountServiceAccountToken).toBe(true);
    // The kubelet mounts an automounted token into every container: no volume of its own.
    expect(proxy.volumeMounts).toBeUndefined();
  });

  it('lets forkwatch\'s service account create TokenReviews and SubjectAccessReviews, and nothing else', () => {
    const { pod } = parts();
    const role = find<IClusterRole>(rendered, 'ClusterRole', 'forkwatch-kube-rbac-proxy');
    expect(role.rules).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    const binding = find<IClusterRoleBinding>(rendered, 'ClusterRoleBinding', 'forkwatch-kube-rbac-proxy');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
    const daemonSet = find<IDaemonSet>(rendered, 'DaemonSet');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: daemonSet.metadata?.namespace }]);
  });

  it('lets Prometheus GET the metrics path, and binds that to a service account', () => {
    const role = find<IClusterRole>(rendered, 'ClusterRole', 'forkwatch-metrics-reader');
    expect(role.rules).toEqual([{ nonResourceURLs: [endpointOf(rendered).path], verbs: ['get'] }]);
    const binding = find<IClusterRoleBinding>(rendered, 'ClusterRoleBinding', 'forkwatch-metrics-reader');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
    expect(binding.subjects).toHaveLength(1);
    expect(binding.subjects?.[0]?.kind).toBe('ServiceAccount');
  });

  it('has Prometheus scrape over HTTPS with its service account\'s token', () => {
    const endpoint = endpointOf(rendered);
    expect(endpoint.scheme).toBe('https');
    expect(endpoint.bearerTokenFile).toBe('/var/run/secrets/kubernetes.io/serviceaccount/token');
    expect(endpoint.tlsConfig).toEqual({ insecureSkipVerify: true });
    const { scheme: _s, bearerTokenFile: _b, tlsConfig: _t, ...rest } = endpoint;
    expect(rest).toEqual(endpointOf(base));
  });
});
