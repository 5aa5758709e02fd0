// Subscribes to the proc connector and hands the reader's batches, decoded, to a sink.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
}

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
  /** The receive buffer the kernel granted (SO_RCVBUF, which Linux reports doubled). */
  readonly receiveBufferBytes: number;
  /** Whether SO_RCVBUFFORCE was permitted (CAP_NET_ADMIN). */
  readonly bufferForced: boolean;

  private constructor(
    private readonly connector: NativeConnector,
    private readonly acknowledgement: Promise<number>,
    private readonly failed: Promise<Error>,
  ) {
    this.receiveBufferBytes = connector.receiveBufferBytes();
    this.bufferForced = connector.bufferForced();
  }

  /**
   * Opens the socket, asks the kernel for every event type and makes an event on every
   * CPU (each CPU's sequence numbers get a starting point). Throws StartupError.
   * The kernel's answer is awaited with `confirmed()`; close() works at any time.
   */
  static open(options: SubscribeOptions): Subscription {
    // The acknowledgement is broadcast to every listener: a random ack value tells ours.
    const ack = randomInt(1, 0x7fffffff);
    let acknowledged: (err: number) => void = () => {};
    const acknowledgement = new Promise<number>((resolve) => (acknowledged = resolve));
    let failed: (error: Error) => void = () => {};
    const failure = new Promise<Error>((resolve) => (failed = resolve));

    const decoder = new BatchDecoder(options.sink, ack + 1, acknowledged);
    let subscription: Subscription | undefined;
    const connector = open(options.receiveBufferBytes, {
      batch: (records) => decoder.decode(records),
      failure: (error) => {
        const message = `stopped receiving process events: ${error.message}`;
        subscription!.failure = new Error(message, { cause: error });
        failed(subscription!.failure);
        options.onFailure?.(subscription!.failure);
      },
    });
    subscription = new Subscription(connector, acknowledgement, failure);
    try {
      connector.subscribe(ack);
      connector.touchEveryCpu();
    } catch (error) {
      subscription.close();
      throw explain(error);
    }
    return subscription;
  }

  /** Resolves once the kernel acknowledged this socket's request; else closes and throws StartupError. */
  async confirmed(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
    const outcome = await Promise.race([this.acknowledgement, timeout, this.failed]);
    clearTimeout(timer);
    if (outcome instanceof Error) throw outcome;
    if (this.closed) throw new StartupError('forkwatch was stopped before the kernel confirmed the subscription');
    if (outcome === 'timeout') {
      this.close();
      if (!procConnectorRegistered()) throw new StartupError(NO_PROC_CONNECTOR);
      throw new StartupError(
        `the kernel did not acknowledge the subscription within ${timeoutMs / 1000}s: forkwatch must run in the host's PID and user namespaces ` +
          '(Kubernetes: hostPID: true and no user namespace; Docker: --pid=host and no --userns)',
      );
    }
    if (outcome !== 0) {
      this.close();
      throw new StartupError(`the kernel refused the subscription with errno ${outcome}; check that this kernel's proc connector accepts listeners`);
    }
    this.acknowledged = true;
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

  /** Makes one event on every CPU it can, now; returns those CPUs (none once closed). */
  touchEveryCpu(): number[] {
    return this.closed ? [] : this.connector.touchEveryCpu();
  }

  /** Unsubscribes (PROC_CN_MCAST_IGNORE) and closes the socket. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.dropsAtClose = this.connector.kernelDrops();
    this.readerDropsAtClose = this.connector.readerDrops();
    this.closed = true;
    this.connector.close();
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
