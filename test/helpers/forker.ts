// Builds test/helpers/forker.c once per test run, and runs copies of it under chosen names.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package.js';

// From the package root, so that the bench's compiled copy of this file finds it too.
const source = join(packageRoot, 'test', 'helpers', 'forker.c');
const dir = mkdtempSync(join(tmpdir(), 'forkwatch-forker-'));
const binary = join(dir, 'forker');
let built = false;

function build(): void {
  if (built) return;
  execFileSync('cc', ['-O2', '-pthread', '-o', binary, source], { stdio: 'inherit' });
  built = true;
}

/** A unique command name (at most 15 bytes, as the kernel keeps), e.g. "fw-ab12cd". */
export function uniqueName(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`.slice(0, 15);
}

/** A copy of forker named `name` (so its command name after exec is `name`); returns its path. */
export function forkerNamed(name: string): string {
  build();
  const copy = join(dir, name);
  copyFileSync(binary, copy);
  return copy;
}

/** Runs `name` (a copy of forker, so its command name after exec is `name`): N forks. */
export function forkAs(name: string, forks: number): void {
  execFileSync(forkerNamed(name), ['forks', String(forks)]);
}

/** Starts `name` (a copy of forker) making N forks, without waiting for it. */
export function startForksAs(name: string, forks: number): ChildProcess {
  build();
  const copy = join(dir, name);
  copyFileSync(binary, copy);
  return spawn(copy, ['forks', String(forks)], { stdio: 'ignore' });
}

/**
 * Runs `firstName` (a copy of forker), which forks `before` times, pauses, renames itself
 * to the bytes `name` (prctl) and then forks `forks` times.
 */
export function forkRenamed(firstName: string, before: number, name: Uint8Array, forks: number): void {
  build();
  const copy = join(dir, firstName);
  copyFileSync(binary, copy);
  execFileSync(copy, ['forks', String(forks), Buffer.from(name).toString('hex'), String(before)]);
}

/**
 * Runs forker, which names itself `name` (prctl) and then forks N times. The kernel's COMM
 * event carries the name, so a watcher knows it however late it would read /proc.
 */
export function forkSelfNamed(name: string, forks: number): void {
  build();
  execFileSync(binary, ['forks', String(forks), Buffer.from(name).toString('hex')]);
}

/** Runs `name` (a copy of forker) which starts and joins N threads. */
export function threadsAs(name: string, threads: number): void {
  build();
  const copy = join(dir, name);
  copyFileSync(binary, copy);
  execFileSync(copy, ['threads', String(threads)]);
}

/**
 * Runs a copy of forker as `user` (setpriv: no capabilities, no groups) that makes `count`
 * processes named `<prefix><i>`, each forking a chain `depth` deep without exec.
 */
export function namedChainsAs(user: number, prefix: string, count: number, depth: number): void {
  build();
  const copy = join(dir, 'fw-chains');
  copyFileSync(binary, copy);
  chmodSync(dir, 0o755); // the unprivileged user must reach the copy
  execFileSync('setpriv', ['--reuid', String(user), '--regid', String(user), '--clear-groups', '--inh-caps=-all', copy, 'chains', String(count), prefix, String(depth)]);
}

/** The temporary folder the forker copies live in (removed by removeForkers). */
export function forkerDir(): string {
  return dir;
}

export function removeForkers(): void {
  rmSync(dir, { recursive: true, force: true });
}
