// The only importer of the native addon (native/): a socket, a reader thread that queues
// what it reads, and the hand-over that brings it to JavaScript one slice at a time.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../package.js';
import { StartupError } from '../startup-error.js';
import { EXEC_PROBE } from './decode.js';

/**
 * The reader thread's records wait in chunks of this size; one slice is one chunk, about
 * 700 events: a few milliseconds of JavaScript, some tens when its code has gone cold
 * (the first slice after a long quiet spell), which bounds a turn beyond TURN_BUDGET_MS.
 * A chunk holds one read of the reader at its largest (native ProcSocket::kMaxBatchBytes).
 */
export const CHUNK_BYTES = 64 << 10;
/**
 * Records waiting for JavaScript are held up to this many bytes, whole chunks counted (about
 * 750,000 events, seconds of the fastest fork storm); past it the reader drops what it reads
 * (readerDrops()), which shows as sequence gaps like any other loss. The Kubernetes memory
 * limit counts on this bound.
 */
export const MAX_PENDING_BYTES = 64 << 20;
/**
 * JavaScript takes slices for this long, then yields to the event loop (the next turn is a
 * setImmediate), so that a backlog cannot hold up scrapes and health checks: a turn lasts
 * at most this and one slice.
 */
export const TURN_BUDGET_MS = 10;

export interface NativeConnector {
  /** Sends PROC_CN_MCAST_LISTEN with `ack` in cn_msg.ack. Throws an errno error. */
  subscribe(ack: number): void;
  /** Sends PROC_CN_MCAST_IGNORE if subscribed; the socket stays open. Throws an errno error. */
  unsubscribe(): void;
  /** Sends one PROC_CN_MCAST_IGNORE per LISTEN sent, stops the threads, closes the socket. Safe to call twice. */
  close(): void;
  /**
   * Makes one event (a COMM) on every CPU this process can run on, now, so that a loss on
   * any of them shows at once as a sequence gap; returns those CPUs. Needs no new thread.
   */
  touchEveryCpu(): number[];
  /** Datagrams the reader thread read but dropped, because MAX_PENDING_BYTES were held. */
  readerDrops(): number;
  /** Bytes of records waiting for JavaScript. */
  pendingBytes(): number;
  /** Memory the reader thread holds for them: whole chunks, a spare one included; at most MAX_PENDING_BYTES. */
  heldBytes(): number;
  /** The receive buffer the kernel granted (SO_RCVBUF, which Linux reports doubled). */
  receiveBufferBytes(): number;
  /** Whether SO_RCVBUFFORCE was permitted (CAP_NET_ADMIN). */
  bufferForced(): boolean;
  /** The kernel's count of datagrams dropped on this socket (SO_MEMINFO). */
  kernelDrops(): number;
}

/** What the hand-over calls, always from the event loop, never from native code. */
export interface HandoverHandlers {
  /** Records (their format: records.ts). The buffer is reused: valid during the call only. */
  batch(records: Uint8Array): void;
  /**
   * The hand-over stopped for good: the reader thread failed, or `batch` threw. The socket
   * has already been unsubscribed (PROC_CN_MCAST_IGNORE); close() remains the owner's.
   * Called at most once.
   */
  failure(error: Error): void;
}

interface AddonConnector extends NativeConnector {
  /** Copies the oldest chunk of records into `into` (CHUNK_BYTES long); 0 when none waits. */
  take(into: Buffer): number;
}

interface NativeModule {
  Connector: new (
    receiveBufferBytes: number,
    execMinLength: number,
    execWhatOffset: number,
    execWhat: number,
    execTgidOffset: number,
    chunkBytes: number,
    maxPendingBytes: number,
    onReady: (readerError?: Error) => void,
  ) => AddonConnector;
}

/** Thrown by the native layer: a failed system call, as Node reports its own. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export function isSyscallError(error: unknown): error is SyscallError {
  return error instanceof Error && typeof (error as SyscallError).syscall === 'string';
}

let native: NativeModule | undefined;

// Loaded on first use, so that --help, --version and flag errors work without it.
function loadAddon(): NativeModule {
  if (native) return native;
  const path = join(packageRoot, 'build', 'Release', 'forkwatch.node');
  if (!existsSync(path)) {
    throw new StartupError(`the native addon ${path} is not built; run npm install, which builds it with node-gyp (python3, make and g++)`);
  }
  native = createRequire(import.meta.url)(path) as NativeModule;
  return native;
}

// Node runs no addon cleanup on process.exit(), and a socket closed without
// PROC_CN_MCAST_IGNORE leaves the kernel's listener count raised until reboot: so every
// connector still open when the process exits is closed here, whoever forgot it. (Node
// runs exit handlers after an uncaught exception too; an abort is the addon's own
// SIGABRT handler's to cover.)
const open = new Set<NativeConnector>();
process.on('exit', () => {
  for (const connector of open) connector.close();
});

/**
 * Opens the socket and starts the reader thread; subscribe() starts the events. Every
 * record reaches `handlers.batch`, in order, slice by slice, each turn of the event loop
 * bounded by TURN_BUDGET_MS. `maxPendingBytes` (default MAX_PENDING_BYTES) is for tests
 * that reach the bound.
 */
export function openConnector(
  receiveBufferBytes: number,
  handlers: HandoverHandlers,
  { maxPendingBytes = MAX_PENDING_BYTES }: { maxPendingBytes?: number } = {},
): NativeConnector {
  if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes < CHUNK_BYTES) {
    throw new RangeError(`maxPendingBytes must be a whole number of bytes, at least one chunk (${CHUNK_BYTES}), not ${maxPendingBytes}`);
  }
  const { minLength, whatOffset, what, tgidOffset } = EXEC_PROBE;
  const handover = new Handover(handlers);
  const connector = new (loadAddon().Connector)(receiveBufferBytes, minLength, whatOffset, what, tgidOffset, CHUNK_BYTES, maxPendingBytes, (readerError) =>
    handover.ready(readerError),
  );
  handover.attach(connector);
  open.add(connector);
  return {
    subscribe: (ack) => connector.subscribe(ack),
    unsubscribe: () => connector.unsubscribe(),
    close: () => {
      open.delete(connector);
      handover.stop();
      connector.close();
    },
    touchEveryCpu: () => connector.touchEveryCpu(),
    readerDrops: () => connector.readerDrops(),
    pendingBytes: () => connector.pendingBytes(),
    heldBytes: () => connector.heldBytes(),
    receiveBufferBytes: () => connector.receiveBufferBytes(),
    bufferForced: () => connector.bufferForced(),
    kernelDrops: () => connector.kernelDrops(),
  };
}

/**
 * Takes the reader's records one slice at a time. The reader says when its queue stops
 * being empty; from then on slices are taken until it is empty again, for at most
 * TURN_BUDGET_MS per turn of the event loop, the next turn scheduled with setImmediate, so
 * that timers and network I/O (scrapes, health checks) run between turns.
 */
class Handover {
  private readonly slice = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private connector: AddonConnector | undefined;
  private draining = false;
  private stopped = false;

  constructor(private readonly handlers: HandoverHandlers) {}

  /** The connector to take from; it calls ready() only from the event loop, so after this. */
  attach(connector: AddonConnector): void {
    this.connector = connector;
  }

  /** From the reader thread, through the addon: records wait, or the reader failed. */
  ready(readerError?: Error): void {
    if (this.stopped) return;
    if (readerError) {
      this.fail(new Error(`the reader thread failed: ${readerError.message}`, { cause: readerError }));
      return;
    }
    if (this.draining) return;
    this.draining = true;
    setImmediate(this.turn);
  }

  /** Closing: nothing more is taken or reported. */
  stop(): void {
    this.stopped = true;
  }

  private readonly turn = (): void => {
    const started = performance.now();
    while (!this.stopped) {
      let length: number;
      try {
        length = this.connector!.take(this.slice);
        if (length > 0) this.handlers.batch(this.slice.subarray(0, length));
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (length === 0) {
        this.draining = false;
        return;
      }
      if (performance.now() - started >= TURN_BUDGET_MS) {
        setImmediate(this.turn);
        return;
      }
    }
    this.draining = false;
  };

  /**
   * The events stop here for good: unsubscribe at once, whatever the owner does next, and
   * tell the owner. An exception from `failure` itself goes on as an uncaught exception,
   * after which the exit handler above closes the socket.
   */
  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.connector!.unsubscribe();
    } catch {
      // The kernel never accepted this socket's requests: nothing to undo there.
    }
    this.handlers.failure(error);
  }
}
