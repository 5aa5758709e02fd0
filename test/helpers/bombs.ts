// Fork bombs for the detector's tests, each started inside a containment (a pids cgroup
// capped at 1000 tasks or fewer, and CPU-capped): never run one any other way.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package.js';
import type { Containment } from './cgroup.js';

export interface RunningBomb {
  /** The bomb's first process (the wrapper that exec'd it; the bash bomb's first copy soon exits). */
  pid: number;
  /** Date.now() when it was let go, inside its cgroups. */
  startedAt: number;
  containment: Containment;
  /** Destroys the containment: every copy is killed and the cgroups are removed. */
  stop(): Promise<void>;
}

// Each bomb also checks for itself that it is in a forkwatch-test pids cgroup (the v1
// "N:pids:" line, else the v2 "0::" line), so that a mistake elsewhere cannot set one free.
const CONTAINED = String.raw`grep -Eq '^[0-9]+:([^:]*,)?pids(,[^:]*)?:.*/forkwatch-test-|^0::.*/forkwatch-test-' /proc/self/cgroup`;

/** The classic shell bomb, `:(){ :|:& };:`: each copy forks twice and never execs (comm "bash"). */
export const BASH_BOMB = ':(){ :|:& };:';

function start(containment: Containment, argv: string[], pidsDir?: string): RunningBomb {
  const child = containment.start(argv, pidsDir);
  return {
    pid: child.pid!,
    startedAt: Date.now(),
    containment,
    stop: () => containment.destroy(),
  };
}

export function startBashBomb(containment: Containment): RunningBomb {
  return start(containment, ['bash', '-c', `${CONTAINED} || { echo 'bomb: not contained' >&2; exit 2; }; ${BASH_BOMB}`]);
}

let binary: Buffer | undefined;

/** Builds test/helpers/bomb.c once per test run, keeping the program in memory only. */
function built(): Buffer {
  if (binary !== undefined) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-bomb-build-'));
  try {
    // From the package root, so that the compiled bench (dist-bench/) finds it too.
    execFileSync('cc', ['-O2', '-o', join(dir, 'bomb'), join(packageRoot, 'test', 'helpers', 'bomb.c')], { stdio: 'inherit' });
    binary = readFileSync(join(dir, 'bomb'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return binary;
}

/**
 * A C program looping on fork(), run as a copy named `name` (so its comm is `name`, at most
 * 15 bytes). `pidsDir`: a cgroup below the containment's to start it in (see Containment.start).
 */
export function startCBomb(containment: Containment, name = 'fw-cbomb', pidsDir?: string): RunningBomb {
  if (name === '' || name.includes('/') || Buffer.byteLength(name) > 15) {
    throw new Error(`a bomb's name must be 1 to 15 bytes without "/" (the kernel's comm), got ${JSON.stringify(name)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-bomb-'));
  try {
    const copy = join(dir, name);
    writeFileSync(copy, built(), { mode: 0o755 });
    const bomb = start(containment, [copy], pidsDir);
    // Once the copy runs, its file is not needed (the kernel keeps a running program's
    // inode), so nothing is left in /tmp however the test ends.
    const deadline = Date.now() + 5000;
    while (comm(bomb.pid) === 'sh' && Date.now() < deadline) Atomics.wait(pause, 0, 0, 2);
    return bomb;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
