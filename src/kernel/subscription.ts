// Subscribes to the proc connector and hands the reader's batches, decoded, to a sink.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { StartupError } from '../startup-error.js';
import { BatchDecoder, type EventSink } from './batches.js';
import { openConnector, isSyscallError, type HandoverHandlers, type NativeConnector } from './binding.js';

export interface SubscribeOptions {
  receiveBufferBytes: number;
  sink: EventSink;
  /**
   * The events stopped for good (the reader thread failed, or the sink threw): the socket
   * is already unsubscribed and `subscribed` is false. Called at most once.
   */
  onFailure?: (error: Error) => void;
  logger?: Logger;
}

/**
 * The drop counts are read this often: a loss is counted within this long even when
 * nothing happens afterwards (a sequence gap shows only at that CPU's next message).
 */
const DROPS_EVERY_MS = 500;

/** No acknowledgement this long after a request, and drops since: it may be among them. */
const ASK_AGAIN_AFTER_MS = 500;

/** Asking again ends this long after the first request: the buffer never stops overflowing. */
const ASK_AGAIN_FOR_MS = 30_000;

/**
 * A subscription: every datagram the kernel sends reaches `sink`, from the moment the
 * socket is bound, including those that arrive before the acknowledgement.
 */
export class Subscription {
  private acknowledged = false;
  private closed = false;
  private failure: Error | undefined;
  private dropsAtClose = 0;
  private readerDropsAtClose = 0;
  /** The socket's and the reader's drops, as last read. */
  private drops = 0;
  private readonly dropsTimer: NodeJS.Timeout;
  /** The cn_msg.ack of the acknowledgement of each request sent (the request's ack + 1). */
  private readonly acks: Set<number>;
  /** The receive buffer the kernel granted (SO_RCVBUF, which Linux reports doubled). */
  readonly receiveBufferBytes: number;
  /** Whether SO_RCVBUFFORCE was permitted (CAP_NET_ADMIN). */
  readonly bufferForced: boolean;

  private constructor(
    private readonly connector: NativeConnector,
    private readonly decoder: BatchDecoder,
    acks: Set<number>,
    private readonly acknowledgement: Promise<number>,
    private readonly failed: Promise<Error>,
    private readonly logger: Logger | undefined,
  ) {
    this.acks = acks;
    this.receiveBufferBytes = connector.receiveBufferBytes();
    this.bufferForced = connector.bufferForced();
    this.dropsTimer = setInterval(() => this.readDrops(), DROPS_EVERY_MS);
    this.dropsTimer.unref();
  }

  /**
   * Opens the socket, asks the kernel for every event type and makes an event on every
   * CPU (each CPU's sequence numbers get a starting point). Throws StartupError.
   * The kernel's answer is awaited with `confirmed()`; close() works at any time.
   */
  static open(options: SubscribeOptions): Subscription {
    const acks = new Set<number>();
    let acknowledged: (err: number) => void = () => {};
    const acknowledgement = new Promise<number>((resolve) => (acknowledged = resolve));
    let failed: (error: Error) => void = () => {};
    const failure = new Promise<Error>((resolve) => (failed = resolve));

    const decoder = new BatchDecoder(options.sink, (ack) => acks.has(ack), (err) => acknowledged(err));
    const connector = open(options.receiveBufferBytes, {
      batch: (records) => decoder.decode(records),
      failure: (error) => {
        const message = `stopped receiving process events: ${error.message}`;
        // Only ever called from the event loop, after open() returned.
        subscription.failure = new Error(message, { cause: error });
        failed(subscription.failure);
        options.onFailure?.(subscription.failure);
      },
    });
    const subscription = new Subscription(connector, decoder, acks, acknowledgement, failure, options.logger);
    try {
      subscription.request();
      connector.touchEveryCpu();
    } catch (error) {
      subscription.close();
      throw explain(error);
    }
    return subscription;
  }

  /**
   * Resolves once the kernel acknowledged one of this socket's requests; else closes and
   * throws StartupError. An acknowledgement is a datagram like any other, and a storm at
   * start-up can overflow the buffer and drop it: while drops show that may have happened,
   * the request is sent again (it may be: see SendIgnore in native/addon.cc).
   */
  async confirmed(timeoutMs = 5000): Promise<void> {
    const firstAskedAt = Date.now();
    let askedAt = firstAskedAt;
    let dropsWhenAsked = this.drops;
    let asked = 1;
    for (;;) {
      const err = await this.acknowledgedWithin(ASK_AGAIN_AFTER_MS);
      if (err instanceof Error) throw err;
      if (this.closed) throw new StartupError('forkwatch was stopped before the kernel confirmed the subscription');
      if (err !== undefined) {
        if (err !== 0) {
          this.close();
          throw new StartupError(`the kernel refused the subscription with errno ${err}; check that this kernel's proc connector accepts listeners`);
        }
        this.acknowledged = true;
        return;
      }
      const drops = this.readDrops();
      const now = Date.now();
      if (drops > dropsWhenAsked) {
        if (now - firstAskedAt >= ASK_AGAIN_FOR_MS) {
          this.close();
          throw new StartupError(
            `no acknowledgement of the subscription in ${ASK_AGAIN_FOR_MS / 1000}s, asked ${asked} times, while the receive buffer kept overflowing ` +
              `(${drops} messages dropped): raise --netlink.receive-buffer-bytes (forced past net.core.rmem_max with CAP_NET_ADMIN)`,
          );
        }
        this.logger?.info('the kernel\'s acknowledgement may have been dropped with a full receive buffer: asking again', { dropped: drops, asked });
        this.request();
        asked++;
        askedAt = now;
        dropsWhenAsked = drops;
      } else if (now - askedAt >= timeoutMs) {
        this.close();
        if (!procConnectorRegistered()) throw new StartupError(NO_PROC_CONNECTOR);
        throw new StartupError(
          `the kernel did not acknowledge the subscription within ${timeoutMs / 1000}s: forkwatch must run in the host's PID and user namespaces ` +
            '(Kubernetes: hostPID: true and no user namespace; Docker: --pid=host and no --userns)',
        );
      }
    }
  }

  /** True from the kernel's acknowledgement until close or failure. */
  get subscribed(): boolean {
    return this.acknowledged && !this.closed && !this.failure;
  }

  /** The kernel's count of datagrams dropped on the socket; after close, the last count. */
  kernelDrops(): number {
    return this.closed ? this.dropsAtClose : this.connector.kernelDrops();
  }

  /** Datagrams the reader thread dropped at its bound (binding.ts: MAX_PENDING_BYTES); after close, the last count. */
  readerDrops(): number {
    return this.closed ? this.readerDropsAtClose : this.connector.readerDrops();
  }

  /** Unsubscribes (PROC_CN_MCAST_IGNORE) and closes the socket. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    clearInterval(this.dropsTimer);
    this.dropsAtClose = this.connector.kernelDrops();
    this.readerDropsAtClose = this.connector.readerDrops();
    this.closed = true;
    this.connector.close();
  }

  /** Sends PROC_CN_MCAST_LISTEN with an ack value of its own. Throws an errno error. */
  private request(): void {
    // The acknowledgement is broadcast to every listener: a random ack value tells ours.
    const ack = randomInt(1, 0x7fffffff);
    this.acks.add(ack + 1);
    this.connector.subscribe(ack);
  }

  /** The err of an acknowledgement of ours, if one arrives within `ms`; the failure, if events stopped. */
  private async acknowledgedWithin(ms: number): Promise<number | Error | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    try {
      return await Promise.race([this.acknowledgement, timeout, this.failed]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads the socket's and the reader's drop counts. When they rose, the loss is counted
   * now (loss.ts), and an event on every CPU this process may run on makes the gaps there
   * show too, so that a message the kernel numbered but never sent is counted as well.
   */
  private readDrops(): number {
    if (this.closed) return this.drops;
    const drops = this.connector.kernelDrops() + this.connector.readerDrops();
    if (drops > this.drops) {
      this.drops = drops;
      this.decoder.dropped(drops);
      try {
        this.connector.touchEveryCpu();
      } catch {
        // It took over a second (a CPU starved by a storm): the drop counts still count the loss.
      }
    }
    return drops;
  }
}

function open(receiveBufferBytes: number, handlers: HandoverHandlers): NativeConnector {
  try {
    return openConnector(receiveBufferBytes, handlers);
  } catch (error) {
    throw explain(error);
  }
}

const NO_PROC_CONNECTOR = 'this kernel has no proc connector; use a kernel built with CONFIG_CONNECTOR=y and CONFIG_PROC_EVENTS=y';

/**
 * Whether the kernel registered the proc connector (cn_proc, id 1:1). Without
 * CONFIG_PROC_EVENTS the socket still opens and the request still goes out: only
 * the missing acknowledgement shows, as it would in a private PID namespace.
 */
function procConnectorRegistered(): boolean {
  try {
    return /^\S+\s+1:1\s*$/m.test(readFileSync('/proc/net/connector', 'utf8'));
  } catch {
    return true; // cannot tell: keep the namespace explanation
  }
}

/** Turns a failed system call at start-up into a message that says what to change. */
function explain(error: unknown): Error {
  if (!isSyscallError(error)) return error instanceof Error ? error : new Error(String(error));
  const { code, syscall } = error;
  if (syscall === 'socket' && (code === 'EPROTONOSUPPORT' || code === 'EAFNOSUPPORT')) {
    return new StartupError(`${NO_PROC_CONNECTOR} (socket: ${code})`);
  }
  if (syscall === 'bind' && code === 'EPERM') {
    return new StartupError(
      'binding the proc connector needs CAP_NET_ADMIN on Linux before 6.6 (bind: EPERM); run as root or add the NET_ADMIN capability (Kubernetes: capabilities.add: [NET_ADMIN]; Docker: --cap-add=NET_ADMIN)',
    );
  }
  if (syscall === 'sendto' && code === 'ECONNREFUSED') {
    return new StartupError(
      "the kernel refused the subscription (sendto: ECONNREFUSED): forkwatch must run in the host's network namespace (Kubernetes: hostNetwork: true; Docker: --network=host)",
    );
  }
  if (syscall === 'pthread_create') {
    return new StartupError(
      `cannot start a thread (pthread_create: ${code}): the process, cgroup (pids.max) or system (kernel.threads-max, kernel.pid_max) task limit is reached; forkwatch needs 2 threads besides Node.js's own`,
    );
  }
  return new StartupError(`opening the proc connector failed: ${error.message}`);
}
