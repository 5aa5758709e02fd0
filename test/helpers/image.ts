// forkwatch's container image, built from the repository's Dockerfile and run by a real
// container engine: Debian's podman, as root, with runc (crun refuses hosts whose cgroups
// are hybrid v1/v2). No image registry is reachable from the project's machines, and npm's
// registry is not reachable from inside a build, so:
// - the base image is made here: Debian bookworm (debootstrap) plus the Node.js that runs
//   the tests, laid out as the official node images lay it out, and kept between runs;
// - the image is built with its package ready-made (the Dockerfile's `prebuilt` target)
//   from the checkout the tests run from, assembled as the Dockerfile's `package` stage
//   lays it out.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packageRoot } from '../../src/package.js';

const RUNTIME = '/usr/sbin/runc';

/** Runs a command to completion; throws with its output when it fails. */
function run(file: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error) throw new Error(`${file} did not start: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${String(result.stdout)}${String(result.stderr)}`);
  }
  return String(result.stdout);
}

/**
 * podman with runc, and the open-file and process limits of the session (runc cannot raise
 * a container's limits above them), for the subcommands that start containers.
 */
export function podman(args: string[]): string {
  return run('podman', ['--runtime', RUNTIME, ...args]);
}

/** A container's output: podman logs replays its stdout and its stderr (forkwatch's log) on its own. */
export function containerLogs(name: string): string {
  const result = spawnSync('podman', ['logs', name], { encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`;
}

export const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

/** Why this machine cannot build and run the image, or undefined if it can. */
export function imageUnavailable(): string | undefined {
  // Rootless podman runs every container in a user namespace, where the kernel ignores
  // the subscription.
  if (process.getuid?.() !== 0) return 'needs root (rootless podman cannot run forkwatch)';
  const missing = [
    ['podman', ['--version']],
    [RUNTIME, ['--version']],
    ['debootstrap', ['--version']],
    ['strace', ['-V']],
  ].filter(([file, args]) => spawnSync(file as string, args as string[]).error !== undefined);
  if (missing.length > 0) return `missing ${missing.map(([file]) => file).join(', ')} (apt-get install podman runc debootstrap strace)`;
  return undefined;
}

/** The Node.js running the tests: the base image carries it, so the addon built here loads there. */
const nodePrefix = dirname(dirname(process.execPath));

/** The base image's name: one per Node.js version, kept between runs. */
export const BASE_IMAGE = `localhost/forkwatch-test-base:bookworm-node-${process.versions.node}`;

/** Makes the base image unless an earlier run left it; returns its name. */
export function ensureBaseImage(): string {
  if (spawnSync('podman', ['image', 'exists', BASE_IMAGE]).status === 0) return BASE_IMAGE;
  // On disk, not in a tmpfs /tmp: the tree is some 300 MB.
  const dir = mkdtempSync('/var/tmp/forkwatch-base-');
  try {
    const root = join(dir, 'root');
    run('debootstrap', ['--variant=minbase', 'bookworm', root]);
    // As node:<version>-bookworm-slim lays it out: node, npm and npx in /usr/local/bin, npm in
    // /usr/local/lib/node_modules, the headers (for node-gyp) in /usr/local/include/node.
    const local = join(root, 'usr', 'local');
    mkdirSync(join(local, 'bin'), { recursive: true });
    cpSync(process.execPath, join(local, 'bin', 'node'));
    cpSync(join(nodePrefix, 'lib', 'node_modules', 'npm'), join(local, 'lib', 'node_modules', 'npm'), { recursive: true, verbatimSymlinks: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
    cpSync(join(nodePrefix, 'include', 'node'), join(local, 'include', 'node'), { recursive: true });
    run('bash', ['-o', 'pipefail', '-c', 'tar -C "$1" -c . | podman import --change "$2" - "$3"', 'import', root, 'CMD ["node"]', BASE_IMAGE]);
    return BASE_IMAGE;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the Dockerfile's package stage copies into /opt/forkwatch, beside the production
 * dependencies that PRODUCTION_INSTALL makes (test/deploy/dockerfile.test.ts checks both).
 */
export const PACKAGE_FILES = ['package.json', 'package-lock.json', 'build/Release/forkwatch.node', 'dist/src'];
export const PRODUCTION_INSTALL = ['npm', 'ci', '--omit=dev', '--ignore-scripts'];

/** Lays the package out in `dir` from this checkout's build, as the package stage does. */
export function assemblePackage(dir: string): void {
  for (const path of PACKAGE_FILES) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    cpSync(join(packageRoot, path), join(dir, path), { recursive: true });
  }
  run(PRODUCTION_INSTALL[0]!, PRODUCTION_INSTALL.slice(1), { cwd: dir });
}

/**
 * Builds the image from the repository's Dockerfile with the package in `context`. Every
 * image the build makes (the final one and each stage's layers) carries `label`, which
 * removeImages removes by.
 */
export function buildImage(context: string, tag: string, label: string): void {
  podman([
    'build',
    ...['--label', label],
    ...['--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '--target', 'prebuilt'],
    ...['--file', join(packageRoot, 'Dockerfile'), '--tag', tag],
    context,
  ]);
}

export function removeImages(label: string): void {
  podman(['image', 'prune', '--all', '--force', '--filter', `label=${label}`]);
}
