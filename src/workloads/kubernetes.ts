// A cache of this node's pods, so that a pod uid and a container id found in a cgroup path
// can be named without ever waiting for the API server: lookups are map reads, and the
// cache is kept current by an informer (list, then watch) of the pods whose spec.nodeName is
// this node.
//
// @kubernetes/client-node 1.4.0 (2.x does not load on Node 20). Its makeInformer() accepts a
// label selector but passes no field selector on to the watch, so this builds the ListWatch
// that makeInformer returns itself, with the field selector, and a Watch that reports when a
// watch stream is open. The ListWatch relists by itself after "410 Gone" (a resourceVersion
// too old to resume from), but stops on any other error: this restarts it with backoff.
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Pod } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { Logger } from '../log.js';
import { isNodeName, type PodNames } from './labels.js';

/** The annotation by which a static pod's mirror carries the uid kubelet gave the static pod. */
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
const STATIC_POD_UID = /^[0-9a-f]{32}$/;
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface Backoff {
  /** First wait after the watch breaks. */
  initialMs: number;
  /** Longest wait between attempts; each failed attempt doubles the wait up to this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };

/**
 * Longest wait for the API server to answer a list, or to start answering a watch. The
 * client sets no limit of its own (1.4.0 builds a timeout signal for the watch and then
 * replaces it), so a server that accepts and never answers would hold the cache forever.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface PodCacheOptions {
  /** The node whose pods are cached (--kubernetes.node-name). */
  nodeName: string;
  kubeConfig: KubeConfig;
  log: Logger;
  backoff?: Backoff;
  requestTimeoutMs?: number;
}

/**
 * How to reach the API server: the kubeconfig file if given (--kubernetes.kubeconfig), else
 * the pod's service account. Throws one line that says what to change when neither works.
 * `serviceAccountRoot` prefixes the service account's files (tests use a fake tree).
 */
export function loadKubeConfig(kubeconfigPath: string | undefined, serviceAccountRoot = ''): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfigPath !== undefined) {
    try {
      config.loadFromFile(kubeconfigPath);
    } catch (error) {
      throw new Error(`cannot load the kubeconfig ${kubeconfigPath} (${(error as Error).message}): give a readable kubeconfig with --kubernetes.kubeconfig, or --no-kubernetes`, { cause: error });
    }
    if (config.getCurrentCluster() === null) {
      throw new Error(`the kubeconfig ${kubeconfigPath} has no current context with a cluster: set current-context in it, or --no-kubernetes`);
    }
    return config;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    throw new Error('not inside a Kubernetes pod (KUBERNETES_SERVICE_HOST and _PORT are unset): give --kubernetes.kubeconfig, or --no-kubernetes');
  }
  const token = `${serviceAccountRoot}${SERVICE_ACCOUNT_DIR}/token`;
  if (!existsSync(token)) {
    throw new Error(`no service account token at ${token}: mount the pod's service account (automountServiceAccountToken: true), or --no-kubernetes`);
  }
  config.loadFromCluster(serviceAccountRoot);
  return config;
}

interface PodEntry {
  namespace: string;
  name: string;
  /** Container id (without the runtime's "containerd://" prefix) -> container name. */
  containers: Map<string, string>;
}

/**
 * A Watch that says when a watch request starts and when its stream is open (the server
 * answered 200): between the two the cache is not in sync. It gives up on a server that does
 * not answer within `timeoutMs` (node-fetch's `timeout` covers the wait for the response's head).
 */
class ReportingWatch extends Watch {
  constructor(
    config: KubeConfig,
    timeoutMs: number,
    private readonly onRequest: () => void,
    private readonly onOpen: () => void,
  ) {
    const withTimeout = Object.create(config) as KubeConfig;
    withTimeout.applyToFetchOptions = async (options) => ({ ...(await config.applyToFetchOptions(options)), timeout: timeoutMs });
    super(withTimeout);
  }

  override async watch(...[path, queryParams, callback, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    this.onRequest();
    let ended = false;
    const controller = await super.watch(path, queryParams, callback, (err: unknown) => {
      ended = true;
      done(err);
    });
    if (!ended) this.onOpen();
    return controller;
  }
}

/** This node's pods by uid, from a list-and-watch of the API server. */
export class PodCache implements PodNames {
  private readonly pods = new Map<string, PodEntry>();
  /** namespace/name -> the uids it is indexed under (a re-created pod keeps its name, not its uid). */
  private readonly uidsByName = new Map<string, string[]>();
  private readonly informer: ListWatch<V1Pod>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly nodeName: string;
  private isSynced = false;
  private started = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  /** When the watch broke, while it stays broken (one log line when it breaks, one when it recovers). */
  private brokenSince: number | undefined;

  constructor(options: PodCacheOptions) {
    if (!isNodeName(options.nodeName)) {
      throw new Error(`the node name ${JSON.stringify(options.nodeName)} is not a Kubernetes node name: set --kubernetes.node-name (or NODE_NAME from spec.nodeName)`);
    }
    this.nodeName = options.nodeName;
    this.log = options.log;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    const api = options.kubeConfig.makeApiClient(CoreV1Api);
    const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const list = async () => {
      const pods = await withTimeout(api.listPodForAllNamespaces({ fieldSelector }), timeoutMs, 'listing pods');
      // The ListWatch would go on to watch even if stop() came during the list.
      if (this.stopped) throw new Error('the pod cache was stopped');
      return pods;
    };
    const watch = new ReportingWatch(
      options.kubeConfig,
      timeoutMs,
      () => (this.isSynced = false),
      () => this.onWatchOpen(),
    );
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', watch, list, false, undefined, fieldSelector);
    this.informer.on('add', (pod) => this.upsert(pod));
    this.informer.on('update', (pod) => this.upsert(pod));
    this.informer.on('delete', (pod) => this.remove(pod));
    this.informer.on('error', (error) => this.onError(error));
  }

  /** True while the watch of this node's pods is in sync with the API server. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** Starts listing and watching in the background; returns at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.log.info('watching this node\'s pods through the Kubernetes API', { node: this.nodeName });
    this.connect();
  }

  /** Stops watching (no further requests or retries); the cache keeps what it knows. */
  stop(): void {
    this.stopped = true;
    this.isSynced = false;
    clearTimeout(this.retryTimer);
    void this.informer.stop();
  }

  names(podUid: string): { namespace: string; name: string } | undefined {
    const pod = this.pods.get(podUid);
    return pod === undefined ? undefined : { namespace: pod.namespace, name: pod.name };
  }

  containerName(podUid: string, containerId: string): string | undefined {
    return this.pods.get(podUid)?.containers.get(containerId.toLowerCase());
  }

  private connect(): void {
    this.informer.start().catch((error: unknown) => this.onError(error));
  }

  private onWatchOpen(): void {
    if (this.stopped) return;
    this.isSynced = true;
    this.failedAttempts = 0;
    if (this.brokenSince !== undefined) {
      const seconds = Math.round((Date.now() - this.brokenSince) / 100) / 10;
      this.log.info('the watch of this node\'s pods has recovered', { node: this.nodeName, brokenSeconds: seconds });
      this.brokenSince = undefined;
    }
  }

  private onError(error: unknown): void {
    if (this.stopped) return;
    this.isSynced = false;
    if (this.brokenSince === undefined) {
      this.brokenSince = Date.now();
      this.log.warn('the watch of this node\'s pods broke; retrying with backoff, pods stay named by uid meanwhile', {
        node: this.nodeName,
        error: describe(error),
      });
    }
    if (this.retryTimer !== undefined) return; // one failure can be reported more than once
    const wait = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.failedAttempts);
    this.failedAttempts++;
    // Up to a fifth less, so that a node's worth of restarted watchers do not retry in step.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.connect();
    }, wait * (1 - Math.random() / 5));
    this.retryTimer.unref();
  }

  private upsert(pod: V1Pod): void {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    const uid = pod.metadata?.uid;
    if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string') return;
    const key = `${namespace}/${name}`;
    for (const old of this.uidsByName.get(key) ?? []) this.pods.delete(old);
    const entry: PodEntry = { namespace, name, containers: containersOf(pod) };
    const uids = [uid];
    // A static pod's uid is kubelet's 32-hex hash, which no API uid (a UUID) can equal. Any
    // pod can carry the annotation, so a hash another pod already has is not taken from it.
    const mirror = pod.metadata?.annotations?.[MIRROR_ANNOTATION];
    if (typeof mirror === 'string' && STATIC_POD_UID.test(mirror) && !this.pods.has(mirror)) uids.push(mirror);
    for (const each of uids) this.pods.set(each, entry);
    this.uidsByName.set(key, uids);
  }

  private remove(pod: V1Pod): void {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    for (const uid of this.uidsByName.get(key) ?? []) this.pods.delete(uid);
    this.uidsByName.delete(key);
  }
}

/** Container id -> name, from the statuses of the pod's containers, init and ephemeral containers. */
function containersOf(pod: V1Pod): Map<string, string> {
  const containers = new Map<string, string>();
  const status = pod.status;
  for (const statuses of [status?.containerStatuses, status?.initContainerStatuses, status?.ephemeralContainerStatuses]) {
    if (!Array.isArray(statuses)) continue;
    for (const each of statuses as unknown[]) {
      // "containerd://<id>", "cri-o://<id>", "docker://<id>"; empty until the container starts.
      const { containerID, name } = (typeof each === 'object' && each !== null ? each : {}) as { containerID?: unknown; name?: unknown };
      if (typeof containerID !== 'string' || typeof name !== 'string') continue;
      const scheme = containerID.indexOf('://');
      const id = (scheme < 0 ? containerID : containerID.slice(scheme + 3)).toLowerCase();
      if (id !== '') containers.set(id, name);
    }
  }
  return containers;
}

/** `promise`, or a rejection once `ms` have passed without it settling. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the API server ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One line about an error from the client: its message, and the HTTP status if it had one. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { statusCode?: number | string; code?: number | string }).statusCode ?? (error as { code?: number | string }).code;
  return status === undefined ? error.message : `${error.message} (${String(status)})`;
}
