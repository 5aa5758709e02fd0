// The pod cache, with the real @kubernetes/client-node against a stand-in API server on
// 127.0.0.1 (test/helpers/fake-apiserver.ts): listing and watching this node's pods, the
// names it gives, and what it does when the watch breaks, resumes, or must relist.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log.js';
import { loadKubeConfig, PodCache } from '../../src/workloads/kubernetes.js';
import { FakeApiServer, makePod, type ApiPod } from '../helpers/fake-apiserver.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.test-service-account-token';
const NODE = 'node-a';
const FAST = { initialMs: 50, maxMs: 200 };

const uid = (n: number): string => `0f2b7a3e-6c1d-4e8a-9b5f-${String(n).padStart(12, '0')}`;
const hex = (c: string): string => c.repeat(64);

const web = (podUid = uid(1)): ApiPod =>
  makePod({
    name: 'web-6c9f7b8d5-x2k4q',
    namespace: 'shop',
    uid: podUid,
    node: NODE,
    containers: { nginx: `containerd://${hex('a')}`, 'log-shipper': `containerd://${hex('b')}` },
    initContainers: { 'init-config': `containerd://${hex('c')}` },
    ephemeralContainers: { 'debugger-7xk2p': `containerd://${hex('d')}` },
  });
const elsewhere = makePod({ name: 'db-0', namespace: 'shop', uid: uid(2), node: 'node-b', containers: { postgres: `containerd://${hex('e')}` } });
const crio = makePod({ name: 'api-1', namespace: 'payments', uid: uid(3), node: NODE, containers: { api: `cri-o://${hex('f')}` } });
const docker = makePod({ name: 'legacy', namespace: 'default', uid: uid(4), node: NODE, containers: { app: `docker://${hex('1')}` } });

let dir: string;
let server: FakeApiServer;
let cache: PodCache | undefined;
let logLines: Record<string, unknown>[];

/** The service account's files as kubelet mounts them, under a fake root. */
function serviceAccountRoot(): string {
  const root = join(dir, 'sa-root');
  const files = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'ca.crt'), server.certificate);
  writeFileSync(join(files, 'token'), TOKEN);
  writeFileSync(join(files, 'namespace'), 'monitoring');
  return root;
}

function inClusterCache(backoff = FAST, requestTimeoutMs?: number): PodCache {
  vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
  vi.stubEnv('KUBERNETES_SERVICE_PORT', String(server.port));
  const log = createLogger('debug', 'json', (line) => logLines.push(JSON.parse(line) as Record<string, unknown>));
  cache = new PodCache({ nodeName: NODE, kubeConfig: loadKubeConfig(undefined, serviceAccountRoot()), log, backoff, requestTimeoutMs });
  return cache;
}

const waitFor = (check: () => void, timeout = 10_000): Promise<void> => vi.waitFor(check, { timeout, interval: 20 });
const logged = (level: string): Record<string, unknown>[] => logLines.filter((line) => line.level === level);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forkwatch-kube-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  logLines = [];
  server = new FakeApiServer(TOKEN);
  server.addPod(web());
  server.addPod(elsewhere);
  server.addPod(crio);
  server.addPod(docker);
  await server.listen();
});

afterEach(async () => {
  cache?.stop();
  cache = undefined;
  await server.close();
  vi.unstubAllEnvs();
});

describe('PodCache in a cluster (service account, HTTPS)', () => {
  it('lists and watches only this node\'s pods, with the token, and names pods and containers', async () => {
    const pods = inClusterCache();
    expect(pods.synced).toBe(false);
    expect(pods.names(uid(1))).toBeUndefined(); // before start: a map read, never a wait
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));

    expect(pods.names(uid(1))).toEqual({ namespace: 'shop', name: 'web-6c9f7b8d5-x2k4q' });
    expect(pods.names(uid(3))).toEqual({ namespace: 'payments', name: 'api-1' });
    expect(pods.names(uid(2))).toBeUndefined(); // on node-b
    expect(pods.containerName(uid(1), hex('a'))).toBe('nginx');
    expect(pods.containerName(uid(1), hex('b'))).toBe('log-shipper');
    expect(pods.containerName(uid(1), hex('c'))).toBe('init-config');
    expect(pods.containerName(uid(1), hex('d'))).toBe('debugger-7xk2p');
    expect(pods.containerName(uid(3), hex('f'))).toBe('api'); // cri-o://
    expect(pods.containerName(uid(4), hex('1'))).toBe('app'); // docker://
    expect(pods.containerName(uid(1), hex('f'))).toBeUndefined(); // another pod's container
    expect(pods.containerName(uid(1), hex('A'))).toBe('nginx'); // ids compare in lower case

    const list = server.requests.filter((r) => !r.watch);
    const watch = server.requests.filter((r) => r.watch);
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(watch.length).toBeGreaterThanOrEqual(1);
    for (const request of [...list, ...watch]) {
      expect(request.path).toBe('/api/v1/pods');
      expect(request.query.get('fieldSelector')).toBe(`spec.nodeName=${NODE}`);
      expect(request.authorization).toBe(`Bearer ${TOKEN}`);
    }
    expect(watch[0]!.query.get('resourceVersion')).toBe('104'); // resumes from the list's version
    expect(logged('warn')).toEqual([]);
  });

  it('follows changes: a container starting, a pod deleted, a pod re-created under the same name', async () => {
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));

    const restarted = makePod({ name: 'api-1', namespace: 'payments', uid: uid(3), node: NODE, containers: { api: `cri-o://${hex('9')}`, sidecar: `cri-o://${hex('8')}` } });
    server.updatePod(restarted);
    await waitFor(() => expect(pods.containerName(uid(3), hex('8'))).toBe('sidecar'));
    expect(pods.containerName(uid(3), hex('9'))).toBe('api');
    expect(pods.containerName(uid(3), hex('f'))).toBeUndefined(); // the old container's id is gone

    server.deletePod('shop', 'web-6c9f7b8d5-x2k4q');
    await waitFor(() => expect(pods.names(uid(1))).toBeUndefined());

    server.addPod(web(uid(11)));
    await waitFor(() => expect(pods.names(uid(11))).toEqual({ namespace: 'shop', name: 'web-6c9f7b8d5-x2k4q' }));
    expect(pods.names(uid(1))).toBeUndefined();
    expect(pods.synced).toBe(true);
  });

  it('names a static pod by the uid kubelet gave it (its mirror pod\'s config.mirror annotation)', async () => {
    const staticUid = '6d1b3c0f9a8e7d6c5b4a39281706f5e4';
    server.addPod(
      makePod({
        name: `kube-apiserver-${NODE}`,
        namespace: 'kube-system',
        uid: uid(20),
        node: NODE,
        containers: { 'kube-apiserver': `containerd://${hex('7')}` },
        annotations: { 'kubernetes.io/config.mirror': staticUid, 'kubernetes.io/config.hash': staticUid },
      }),
    );
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(pods.names(staticUid)).toEqual({ namespace: 'kube-system', name: `kube-apiserver-${NODE}` });
    expect(pods.containerName(staticUid, hex('7'))).toBe('kube-apiserver');
    server.deletePod('kube-system', `kube-apiserver-${NODE}`);
    await waitFor(() => expect(pods.names(staticUid)).toBeUndefined());
  });

  it('keeps a static pod\'s uid for the first pod that claims it, and skips malformed statuses', async () => {
    const staticUid = '6d1b3c0f9a8e7d6c5b4a39281706f5e4';
    const mirror = (name: string, n: number, id: string): ApiPod =>
      makePod({ name, namespace: 'kube-system', uid: uid(n), node: NODE, containers: { main: `containerd://${hex(id)}` }, annotations: { 'kubernetes.io/config.mirror': staticUid } });
    server.addPod(mirror('etcd-node-a', 21, '5'));
    const odd = makePod({ name: 'odd', namespace: 'default', uid: uid(22), node: NODE, containers: {} });
    (odd.status as Record<string, unknown>).containerStatuses = [null, 7, { name: 5, containerID: 'x' }, { name: 'fine', containerID: `containerd://${hex('6')}` }];
    (odd.status as Record<string, unknown>).initContainerStatuses = 'not a list';
    server.addPod(odd);
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));
    server.addPod(mirror('impostor', 23, '4'));
    await waitFor(() => expect(pods.names(uid(23))).toBeDefined());
    expect(pods.names(staticUid)).toEqual({ namespace: 'kube-system', name: 'etcd-node-a' });
    expect(pods.containerName(uid(22), hex('6'))).toBe('fine');
    expect(pods.names(uid(1))).toBeDefined(); // the list as a whole was taken
  });

  it('relists when the server can no longer resume the watch (410 Gone), without calling it a failure', async () => {
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(server.openWatches).toBe(1));
    const listsBefore = server.requests.filter((r) => !r.watch).length;

    // In one tick, so that the client cannot watch again in between: the watch ends, the pod
    // is deleted and re-created, and the history that would have told it so is compacted.
    server.endWatches();
    server.deletePod('shop', 'web-6c9f7b8d5-x2k4q');
    server.addPod(web(uid(12)));
    server.compact();

    await waitFor(() => expect(pods.names(uid(12))).toBeDefined());
    expect(pods.names(uid(1))).toBeUndefined();
    expect(server.requests.some((r) => r.watch && r.expired)).toBe(true);
    expect(server.requests.filter((r) => !r.watch).length).toBe(listsBefore + 1);
    await waitFor(() => expect(server.openWatches).toBe(1));
    // The server counts the watch when it is asked; the client, when the answer's headers arrive.
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(logged('warn')).toEqual([]);
  });

  it('survives the server going away and coming back: one line when it breaks, one when it recovers', async () => {
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));

    await server.goAway();
    await waitFor(() => expect(pods.synced).toBe(false));
    // While it is away the names already known stay (a uid never changes its pod's name) and
    // the pod is deleted and re-created; its history is compacted.
    expect(pods.names(uid(1))).toEqual({ namespace: 'shop', name: 'web-6c9f7b8d5-x2k4q' });
    server.deletePod('shop', 'web-6c9f7b8d5-x2k4q');
    server.addPod(web(uid(13)));
    server.compact();
    // Several attempts fail meanwhile (50 ms doubling to 200 ms): still one line.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(pods.synced).toBe(false);
    expect(logged('warn')).toHaveLength(1);
    expect(logged('warn')[0]).toMatchObject({ node: NODE });
    expect(String(logged('warn')[0]!.error)).not.toBe('');

    await server.listen();
    await waitFor(() => expect(pods.synced).toBe(true));
    await waitFor(() => expect(pods.names(uid(13))).toEqual({ namespace: 'shop', name: 'web-6c9f7b8d5-x2k4q' }));
    expect(pods.names(uid(1))).toBeUndefined();
    expect(logged('warn')).toHaveLength(1);
    expect(logged('info').filter((line) => String(line.msg).includes('recovered'))).toHaveLength(1);

    // A second outage is reported again, once.
    await server.goAway();
    await waitFor(() => expect(logged('warn')).toHaveLength(2));
    await server.listen();
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(logged('info').filter((line) => String(line.msg).includes('recovered'))).toHaveLength(2);
  });

  it('retries with a wait that doubles up to the maximum', async () => {
    server.refuse(true);
    const pods = inClusterCache({ initialMs: 50, maxMs: 100 });
    pods.start();
    await waitFor(() => expect(server.refusedAt.length).toBeGreaterThanOrEqual(7));
    const gaps = server.refusedAt.slice(1, 7).map((at, i) => at - server.refusedAt[i]!);
    // Waits of 50, 100, 100, … ms, each less a fifth at most (timers never fire early).
    [50, 100, 100, 100, 100, 100].forEach((wait, i) => expect(gaps[i]).toBeGreaterThanOrEqual(wait * 0.8 - 2));
    // Doubling without a cap would wait 400 + 800 + 1600 ms for the last three.
    expect(gaps[3]! + gaps[4]! + gaps[5]!).toBeLessThan(1500);
    expect(logged('warn')).toHaveLength(1);
    expect(pods.synced).toBe(false);

    server.refuse(false);
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(pods.names(uid(1))).toBeDefined();
  });

  it('gives up on a server that accepts requests and never answers, and says so once', async () => {
    const pods = inClusterCache(FAST, 300);
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));

    server.stall(true);
    server.endWatches(); // the client watches again, and gets no answer
    await waitFor(() => expect(logged('warn')).toHaveLength(1));
    expect(pods.synced).toBe(false);
    expect(String(logged('warn')[0]!.error)).toMatch(/timeout/);
    const stalled = server.requests.length;
    await waitFor(() => expect(server.requests.length).toBeGreaterThan(stalled + 1)); // it tried again, and again

    server.stall(false);
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(logged('warn')).toHaveLength(1);
  });

  it('gives up on a list that never comes', async () => {
    server.stall(true);
    const pods = inClusterCache(FAST, 300);
    pods.start();
    await waitFor(() => expect(logged('warn')).toHaveLength(1));
    expect(String(logged('warn')[0]!.error)).toMatch(/listing pods within 300 ms/);
    server.stall(false);
    await waitFor(() => expect(pods.synced).toBe(true));
    expect(pods.names(uid(1))).toBeDefined();
  });

  it('stops: no more requests, no retries, not synced', async () => {
    const pods = inClusterCache();
    pods.start();
    await waitFor(() => expect(pods.synced).toBe(true));
    pods.stop();
    expect(pods.synced).toBe(false);
    const requests = server.requests.length;
    await waitFor(() => expect(server.openWatches).toBe(0));
    server.endWatches();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.requests.length).toBe(requests);
    expect(logged('warn')).toEqual([]);
  });
});

describe('PodCache from a kubeconfig (outside a cluster)', () => {
  it('lists and watches with the kubeconfig\'s cluster, CA and token', async () => {
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfig, server.kubeconfig());
    const log = createLogger('debug', 'json', () => undefined);
    cache = new PodCache({ nodeName: NODE, kubeConfig: loadKubeConfig(kubeconfig), log, backoff: FAST });
    cache.start();
    await waitFor(() => expect(cache!.synced).toBe(true));
    expect(cache.names(uid(1))).toEqual({ namespace: 'shop', name: 'web-6c9f7b8d5-x2k4q' });
  });

  it('says what to change when there is no way to reach the API server', () => {
    expect(() => loadKubeConfig(join(dir, 'missing.yaml'))).toThrow(/cannot load the kubeconfig .*missing\.yaml.*--kubernetes\.kubeconfig.*--no-kubernetes/);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    expect(() => loadKubeConfig(undefined)).toThrow(/not inside a Kubernetes pod.*--kubernetes\.kubeconfig, or --no-kubernetes/);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    expect(() => loadKubeConfig(undefined, join(dir, 'nowhere'))).toThrow(/no service account token at .*nowhere.*automountServiceAccountToken/);
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
    expect(() => loadKubeConfig(empty)).toThrow(/no current context/);
  });

  it('refuses a node name that cannot be in a field selector', () => {
    const log = createLogger('error', 'json', () => undefined);
    const kubeConfig = loadKubeConfig(undefined, serviceAccountRootFor());
    for (const nodeName of ['', 'Node_A', 'a,spec.nodeName!=b', 'x'.repeat(254)]) {
      expect(() => new PodCache({ nodeName, kubeConfig, log })).toThrow(/--kubernetes\.node-name/);
    }
  });
});

function serviceAccountRootFor(): string {
  vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
  vi.stubEnv('KUBERNETES_SERVICE_PORT', String(server.port));
  return serviceAccountRoot();
}
