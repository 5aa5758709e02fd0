// A stand-in for the Kubernetes API server's pod endpoints, on 127.0.0.1 over HTTPS (a
// self-signed certificate made with openssl), answering as the real one does
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
//   GET /api/v1/pods?fieldSelector=spec.nodeName=N            a PodList with metadata.resourceVersion
//   GET /api/v1/pods?watch=true&resourceVersion=R&fieldSelector=…
//       200, then one JSON event per line ({"type":"ADDED"|"MODIFIED"|"DELETED","object":Pod})
//       for every change after R, then live changes; a resourceVersion older than the
//       retained history gets an ERROR event with a Status of code 410 ("Expired") and the end
//       of the stream, as the API server answers a watch that can no longer be resumed.
// Every request is recorded (path, query, Authorization header) for the tests to check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A pod as the API server serves it (the fields forkwatch reads, plus enough to be real-shaped). */
export interface ApiPod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: string; creationTimestamp: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { nodeName: string; containers: { name: string; image: string }[]; initContainers?: { name: string; image: string }[] };
  status: {
    phase: string;
    qosClass: string;
    podIP?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
    ephemeralContainerStatuses?: ContainerStatus[];
  };
}

interface ContainerStatus {
  name: string;
  containerID?: string;
  image: string;
  imageID: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  state: Record<string, unknown>;
}

export interface PodSpecOptions {
  name: string;
  namespace?: string;
  uid: string;
  node: string;
  /** name -> container id as the kubelet reports it ("containerd://<64 hex>"); undefined while starting. */
  containers: Record<string, string | undefined>;
  initContainers?: Record<string, string | undefined>;
  ephemeralContainers?: Record<string, string | undefined>;
  annotations?: Record<string, string>;
}

function statuses(containers: Record<string, string | undefined>, running: boolean): ContainerStatus[] {
  return Object.entries(containers).map(([name, containerID]) => ({
    name,
    ...(containerID === undefined ? {} : { containerID }),
    image: `registry.example/${name}:1.0`,
    imageID: `registry.example/${name}@sha256:${'0'.repeat(64)}`,
    ready: running && containerID !== undefined,
    restartCount: 0,
    started: containerID !== undefined,
    state:
      containerID === undefined
        ? { waiting: { reason: 'ContainerCreating' } }
        : running
          ? { running: { startedAt: '2025-01-01T00:00:00Z' } }
          : { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z', containerID } },
  }));
}

/** A real-shaped Pod object. */
export function makePod(options: PodSpecOptions): ApiPod {
  const pod: ApiPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name,
      namespace: options.namespace ?? 'default',
      uid: options.uid,
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels: { app: options.name },
      ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
    },
    spec: {
      nodeName: options.node,
      containers: Object.keys(options.containers).map((name) => ({ name, image: `registry.example/${name}:1.0` })),
      ...(options.initContainers === undefined ? {} : { initContainers: Object.keys(options.initContainers).map((name) => ({ name, image: `registry.example/${name}:1.0` })) }),
    },
    status: {
      phase: 'Running',
      qosClass: 'Burstable',
      podIP: '10.244.0.10',
      containerStatuses: statuses(options.containers, true),
    },
  };
  if (options.initContainers !== undefined) pod.status.initContainerStatuses = statuses(options.initContainers, false);
  if (options.ephemeralContainers !== undefined) pod.status.ephemeralContainerStatuses = statuses(options.ephemeralContainers, true);
  return pod;
}

export interface RecordedRequest {
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  watch: boolean;
  /** The HTTP status answered, or for a watch that began, 200. */
  status: number;
  /** For a watch refused as too old: true (it got the 410 ERROR event). */
  expired?: boolean;
}

interface Event {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: ApiPod;
}

interface OpenWatch {
  response: ServerResponse;
  node: string | undefined;
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** The self-signed certificate the server presents (PEM), for a CA file or CA data. */
  readonly certificate: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pods = new Map<string, ApiPod>(); // namespace/name -> pod
  private readonly history: Event[] = [];
  private readonly watches = new Set<OpenWatch>();
  private resourceVersion = 100;
  /** Watches from a resourceVersion older than this get 410 Gone. */
  private oldestResumable = 100;
  private listening = false;
  private refusing = false;
  private stalling = false;
  /** When each connection was cut at once while refusing (see refuse()). */
  readonly refusedAt: number[] = [];
  port = 0;

  /** `token`: the bearer token every request must carry (401 otherwise). */
  constructor(private readonly token: string) {
    const dir = mkdtempSync(join(tmpdir(), 'forkwatch-apiserver-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
        { cwd: dir, stdio: 'ignore' },
      );
      this.certificate = readFileSync(join(dir, 'cert.pem'), 'utf8');
      this.server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: this.certificate }, (request, response) => this.handle(request.url ?? '/', request.headers.authorization, response));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    this.server.on('connection', (socket: Socket) => {
      if (this.refusing) {
        this.refusedAt.push(Date.now());
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Starts listening (on the same port as before, after goAway()). */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
    this.listening = true;
  }

  /** The server disappears: no more connections, and every open one is cut. */
  async goAway(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.watches.clear();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** While on, every new connection is cut as soon as it is accepted (and its time kept). */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** While on, requests are accepted and never answered (an overloaded or wedged server). */
  stall(on: boolean): void {
    this.stalling = on;
  }

  close(): Promise<void> {
    return this.goAway();
  }

  get openWatches(): number {
    return this.watches.size;
  }

  addPod(pod: ApiPod): void {
    this.change('ADDED', pod);
  }

  updatePod(pod: ApiPod): void {
    this.change('MODIFIED', pod);
  }

  deletePod(namespace: string, name: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (pod === undefined) throw new Error(`no pod ${namespace}/${name}`);
    this.change('DELETED', pod);
  }

  /** Forgets the change history (etcd compaction): a watch cannot resume from before now. */
  compact(): void {
    this.history.length = 0;
    this.oldestResumable = this.resourceVersion;
  }

  /** Ends every open watch stream, as the API server does when a watch times out. */
  endWatches(): void {
    for (const watch of this.watches) watch.response.end();
    this.watches.clear();
  }

  private change(type: Event['type'], pod: ApiPod): void {
    this.resourceVersion++;
    const stored: ApiPod = structuredClone(pod);
    stored.metadata.resourceVersion = String(this.resourceVersion);
    const key = `${stored.metadata.namespace}/${stored.metadata.name}`;
    if (type === 'DELETED') this.pods.delete(key);
    else this.pods.set(key, stored);
    const event: Event = { resourceVersion: this.resourceVersion, type, pod: stored };
    this.history.push(event);
    for (const watch of this.watches) this.send(watch, event);
  }

  private send(watch: OpenWatch, event: Event): void {
    if (watch.node !== undefined && event.pod.spec.nodeName !== watch.node) return;
    watch.response.write(`${JSON.stringify({ type: event.type, object: event.pod })}\n`);
  }

  private handle(url: string, authorization: string | undefined, response: ServerResponse): void {
    const parsed = new URL(url, 'https://127.0.0.1');
    const query = parsed.searchParams;
    const watching = query.get('watch') === 'true' || query.get('watch') === '1';
    const record: RecordedRequest = { path: parsed.pathname, query, authorization, watch: watching, status: 200 };
    this.requests.push(record);
    if (this.stalling) return;
    const answer = (status: number, body: unknown): void => {
      record.status = status;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };

    if (authorization !== `Bearer ${this.token}`) return answer(401, status(401, 'Unauthorized', 'Unauthorized'));
    if (parsed.pathname !== '/api/v1/pods') return answer(404, status(404, 'NotFound', `the server could not find the requested resource`));
    const selector = query.get('fieldSelector') ?? '';
    const match = /^spec\.nodeName=([^,]*)$/.exec(selector);
    if (selector !== '' && match === null) return answer(400, status(400, 'BadRequest', `unable to parse requirement: ${selector}`));
    const node = match?.[1];

    if (!watching) {
      const items = [...this.pods.values()].filter((pod) => node === undefined || pod.spec.nodeName === node);
      return answer(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items });
    }

    const from = Number(query.get('resourceVersion') ?? '0');
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    response.flushHeaders(); // as the API server does: the client knows the watch is open before any event
    if (from < this.oldestResumable) {
      record.expired = true;
      const gone = status(410, 'Expired', `too old resource version: ${from} (${this.oldestResumable})`);
      response.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    const watch: OpenWatch = { response, node };
    for (const event of this.history) if (event.resourceVersion > from) this.send(watch, event);
    this.watches.add(watch);
    response.on('close', () => this.watches.delete(watch));
  }
}

/** A metav1.Status, as the API server sends with an error. */
function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}
