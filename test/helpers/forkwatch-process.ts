// Runs the real forkwatch command (the built dist/src/cli.js) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package.js';

/** The built command: tests run what `npm start` runs. */
export const CLI = join(packageRoot, 'dist', 'src', 'cli.js');

/** The Node.js options of the command's first line (#!/usr/bin/env -S node ...), which every way of starting it uses. */
export function nodeOptionsOf(cli: string): string[] {
  const shebang = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+=\S+)*)\n/.exec(readFileSync(cli, 'utf8'));
  if (!shebang) throw new Error(`${cli} does not start with "#!/usr/bin/env -S node [--option=value ...]"`);
  return shebang[1]!.split(' ').filter((word) => word !== '');
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningForkwatch {
  pid: number;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  child: ChildProcess;
  stderr(): string;
  scrape: (path?: string) => Promise<string>;
  /** Sends `signal` and waits for the exit; resolves with how long it took. */
  stop(signal?: NodeJS.Signals): Promise<Exit & { ms: number }>;
}

export interface StartOptions {
  /** Words before `node cli.js`, e.g. ['unshare', '--net']. */
  prefix?: string[];
  /** Resolve only once /-/ready answers 200 (default true). */
  waitReady?: boolean;
  timeoutMs?: number;
  /** Another build's command (test/helpers/addon-variant.ts) instead of CLI. */
  cli?: string;
  /** Options for node, before the command (e.g. --import of a bench's preload). */
  nodeOptions?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

function command(args: string[], options: StartOptions): [string, string[]] {
  const cli = options.cli ?? CLI;
  const words = [...(options.prefix ?? []), process.execPath, ...nodeOptionsOf(cli), ...(options.nodeOptions ?? []), cli, ...args];
  return [words[0]!, words.slice(1)];
}

function environment(options: StartOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...options.env };
}

/** Runs forkwatch until it exits (for start-ups that must fail), killing it after `timeoutMs`. */
export async function runForkwatch(args: string[], options: StartOptions = {}): Promise<Exit> {
  const [file, argv] = command(args, options);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: environment(options) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => terminate(child), options.timeoutMs ?? 20_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** Starts forkwatch on a free loopback port and waits until it listens (and is ready). */
export async function startForkwatch(args: string[] = [], options: StartOptions = {}): Promise<RunningForkwatch> {
  const [file, argv] = command(['--web.listen-address', '127.0.0.1:0', ...args], options);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: environment(options) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let url: string | undefined;
  while (url === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`forkwatch exited at start:\n${stderr}`);
    if (Date.now() > deadline) {
      terminate(child);
      throw new Error(`forkwatch did not listen in time:\n${stderr}`);
    }
    const match = /"msg":"listening","url":"(https?:\/\/[^/"]+)/.exec(stderr);
    if (match) url = match[1];
    else await sleep(20);
  }
  const base = url;
  const scrape = async (path = '/metrics'): Promise<string> => {
    const response = await fetch(`${base}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
    return response.text();
  };
  if (options.waitReady ?? true) {
    for (;;) {
      const response = await fetch(`${base}/-/ready`).catch(() => undefined);
      if (response?.status === 200) break;
      if (Date.now() > deadline) {
        terminate(child);
        throw new Error(`forkwatch was not ready in time:\n${stderr}`);
      }
      await sleep(20);
    }
  }
  return {
    pid: child.pid!,
    url: base,
    child,
    stderr: () => stderr,
    scrape,
    async stop(signal = 'SIGTERM') {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, exitSignal] = await exited;
      return { code, signal: exitSignal, stdout, stderr, ms: Date.now() - started };
    },
  };
}

/**
 * Ends a forkwatch that overran: SIGTERM first, so that it unsubscribes from the kernel
 * (a SIGKILLed listener leaves the kernel's listener count raised until reboot); SIGKILL
 * only if it is still there 5 s later.
 */
function terminate(child: ChildProcess): void {
  child.kill('SIGTERM');
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5000).unref();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Scrapes until `read` returns `expected` or 5 s pass; returns the last value read. */
export async function settle(forkwatch: RunningForkwatch, read: (page: string) => number, expected: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = read(await forkwatch.scrape());
    if (value === expected || Date.now() > deadline) return value;
    await sleep(50);
  }
}
