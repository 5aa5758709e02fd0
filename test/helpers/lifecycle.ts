// Builds test/helpers/lifecycle.c once per test run, and runs copies of it under chosen
// names (the kernel names a process after the file it exec'd), so that each test reads
// the counts of a name of its own.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./lifecycle.c', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'forkwatch-lifecycle-'));
const binary = join(dir, 'lifecycle');

/** The path of a copy of the program named `name`, built on first use. */
function copyNamed(name: string): string {
  mkdirSync(dir, { recursive: true }); // again, after removeCopies
  if (!existsSync(binary)) execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', binary, source], { stdio: 'inherit' });
  const copy = join(dir, name);
  if (!existsSync(copy)) copyFileSync(binary, copy);
  return copy;
}

export interface Ended {
  pid: number;
  /** The exit code, or null when a signal ended it. */
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the program as `name` with `args` (see lifecycle.c) to its end. */
export function runAs(name: string, args: string[]): Ended {
  const run = spawnSync(copyNamed(name), args, { encoding: 'utf8' });
  if (run.error) throw run.error;
  return { pid: run.pid, status: run.status, signal: run.signal, stderr: run.stderr };
}

/** Runs it as `name` with `args` in the background; resolves when it ends. */
export function runAsInBackground(name: string, args: string[]): Promise<Ended> {
  const child = spawn(copyNamed(name), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ pid: child.pid!, status, signal, stderr }));
  });
}

export interface Holder {
  /** The holder's own pid. */
  pid: number;
  /** Its children, each with its threads started. */
  children: number[];
  /** Kills the children and waits for the holder to end. */
  release(): Promise<Ended>;
}

/** Starts `processes` children, each of which starts and ends `threads` threads and then keeps `threads` more; resolves once all are running. */
export async function holdAs(name: string, processes: number, threads: number): Promise<Holder> {
  const child: ChildProcessWithoutNullStreams = spawn(copyNamed(name), ['hold', String(processes), String(threads)]);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const ended = new Promise<Ended>((resolve) => child.on('close', (status, signal) => resolve({ pid: child.pid!, status, signal, stderr })));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('\n')) resolve(stdout.trim());
    });
    void ended.then((end) => reject(new Error(`the holder ended before its children were ready: ${JSON.stringify(end)}`)));
  });
  return {
    pid: child.pid!,
    children: line.split(' ').map(Number),
    release() {
      child.stdin.end();
      return ended;
    },
  };
}

export function removeCopies(): void {
  rmSync(dir, { recursive: true, force: true });
}
