// The only importer of the native addon (native/): a socket, a reader thread, batches.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package.js';
import { StartupError } from '../startup-error.js';
import { EXEC_PROBE } from './decode.js';

export interface NativeConnector {
  /**
   * Sends PROC_CN_MCAST_LISTEN with `ack` in cn_msg.ack, then makes one event on every CPU
   * this process may run on. May be called again (a lost acknowledgement). Throws an errno error.
   */
  subscribe(ack: number): void;
  /** Sends one PROC_CN_MCAST_IGNORE per LISTEN sent; the socket stays open. Throws an errno error. */
  unsubscribe(): void;
  /** Sends one PROC_CN_MCAST_IGNORE per LISTEN sent, stops the reader, closes the socket. */
  close(): void;
  /** The receive buffer the kernel granted (SO_RCVBUF, which Linux reports doubled). */
  receiveBufferBytes(): number;
  /** Whether SO_RCVBUFFORCE was permitted (CAP_NET_ADMIN). */
  bufferForced(): boolean;
  /** The kernel's count of datagrams dropped on this socket (SO_MEMINFO). */
  kernelDrops(): number;
  /** Datagrams the reader read and dropped at its own bound on what waits for JavaScript. */
  readerDrops(): number;
  /**
   * Makes one event on every CPU this process may run on, so that a loss on each shows as a
   * sequence gap now; false if no thread could be started for it.
   */
  touchEveryCpu(): boolean;
}

/**
 * `onBatch` receives datagrams as records (their format: records.ts), or `null` and the
 * error that stopped the reader thread.
 */
export type BatchHandler = (batch: Buffer | null, error?: NodeJS.ErrnoException) => void;

interface NativeModule {
  Connector: new (
    receiveBufferBytes: number,
    execMinLength: number,
    execWhatOffset: number,
    execWhat: number,
    execTgidOffset: number,
    onBatch: BatchHandler,
  ) => NativeConnector;
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
// connector still open when the process exits is closed here, whoever forgot it.
const open = new Set<NativeConnector>();
process.on('exit', () => {
  for (const connector of open) connector.close();
});

export function openConnector(receiveBufferBytes: number, onBatch: BatchHandler): NativeConnector {
  const { minLength, whatOffset, what, tgidOffset } = EXEC_PROBE;
  const connector = new (loadAddon().Connector)(receiveBufferBytes, minLength, whatOffset, what, tgidOffset, onBatch);
  open.add(connector);
  return {
    subscribe: (ack) => connector.subscribe(ack),
    unsubscribe: () => connector.unsubscribe(),
    close: () => {
      open.delete(connector);
      connector.close();
    },
    receiveBufferBytes: () => connector.receiveBufferBytes(),
    bufferForced: () => connector.bufferForced(),
    kernelDrops: () => connector.kernelDrops(),
    readerDrops: () => connector.readerDrops(),
    touchEveryCpu: () => connector.touchEveryCpu(),
  };
}
