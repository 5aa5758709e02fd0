// Real cgroups in kubelet's layouts, for the pod PID tests: below a test-only parent (a
// containment from cgroup.ts, itself capped), a pod cgroup with its own pids.max and
// container cgroups below it, and pid-holders (pid-holder.c) placed in them the way runc
// places a container's first process: write its pid to cgroup.procs, then exec.
//
// Anything else started in the pod's cgroups (a contained bomb: containment.start with the
// pod's cgroup) is inside the containment's caps and is killed with the containment's means.
//
// Teardown: every holder ends itself (it kills and reaps its own children), whatever else is
// in the pod's cgroups is killed, then the pod's cgroups are removed deepest first, then the
// containment.
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createContainment, type Containment } from './cgroup.js';

/** The containment's cap: above every pod limit these tests set, far below the 1000 allowed. */
const PARENT_PIDS_MAX = 200;

export interface Holder {
  pid: number;
  /** Forks that succeeded and forks the kernel refused (EAGAIN), as the holder counted them. */
  forked: number;
  refused: number;
  /** Ends the holder and its children; resolves once it has exited. */
  end(): Promise<void>;
}

export interface PodCgroups {
  version: 1 | 2;
  /** The test cgroup (capped) the pod's cgroups are made in. */
  containment: Containment;
  /** What findPidsHierarchy() takes: the parent of a v1 "pids" mount, or the cgroup2 mount. */
  cgroupRoot: string;
  /** The pod's cgroup relative to its hierarchy's root, as /proc/<pid>/cgroup shows it. */
  podPath: string;
  podDir: string;
  /** Container name (the last path element) -> its directory. */
  containerDirs: Map<string, string>;
  /** Starts a holder making `attempts` forks in `dir`; resolves when it has made them. */
  hold(dir: string, attempts: number): Promise<Holder>;
  /** Removes a container's cgroup (its holders must have ended), as a runtime does on restart. */
  removeContainer(name: string): Promise<void>;
  destroy(): Promise<void>;
}

const buildDir = mkdtempSync(join(tmpdir(), 'forkwatch-pid-holder-'));
const holderBinary = join(buildDir, 'pid-holder');
let built = false;

function buildHolder(): void {
  if (built) return;
  execFileSync('cc', ['-O2', '-o', holderBinary, fileURLToPath(new URL('./pid-holder.c', import.meta.url))], { stdio: 'inherit' });
  built = true;
}

process.on('exit', () => rmSync(buildDir, { recursive: true, force: true }));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** v2 children see a controller only once their parent lists it in cgroup.subtree_control. */
function enablePidsForChildren(dir: string): void {
  writeFileSync(join(dir, 'cgroup.subtree_control'), '+pids');
}

/**
 * Makes `podElements` (e.g. ["kubepods", "burstable", "pod<uid>"]) below a new containment,
 * sets the last one's pids.max to `podPidsMax`, and makes each of `containers` below it.
 */
export async function createPodCgroups(podElements: string[], containers: string[], podPidsMax: number): Promise<PodCgroups> {
  buildHolder();
  const containment: Containment = createContainment(PARENT_PIDS_MAX);
  const base = containment.paths[0]!; // the pids (v1) or only (v2) directory
  const version = existsSync(join(base, 'cgroup.controllers')) ? 2 : 1;
  const hierarchyDir = version === 1 ? dirname(base) : dirname(dirname(base));
  const made: string[] = [];
  const holders = new Set<ChildProcessByStdio<Writable, Readable, null>>();

  const destroy = async (): Promise<void> => {
    const ending = [...holders].map(async (child) => {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    });
    await Promise.all(ending);
    await containment.killAll();
    for (const dir of [...made].reverse()) await removeDir(dir);
    await containment.destroy();
  };

  try {
    let dir = base;
    for (const element of [...podElements]) {
      if (version === 2) enablePidsForChildren(dir);
      dir = join(dir, element);
      mkdirSync(dir);
      made.push(dir);
    }
    const podDir = dir;
    writeFileSync(join(podDir, 'pids.max'), String(podPidsMax));
    if (version === 2 && containers.length > 0) enablePidsForChildren(podDir);
    const containerDirs = new Map<string, string>();
    for (const name of containers) {
      const containerDir = join(podDir, name);
      mkdirSync(containerDir);
      made.push(containerDir);
      containerDirs.set(name, containerDir);
    }
    if (version === 1 && basename(hierarchyDir) !== 'pids') {
      throw new Error(`the v1 pids hierarchy is mounted at ${hierarchyDir}, not at <root>/pids as forkwatch expects`);
    }

    return {
      version,
      containment,
      cgroupRoot: version === 1 ? dirname(hierarchyDir) : hierarchyDir,
      podPath: `/${relative(hierarchyDir, podDir)}`,
      podDir,
      containerDirs,
      async hold(target: string, attempts: number): Promise<Holder> {
        const child = spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec "$2" "$3"', 'sh', target, holderBinary, String(attempts)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        holders.add(child);
        const exited = once(child, 'exit').then(() => {
          throw new Error(`the pid-holder in ${target} exited before reporting`);
        });
        const line = once(createInterface(child.stdout), 'line').then(([text]) => text as string);
        const report = await Promise.race([line, exited]);
        const match = /^forked (\d+) refused (\d+)$/.exec(report);
        if (match === null) throw new Error(`unexpected pid-holder output: ${report}`);
        const end = async (): Promise<void> => {
          child.stdin.end();
          if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
          holders.delete(child);
        };
        return { pid: child.pid!, forked: Number(match[1]), refused: Number(match[2]), end };
      },
      async removeContainer(name: string): Promise<void> {
        const containerDir = containerDirs.get(name)!;
        await removeDir(containerDir);
        made.splice(made.indexOf(containerDir), 1);
        containerDirs.delete(name);
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

export interface Held {
  pid: number;
  /** Moves it into its cgroup and has it exec `sh`, which then waits for release(). */
  move(): void;
  /** Lets it go on: closes its stdin, and resolves once it has exited. */
  release(): Promise<void>;
}

/**
 * Starts `program` (a shell; `sh` by default, or a copy under a name of the test's) to run
 * `script` the way runc starts a container's process: once move() is called, it writes its
 * pid to `dir`'s cgroup.procs, then execs `sh`, which waits for its stdin to close before
 * the script runs (`exit 3`, `kill -KILL $$`, ...). So it is alive, in `dir`, until
 * release(), however busy the machine. Until move(), it is still in the caller's cgroup,
 * which lets a test see its first exec (node's child exec'ing `program`) read there. The
 * caller's containment caps `dir`.
 */
export function startInCgroup(dir: string, script: string, program = 'sh'): Held {
  const child = spawn(program, ['-c', `read go; echo $$ > "$1/cgroup.procs" && exec sh -c "read line; $2"`, 'sh', dir, script], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  let failed: Error | undefined;
  child.once('error', (error) => (failed = error));
  return {
    pid: child.pid!,
    move() {
      child.stdin.write('go\n');
    },
    async release() {
      if (failed) throw new Error(`${program} in ${dir} could not be started`, { cause: failed });
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}

/** rmdir, waiting out the moment an exited task still counts (EBUSY). */
async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 100) {
        const procs = existsSync(join(dir, 'cgroup.procs')) ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() : '';
        throw new Error(`cannot remove ${dir}: ${(error as Error).message}${procs ? ` (processes in it: ${procs})` : ''}`, { cause: error });
      }
      await pause(20);
    }
  }
}
