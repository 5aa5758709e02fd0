// Another build of the native addon, for the tests that need one (failure injection,
// sanitizers): a copy of the package in a temporary folder of its own, with the addon
// built there by the package's own build:native script and binding.gyp, under other gyp
// variables. The real build (build/Release) is never touched, and the copied code runs
// unchanged: src/package.ts finds the copy's package.json, so the copy loads its own addon.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package.js';

export interface AddonVariant {
  /** The copy's package root. */
  root: string;
  /** The copy's forkwatch command (dist/src/cli.js), as `npm start` runs it. */
  cli: string;
  remove(): void;
}

/**
 * Copies what `parts` names (package.json, binding.gyp and native/ always) and builds the
 * addon with `gypDefines` (binding.gyp's variables). Takes some seconds: once per test file.
 */
export function buildAddonVariant(name: string, gypDefines: Record<string, string | number>, parts: string[] = ['dist']): AddonVariant {
  const root = mkdtempSync(join(tmpdir(), `forkwatch-${name}-`));
  try {
    for (const part of ['package.json', 'binding.gyp', 'native', ...parts]) {
      cpSync(join(packageRoot, part), join(root, part), { recursive: true });
    }
    symlinkSync(join(packageRoot, 'node_modules'), join(root, 'node_modules'));
    const defines = Object.entries(gypDefines).map(([key, value]) => `${key}=${value}`);
    execFileSync('npm', ['run', '--silent', 'build:native'], {
      cwd: root,
      env: { ...process.env, GYP_DEFINES: [process.env.GYP_DEFINES ?? '', ...defines].join(' ').trim() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`building the ${name} addon failed: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
  return {
    root,
    cli: join(root, 'dist', 'src', 'cli.js'),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
