// Whether forkwatch asks the Kubernetes API, from its flags and where it runs: never with
// --no-kubernetes, nor outside a pod without a kubeconfig (one info line each); through a
// kubeconfig, which must be good; in a pod, through its service account.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Options } from '../../src/cli/flags.js';
import { KubernetesFlagError, podWatch } from '../../src/cli/kubernetes.js';
import { createLogger } from '../../src/log.js';
import { PodCache } from '../../src/workloads/kubernetes.js';
import { defaultOptions } from '../helpers/exporter.js';
import { FakeApiServer } from '../helpers/fake-apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'forkwatch-cli-kube-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
});

function decide(overrides: Partial<Options>, inPod = false) {
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger('debug', 'json', (line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
  const options = { ...defaultOptions(), kubernetesNodeName: undefined, ...overrides };
  // The kubelet sets these in every pod.
  vi.stubEnv('KUBERNETES_SERVICE_HOST', inPod ? '10.96.0.1' : '');
  vi.stubEnv('KUBERNETES_SERVICE_PORT', inPod ? '443' : '');
  return { watch: podWatch(options, logger, join(dir, 'no-service-account')), lines };
}

describe('podWatch', () => {
  it('asks nothing with --no-kubernetes, and says so once', async () => {
    const { watch, lines } = decide({ noKubernetes: true, kubernetesKubeconfig: join(dir, 'ignored.yaml') }, true);
    expect(await watch).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: expect.stringMatching(/--no-kubernetes.*named by uid/) })]);
  });

  it('asks nothing outside a pod without a kubeconfig, and says so once', async () => {
    const { watch, lines } = decide({});
    expect(await watch).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: expect.stringMatching(/not in a Kubernetes pod.*named by uid/) })]);
  });

  it('in a pod without a service account token, warns once and names pods by uid', async () => {
    const { watch, lines } = decide({ kubernetesNodeName: 'node-a' }, true);
    expect(await watch).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/named by uid: no service account token .*automountServiceAccountToken/) })]);
  });

  it('refuses a kubeconfig it cannot read, in one line naming the flag', async () => {
    const missing = join(dir, 'missing.yaml');
    await expect(decide({ kubernetesKubeconfig: missing, kubernetesNodeName: 'node-a' }).watch).rejects.toThrow(KubernetesFlagError);
    await expect(decide({ kubernetesKubeconfig: missing, kubernetesNodeName: 'node-a' }).watch).rejects.toThrow(
      new RegExp(`^--kubernetes\\.kubeconfig: cannot load the kubeconfig ${missing.replaceAll('.', '\\.')} .*--no-kubernetes$`),
    );
  });

  it('refuses to watch without a node name', async () => {
    const server = new FakeApiServer('token');
    const kubeconfig = join(dir, 'good.yaml');
    writeFileSync(kubeconfig, server.kubeconfig());
    await expect(decide({ kubernetesKubeconfig: kubeconfig }).watch).rejects.toThrow(/^no node name to watch the pods of: set NODE_NAME .*--kubernetes\.node-name.*--no-kubernetes$/);
  });

  it('watches the pods of the node through a good kubeconfig (started by the exporter)', async () => {
    const server = new FakeApiServer('token');
    const kubeconfig = join(dir, 'good.yaml');
    writeFileSync(kubeconfig, server.kubeconfig());
    const { watch } = decide({ kubernetesKubeconfig: kubeconfig, kubernetesNodeName: 'node-a' });
    const cache = await watch;
    expect(cache).toBeInstanceOf(PodCache);
    expect(cache?.synced).toBe(false);
    expect(server.requests).toEqual([]);
    cache?.stop();
  });
});
