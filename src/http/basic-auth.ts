// Basic auth that cannot stall forkwatch. bcrypt is slow on purpose (about 0.1 s at cost 10
// in JavaScript), so it runs on a worker thread at the lowest CPU priority, one compare at a
// time (exporter-toolkit serialises it too), and never on the thread that serves scrapes.
// Results are cached as exporter-toolkit caches them, by a keyed digest of user, hash and
// password, so a scraper pays for bcrypt once. Work waiting for the worker is bounded: one
// attempt per client address and QUEUE_LIMIT in all; a request beyond that is answered 429
// at once, without bcrypt. A wrong-password flood therefore costs one low-priority core, a
// scraper whose credentials were verified before the flood is served from the cache, and one
// verifying for the first time waits behind at most QUEUE_LIMIT compares.
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type AuthResult = 'allowed' | 'denied' | 'busy';

/** Compares waiting for or in the worker, from all clients. */
export const QUEUE_LIMIT = 64;
/** Remembered outcomes of each kind; the oldest is forgotten first. */
const CACHE_LIMIT = 1000;

// The worker is plain JavaScript given as a string, so it runs the same from the sources
// (tests) and from dist/. It loads bcryptjs by the absolute path the main thread resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { setPriority } = require('node:os');
const bcrypt = require(workerData.bcrypt);
// 0 is the calling thread on Linux: only this worker yields to the event reader.
try { setPriority(0, 19); } catch {}
parentPort.on('message', ({ id, password, hash }) => {
  let matches = false;
  try { matches = bcrypt.compareSync(password, hash); } catch {}
  parentPort.postMessage({ id, matches });
});
`;

export class BasicAuth {
  private readonly users: ReadonlyMap<string, string>;
  /** An unknown user's password is compared with this, so timing does not tell users apart. */
  private readonly decoyHash: string;
  private readonly digestKey = randomBytes(32);
  private readonly verified = new BoundedSet(CACHE_LIMIT);
  private readonly refused = new BoundedSet(CACHE_LIMIT);
  private readonly waitingAddresses = new Set<string>();
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve(matches: boolean): void; reject(error: Error): void }>();
  private started = 0;

  /** `users` maps a user name to a bcrypt hash that loadWebConfig has checked. */
  constructor(users: ReadonlyMap<string, string>) {
    this.users = users;
    this.decoyHash = users.values().next().value ?? '';
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** bcrypt compares started since construction. */
  get compares(): number {
    return this.started;
  }

  /** `address` is the client's; it limits each client to one compare in the queue. */
  async check(authorizationHeader: string | undefined, address: string): Promise<AuthResult> {
    if (!this.enabled) return 'allowed';
    const credentials = parseBasicAuth(authorizationHeader);
    if (credentials === undefined) return 'denied';
    const { user, password } = credentials;
    const hash = this.users.get(user);
    const compareWith = hash ?? this.decoyHash;
    // JSON keeps the three apart, whatever characters they hold.
    const digest = createHmac('sha256', this.digestKey).update(JSON.stringify([user, compareWith, password])).digest('base64');
    if (hash !== undefined && this.verified.has(digest)) return 'allowed';
    if (this.refused.has(digest)) return 'denied';

    if (this.waitingAddresses.has(address) || this.pending.size >= QUEUE_LIMIT) return 'busy';
    this.waitingAddresses.add(address);
    let matches: boolean;
    try {
      matches = (await this.compare(password, compareWith)) && hash !== undefined;
    } finally {
      this.waitingAddresses.delete(address);
    }
    (matches ? this.verified : this.refused).add(digest);
    return matches ? 'allowed' : 'denied';
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private compare(password: string, hash: string): Promise<boolean> {
    const worker = this.worker ?? this.startWorker();
    const id = this.started++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, password, hash });
    });
  }

  private startWorker(): Worker {
    const bcrypt = createRequire(import.meta.url).resolve('bcryptjs');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcrypt } });
    worker.unref(); // an idle worker must not keep the process alive
    worker.on('message', ({ id, matches }: { id: number; matches: boolean }) => {
      this.pending.get(id)?.resolve(matches);
      this.pending.delete(id);
    });
    // A worker that dies fails the requests it held (500, logged); the next one starts anew.
    const fail = (error: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const request of this.pending.values()) request.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the bcrypt worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

/** A set that forgets its oldest member past `limit`. */
class BoundedSet {
  private readonly members = new Set<string>();
  constructor(private readonly limit: number) {}

  has(member: string): boolean {
    return this.members.has(member);
  }

  add(member: string): void {
    this.members.add(member);
    if (this.members.size > this.limit) this.members.delete(this.members.values().next().value as string);
  }
}

function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const m = header === undefined ? null : /^basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (m === null) return undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
