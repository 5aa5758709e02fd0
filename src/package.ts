// Where forkwatch is installed, and its version. This file runs from src/ (tests) or
// dist/src/ (the built package), so the package root is found by looking upwards.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find forkwatch's package.json above ${fileURLToPath(import.meta.url)}`);
}

export const packageRoot = findPackageRoot();

export const version: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
