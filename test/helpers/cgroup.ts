// Containment for fork bombs: a pids cgroup (capped at 1000 tasks or fewer) and, where
// the cpu controller exists, a CPU cap of half a CPU, so that a bomb can neither exhaust
// the machine's PIDs nor starve it. Works on cgroup v1 (one hierarchy per controller)
// and v2 (one hierarchy; children under a dedicated parent).
//
// Every process in a containment descends from a command started by `start()` (or
// `wrap()`), so every pid listed in its cgroup.procs is ours to kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const MAX_PIDS_CAP = 1000;
const NAME_PREFIX = 'forkwatch-test-';
/** v2 only: the parent of every containment, so the root needs no new children of ours. */
const V2_PARENT = 'forkwatch-tests';
const CPU_QUOTA_US = 50_000;
const CPU_PERIOD_US = 100_000;
/** Kill rounds before destroy() gives up: about 8 s in all. */
const KILL_ROUNDS = 40;

export interface Containment {
  name: string;
  pidsMax: number;
  /** The processes in the containment now (its pids cgroup's cgroup.procs). */
  pids(): number[];
  /** The command prefix that enters the cgroup(s) then execs: `sh -c '…' sh ...argv`. */
  wrap(argv: string[]): string[];
  /**
   * Empties the cgroups (stops forking first, then SIGKILLs every member) and removes them,
   * with any cgroup a test made below them.
   */
  destroy(): Promise<void>;
  /** Kills every member, in the cgroups and below them, leaving the cgroups (and forking stopped). */
  killAll(): Promise<void>;
  /**
   * Starts `argv` inside, output discarded. The wrapper stops itself after entering the
   * cgroups; this checks from /proc/<pid>/cgroup that it is inside every one of them and
   * only then lets it exec `argv`. Throws (having killed the wrapper) if it is not.
   * `pidsDir`, a cgroup a test made below the containment's pids (v1) or only (v2) cgroup,
   * is entered instead of that one: the containment's caps hold there too.
   */
  start(argv: string[], pidsDir?: string): ChildProcess;
  /** The cgroup directories made for this containment; all are gone after destroy(). */
  readonly paths: readonly string[];
  /** False where no cpu controller was available: then only the pids cap holds the bomb. */
  readonly cpuCapped: boolean;
  /** How many forks failed at the cap (the `max` line of pids.events). */
  maxHits(): number;
}

// ---- Where the controllers are ----------------------------------------------------------

interface V1Layout {
  version: 1;
  pids: string;
  cpu?: string;
  freezer?: string;
}

interface V2Layout {
  version: 2;
  mount: string;
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Finds the pids controller: v1 if it is bound to a v1 hierarchy, else a v2 mount that offers it. */
function layout(): V1Layout | V2Layout {
  const mounts = readText('/proc/self/mounts')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields.length >= 4)
    .map(([, dir, type, options]) => ({ dir: unescapeMount(dir!), type: type!, options: options!.split(',') }));
  const v1 = (controller: string): string | undefined =>
    mounts.find((m) => m.type === 'cgroup' && m.options.includes(controller))?.dir;

  const pids = v1('pids');
  if (pids !== undefined) return { version: 1, pids, cpu: v1('cpu'), freezer: v1('freezer') };
  for (const m of mounts) {
    if (m.type !== 'cgroup2') continue;
    let controllers: string[];
    try {
      controllers = readText(join(m.dir, 'cgroup.controllers')).split(/\s+/);
    } catch {
      continue;
    }
    if (controllers.includes('pids')) return { version: 2, mount: m.dir };
  }
  throw new Error('no pids cgroup controller: neither a v1 pids hierarchy nor a cgroup2 mount offering pids');
}

/** /proc/self/mounts writes space, tab, newline and backslash in octal. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

// ---- The cgroups of one containment ------------------------------------------------------

/** A cgroup directory and the controller it was made for ('' for v2's single hierarchy). */
interface Joined {
  dir: string;
  controller: string;
}

/** Files and directories of one containment, whatever the version. */
interface Cgroups {
  name: string;
  /** Directories each member must join (v1: one per hierarchy; v2: one). */
  joined: Joined[];
  /** The directory with pids.max, pids.events and the cgroup.procs that pids() reads. */
  pidsDir: string;
  /** Freezes (v1 freezer.state, v2 cgroup.freeze), so listed pids cannot exit and be reused. */
  freeze?: { file: string; on: string; off: string; frozen(): boolean };
  /** v2's cgroup.kill: the kernel SIGKILLs every member at once. */
  killFile?: string;
  /** v2: the shared parent, removed when its last child goes. */
  parent?: string;
  cpuCapped: boolean;
}

/** Writes `value` and reads it back: cgroup files reject bad values with EINVAL, but check. */
function writeChecked(file: string, value: string): void {
  writeFileSync(file, value);
  const back = readText(file).trim();
  if (back !== value) throw new Error(`${file}: wrote ${JSON.stringify(value)} but it reads ${JSON.stringify(back)}`);
}

/**
 * Sets pids.max to the cap, having checked that it accepts 0, which is how destroy()
 * stops all forking (a lower limit than the current count blocks every fork).
 */
function capPids(dir: string, pidsMax: number): boolean {
  let acceptsZero = true;
  try {
    writeChecked(join(dir, 'pids.max'), '0');
  } catch {
    acceptsZero = false;
  }
  writeChecked(join(dir, 'pids.max'), String(pidsMax));
  return acceptsZero;
}

function makeV1(layout: V1Layout, name: string, pidsMax: number, made: string[]): Cgroups {
  // One directory per hierarchy (controllers mounted together share one).
  const joined: Joined[] = [];
  const dirFor = (mount: string, controller: string): string => {
    const dir = join(mount, name);
    const known = joined.find((j) => j.dir === dir);
    if (known !== undefined) return dir;
    mkdirSync(dir);
    made.push(dir);
    joined.push({ dir, controller });
    return dir;
  };

  const pidsDir = dirFor(layout.pids, 'pids');
  const acceptsZero = capPids(pidsDir, pidsMax);

  // The CPU cap protects the machine's other users. Without a cpu controller (or if it
  // refuses the quota) the bomb still runs, held by the pids cap alone: cpuCapped says so.
  let cpuCapped = false;
  if (layout.cpu !== undefined) {
    const cpuDir = dirFor(layout.cpu, 'cpu');
    try {
      writeChecked(join(cpuDir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      writeChecked(join(cpuDir, 'cpu.cfs_quota_us'), String(CPU_QUOTA_US));
      cpuCapped = true;
    } catch {
      cpuCapped = false;
    }
  }

  const freeze = layout.freezer === undefined ? undefined : v1Freezer(dirFor(layout.freezer, 'freezer'));
  if (!acceptsZero && freeze === undefined) {
    throw new Error(`${pidsDir}/pids.max does not accept 0 and no freezer controller is mounted: a bomb in it could not be stopped`);
  }
  return { name, joined, pidsDir, freeze, cpuCapped };
}

/** Enables a controller for a v2 cgroup's children; false if it cannot. */
function enableV2(dir: string, controller: string): boolean {
  const enabled = (): boolean => readText(join(dir, 'cgroup.subtree_control')).split(/\s+/).includes(controller);
  if (enabled()) return true;
  if (!readText(join(dir, 'cgroup.controllers')).split(/\s+/).includes(controller)) return false;
  try {
    writeFileSync(join(dir, 'cgroup.subtree_control'), `+${controller}`);
  } catch {
    return false;
  }
  return enabled();
}

function makeV2(layout: V2Layout, name: string, pidsMax: number, made: string[]): Cgroups {
  // The mount's root must hand pids (and cpu) down. If it does not yet, this enables them
  // there (a system-wide change, left in place as others may come to rely on it); in a
  // non-root cgroup that holds processes the kernel refuses (EBUSY), and containment is
  // unavailable.
  if (!enableV2(layout.mount, 'pids')) throw new Error(`cannot enable the pids controller in ${layout.mount}/cgroup.subtree_control`);
  const cpuAtRoot = enableV2(layout.mount, 'cpu');
  const parent = join(layout.mount, V2_PARENT);
  try {
    mkdirSync(parent);
    made.push(parent);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // The parent holds no processes, so enabling controllers for its children always works.
  if (!enableV2(parent, 'pids')) throw new Error(`cannot enable the pids controller in ${parent}/cgroup.subtree_control`);
  let cpu = cpuAtRoot && enableV2(parent, 'cpu');

  const dir = join(parent, name);
  mkdirSync(dir);
  made.push(dir);
  const acceptsZero = capPids(dir, pidsMax);
  // The CPU cap protects the machine's other users. Without a cpu controller (or if it
  // refuses the quota) the bomb still runs, held by the pids cap alone: cpuCapped says so.
  if (cpu) {
    try {
      writeChecked(join(dir, 'cpu.max'), `${CPU_QUOTA_US} ${CPU_PERIOD_US}`);
    } catch {
      cpu = false;
    }
  }
  const cgroups = v2Cgroups(name, dir, parent, cpu);
  if (!acceptsZero && cgroups.freeze === undefined && cgroups.killFile === undefined) {
    throw new Error(`${dir}/pids.max does not accept 0 and there is neither cgroup.kill nor cgroup.freeze: a bomb in it could not be stopped`);
  }
  return cgroups;
}

function v1Freezer(dir: string): Cgroups['freeze'] {
  const file = join(dir, 'freezer.state');
  return { file, on: 'FROZEN', off: 'THAWED', frozen: () => readText(file).trim() === 'FROZEN' };
}

function v2Cgroups(name: string, dir: string, parent: string, cpuCapped: boolean): Cgroups {
  const freezeFile = join(dir, 'cgroup.freeze');
  const freeze = existsSync(freezeFile)
    ? { file: freezeFile, on: '1', off: '0', frozen: () => /^frozen 1$/m.test(readText(join(dir, 'cgroup.events'))) }
    : undefined;
  const killFile = existsSync(join(dir, 'cgroup.kill')) ? join(dir, 'cgroup.kill') : undefined;
  return { name, joined: [{ dir, controller: '' }], pidsDir: dir, freeze, killFile, parent, cpuCapped };
}

/** The cgroups of an existing containment, found by name (one another process made). */
function existingCgroups(name: string): Cgroups {
  if (!name.startsWith(NAME_PREFIX) || name.includes('/')) throw new Error(`not a containment's name: ${JSON.stringify(name)}`);
  const found = layout();
  if (found.version === 2) {
    const parent = join(found.mount, V2_PARENT);
    return v2Cgroups(name, join(parent, name), parent, false);
  }
  const joined: Joined[] = [];
  for (const [controller, mount] of [['pids', found.pids], ['cpu', found.cpu], ['freezer', found.freezer]] as const) {
    const dir = mount === undefined ? undefined : join(mount, name);
    if (dir !== undefined && existsSync(dir) && !joined.some((j) => j.dir === dir)) joined.push({ dir, controller });
  }
  const freezerDir = found.freezer === undefined ? undefined : joined.find((j) => j.dir === join(found.freezer!, name))?.dir;
  return { name, joined, pidsDir: join(found.pids, name), freeze: freezerDir === undefined ? undefined : v1Freezer(freezerDir), cpuCapped: false };
}

/** `dir` and every cgroup below it, parents before children (a test may nest cgroups inside). */
function subtree(dir: string): string[] {
  const found = [dir];
  for (let i = 0; i < found.length; i++) {
    let entries;
    try {
      entries = readdirSync(found[i]!, { withFileTypes: true });
    } catch {
      continue; // removed meanwhile
    }
    for (const entry of entries) if (entry.isDirectory()) found.push(join(found[i]!, entry.name));
  }
  return found;
}

function members(cgroups: Cgroups): number[] {
  const pids = new Set<number>();
  for (const dir of cgroups.joined.flatMap((joined) => subtree(joined.dir))) {
    let text: string;
    try {
      text = readText(join(dir, 'cgroup.procs'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const line of text.split('\n')) if (line !== '') pids.add(Number(line));
  }
  return [...pids];
}

function writeIfThere(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * The teardown, as steps: it yields how many milliseconds to wait before going on, so that
 * destroy() can wait asynchronously and the exit handler synchronously, with one logic.
 */
function* teardown(cgroups: Cgroups): Generator<number, void, void> {
  yield* killing(cgroups);
  yield* removal(cgroups);
}

/**
 * Kills every process in the containment's cgroups and in any cgroup made below them.
 * Forking stays impossible afterwards (pids.max 0).
 */
function* killing(cgroups: Cgroups): Generator<number, void, void> {
  // First no fork can succeed any more, so killing converges.
  writeIfThere(join(cgroups.pidsDir, 'pids.max'), '0');
  if (cgroups.killFile !== undefined) writeIfThere(cgroups.killFile, '1');

  let left = members(cgroups);
  for (let round = 0; round < KILL_ROUNDS && left.length > 0; round++) {
    const { freeze } = cgroups;
    if (freeze !== undefined) {
      // Frozen, a listed process cannot exit before the SIGKILL, so its pid cannot have
      // been reused by anyone else's process when the signal goes.
      writeIfThere(freeze.file, freeze.on);
      for (let wait = 0; wait < 20 && existsSync(freeze.file) && !freeze.frozen(); wait++) yield 10;
    }
    for (const pid of members(cgroups)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    if (freeze !== undefined) writeIfThere(freeze.file, freeze.off); // a killed frozen task dies when thawed
    yield Math.min(200, 10 * (round + 1));
    left = members(cgroups);
  }
  if (left.length > 0) {
    throw new Error(
      `containment ${cgroups.name}: ${left.length} processes still in it after ${KILL_ROUNDS} rounds of SIGKILL ` +
        `(pids ${left.slice(0, 20).join(' ')}${left.length > 20 ? ' …' : ''}); its cgroups stay: ${dirsOf(cgroups).join(' ')}`,
    );
  }
}

/** Removes the containment's cgroups, and any cgroup left below them, deepest first. */
function* removal(cgroups: Cgroups): Generator<number, void, void> {
  // The last exit can take a moment to leave the cgroup populated (EBUSY).
  for (const dir of dirsOf(cgroups).flatMap(subtree).reverse()) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt >= 50) throw new Error(`cannot remove ${dir}: ${(error as Error).message}`, { cause: error });
        yield 20;
      }
    }
  }
  if (cgroups.parent !== undefined) {
    try {
      rmdirSync(cgroups.parent);
    } catch {
      // Another containment (maybe another test process's) still lives in it.
    }
  }
}

async function runAsync(steps: Generator<number, void, void>): Promise<void> {
  for (let step = steps.next(); !step.done; step = steps.next()) {
    await new Promise((resolve) => setTimeout(resolve, step.value));
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
function runSync(steps: Generator<number, void, void>): void {
  for (let step = steps.next(); !step.done; step = steps.next()) Atomics.wait(pause, 0, 0, step.value);
}

// ---- Live containments and the exit fallback ----------------------------------------------

const live = new Set<ContainmentImpl>();

/** Tears down every live containment synchronously, for when the process is ending. */
function destroyAllNow(): void {
  for (const containment of live) {
    try {
      runSync(teardown(containment.cgroups));
      live.delete(containment);
    } catch (error) {
      process.stderr.write(`forkwatch tests: could not clean up containment ${containment.name}: ${(error as Error).message}\n`);
    }
  }
}

// A test that crashes, or a process that exits or is told to end without destroying its
// containments, still leaves no bomb and no cgroup behind. Vitest ends its fork workers
// with SIGTERM, which skips 'exit' handlers, hence the signals. SIGKILL skips everything.
process.on('exit', destroyAllNow);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  const onSignal = (): void => {
    destroyAllNow();
    // Then die of the signal as if no one had listened, unless another listener handles it.
    if (process.listenerCount(signal) === 1) {
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  process.on(signal, onSignal);
}

/** Destroys every containment this process has not destroyed yet; rejects with every failure. */
export async function destroyAllContainments(): Promise<void> {
  const results = await Promise.allSettled([...live].map((containment) => containment.destroy()));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
  if (failures.length > 0) throw new Error(`could not destroy every containment:\n${failures.join('\n')}`);
}

/**
 * Destroys a containment by name that this process did not make, e.g. one a crashed test
 * process left: its members are that test's bomb, so they are killed like any others.
 */
export async function destroyContainmentNamed(name: string): Promise<void> {
  await runAsync(teardown(existingCgroups(name)));
}

/** The containments created and not yet destroyed, by name. */
export function liveContainments(): string[] {
  return [...live].map((containment) => containment.name);
}

/** The shell that joins each cgroup, optionally stops until checked, then execs "$@". */
function enterScript(dirs: readonly string[], stopFirst: boolean): string {
  const joins = dirs.map((dir) => `echo $$ > ${shellQuote(join(dir, 'cgroup.procs'))}`);
  return [...joins, ...(stopFirst ? ['kill -STOP $$'] : []), 'exec "$@"'].join(' && ');
}

/** State letter of /proc/<pid>/stat (R, S, T, Z…), or undefined once the pid is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = readText(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The cgroup paths of a process, from /proc/<pid>/cgroup (v1 lines per hierarchy, v2 "0::"). */
function cgroupLines(pid: number): string[] {
  return readText(`/proc/${pid}/cgroup`).split('\n').filter((line) => line !== '');
}

class ContainmentImpl implements Containment {
  readonly name: string;
  readonly paths: readonly string[];
  readonly cpuCapped: boolean;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly cgroups: Cgroups,
    readonly pidsMax: number,
  ) {
    this.name = cgroups.name;
    this.paths = dirsOf(cgroups);
    this.cpuCapped = cgroups.cpuCapped;
  }

  pids(): number[] {
    return readText(join(this.cgroups.pidsDir, 'cgroup.procs'))
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  }

  maxHits(): number {
    const match = /^max (\d+)$/m.exec(readText(join(this.cgroups.pidsDir, 'pids.events')));
    return match ? Number(match[1]) : 0;
  }

  wrap(argv: string[]): string[] {
    return ['sh', '-c', enterScript(this.paths, false), 'sh', ...argv];
  }

  start(argv: string[], pidsDir?: string): ChildProcess {
    if (this.destroying !== undefined) throw new Error(`containment ${this.name} is destroyed`);
    const pidsRoot = this.cgroups.pidsDir;
    if (pidsDir !== undefined && !pidsDir.startsWith(`${pidsRoot}/`)) throw new Error(`${pidsDir} is not below the containment's ${pidsRoot}`);
    // The path each /proc/<pid>/cgroup line must end with: the containment's name, or the nested cgroup.
    const entered = this.cgroups.joined.map((joined) =>
      pidsDir !== undefined && joined.dir === pidsRoot ? { ...joined, dir: pidsDir, suffix: `${this.name}/${relative(pidsRoot, pidsDir)}` } : { ...joined, suffix: this.name },
    );
    const child = spawn('sh', ['-c', enterScript(entered.map((joined) => joined.dir), true), 'sh', ...argv], { stdio: 'ignore' });
    child.on('error', () => undefined); // a failure shows below as a missing pid
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start sh for ${argv.join(' ')}`);

    const deadline = Date.now() + 5000;
    let state = processState(pid);
    while (state !== 'T') {
      if (state === undefined || state === 'Z') throw new Error(`the wrapper for ${argv.join(' ')} exited before stopping: could it not join ${this.paths.join(' ')}?`);
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        throw new Error(`the wrapper for ${argv.join(' ')} did not stop within 5 s`);
      }
      Atomics.wait(pause, 0, 0, 2);
      state = processState(pid);
    }
    const lines = cgroupLines(pid);
    const outside = entered.filter((joined) => !lines.some((line) => lineNames(line, joined, joined.suffix))).map((j) => j.dir);
    if (outside.length > 0) {
      process.kill(pid, 'SIGKILL'); // stopped before its exec: only the wrapper ends
      throw new Error(`pid ${pid} is not in ${outside.join(' ')} (its /proc/${pid}/cgroup: ${lines.join('; ')})`);
    }
    process.kill(pid, 'SIGCONT');
    return child;
  }

  killAll(): Promise<void> {
    return runAsync(killing(this.cgroups));
  }

  destroy(): Promise<void> {
    this.destroying ??= runAsync(teardown(this.cgroups)).then(
      () => {
        live.delete(this);
      },
      (error: unknown) => {
        this.destroying = undefined; // stays live: a later destroy or the exit handler tries again
        throw error;
      },
    );
    return this.destroying;
  }
}

/**
 * Whether a /proc/<pid>/cgroup line puts the process in `joined`: a v1 line lists its
 * hierarchy's controllers ("8:pids:/forkwatch-test-…"); the v2 line is "0::/…".
 */
function lineNames(line: string, joined: Joined, name: string): boolean {
  const [, controllers = '', path = ''] = line.split(':');
  if (!path.endsWith(`/${name}`)) return false;
  return joined.controller === '' ? line.startsWith('0::') : controllers.split(',').includes(joined.controller);
}

function dirsOf(cgroups: Cgroups): string[] {
  return cgroups.joined.map((joined) => joined.dir);
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Creates a containment capped at `pidsMax` tasks (at most 1000). */
export function createContainment(pidsMax = 500): Containment {
  if (!Number.isInteger(pidsMax) || pidsMax < 1 || pidsMax > MAX_PIDS_CAP) {
    throw new Error(`pidsMax must be an integer from 1 to ${MAX_PIDS_CAP}, got ${pidsMax}`);
  }
  const name = `${NAME_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const found = layout();
  const made: string[] = [];
  try {
    const cgroups = found.version === 1 ? makeV1(found, name, pidsMax, made) : makeV2(found, name, pidsMax, made);
    const containment = new ContainmentImpl(cgroups, pidsMax);
    live.add(containment);
    return containment;
  } catch (error) {
    // Nothing has joined them yet; a shared v2 parent may have gained another's child.
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // left for the next run's leak check to report
      }
    }
    throw error;
  }
}

/** Why containments cannot be made here (undefined if they can): creates and removes one. */
export async function containmentUnavailable(): Promise<string | undefined> {
  try {
    await createContainment(10).destroy();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Directories named like a containment under the known cgroup mounts (for leak checks). */
export function containmentDirsLeft(prefix = NAME_PREFIX): string[] {
  const found = layout();
  const roots = found.version === 1 ? [found.pids, found.cpu, found.freezer] : [join(found.mount, V2_PARENT)];
  return roots
    .filter((root): root is string => root !== undefined && existsSync(root))
    .flatMap((root) => readdirSync(root).filter((entry) => entry.startsWith(prefix)).map((entry) => join(root, entry)));
}
