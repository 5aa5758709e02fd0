// Builds test/helpers/forker.c once per test run, and runs copies of it under chosen names.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./forker.c', import.meta.url));
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

/** Runs `name` (a copy of forker, so its command name after exec is `name`): N forks. */
export function forkAs(name: string, forks: number): void {
  build();
  const copy = join(dir, name);
  copyFileSync(binary, copy);
  execFileSync(copy, ['forks', String(forks)]);
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

/** Runs `name` (a copy of forker) which starts and joins N threads. */
export function threadsAs(name: string, threads: number): void {
  build();
  const copy = join(dir, name);
  copyFileSync(binary, copy);
  execFileSync(copy, ['threads', String(threads)]);
}

/** The temporary folder the forker copies live in (removed by removeForkers). */
export function forkerDir(): string {
  return dir;
}

export function removeForkers(): void {
  rmSync(dir, { recursive: true, force: true });
}
