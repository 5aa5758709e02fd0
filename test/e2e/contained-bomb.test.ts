// The safety net of the fork-bomb tests: a bomb stays under its pids cap, and destroying
// its containment leaves no process and no cgroup behind, also when a test throws or its
// process crashes. (The benign workloads run in forkbomb-alerts.test.ts, under the detector.)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';
import { startBashBomb, startCBomb, type RunningBomb } from '../helpers/bombs.js';
import {
  containmentDirsLeft,
  containmentUnavailable,
  createContainment,
  destroyAllContainments,
  destroyContainmentNamed,
  liveContainments,
  type Containment,
} from '../helpers/cgroup.js';
import { sleep } from '../helpers/forkwatch-process.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const describeContained = describeIfAvailable(await containmentUnavailable(), 'cannot make a pids cgroup here');

/** A process as seen once: its pid and start time, so a reused pid is not mistaken for it. */
interface Seen {
  pid: number;
  startTime: string;
}

/** Start time (field 22) and state (field 3) of /proc/<pid>/stat; undefined once the pid is gone. */
function stat(pid: number): { startTime: string; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // from field 3, after the comm
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

function see(pids: number[]): Seen[] {
  return pids.flatMap((pid) => {
    const found = stat(pid);
    return found === undefined ? [] : [{ pid, startTime: found.startTime }];
  });
}

/** Those of `seen` still running: neither gone nor a zombie awaiting its reaping. */
function running(seen: Seen[]): Seen[] {
  return seen.filter((one) => {
    const found = stat(one.pid);
    return found !== undefined && found.startTime === one.startTime && found.state !== 'Z';
  });
}

/**
 * Those of `seen` that still exist, zombies included, after waiting up to `ms`: killed
 * copies whose parents died too are reaped by init, which here takes up to about 2 s.
 */
async function survivors(seen: Seen[], ms = 10_000): Promise<Seen[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = seen.filter((one) => stat(one.pid)?.startTime === one.startTime);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

describeContained('contained fork bombs', () => {
  afterEach(async () => {
    await destroyAllContainments(); // whatever a failed test left open
  });

  afterAll(() => {
    expect(containmentDirsLeft(`forkwatch-test-${process.pid}-`)).toEqual([]);
  });

  const bombs: [string, string, (containment: Containment) => RunningBomb][] = [
    ['the bash bomb', 'bash', startBashBomb],
    ['the C bomb', 'fw-cbomb', (containment) => startCBomb(containment)],
  ];
  for (const [label, name, startBomb] of bombs) {
    it(`holds ${label} at its pids cap, then kills every copy and removes the cgroups`, async () => {
      const containment = createContainment(500);
      const bomb = startBomb(containment);
      await sleep(2000);

      const pids = containment.pids();
      const seen = see(pids);
      const hits = containment.maxHits();
      expect(pids.length).toBeGreaterThan(10);
      expect(pids.length).toBeLessThanOrEqual(containment.pidsMax);
      expect(hits > 0 || pids.length === containment.pidsMax).toBe(true);
      expect(seen.slice(0, 20).map((one) => comm(one.pid)).filter((found) => found !== undefined && found !== name)).toEqual([]);

      const destroyStarted = Date.now();
      await bomb.stop();
      const destroyMs = Date.now() - destroyStarted;
      for (const path of containment.paths) expect(existsSync(path), path).toBe(false);
      expect(running(seen)).toEqual([]);
      const reapStarted = Date.now();
      expect(await survivors(seen)).toEqual([]);
      const reapMs = Date.now() - reapStarted;
      expect(liveContainments()).not.toContain(containment.name);
      console.log(
        `${label}: ${pids.length} processes 2 s after its start (cap ${containment.pidsMax}, ${hits} forks refused at the cap, ` +
          `CPU ${containment.cpuCapped ? 'capped at 0.5 CPU' : 'NOT capped'}); destroy took ${destroyMs} ms, ` +
          `and the last zombie was reaped ${reapMs} ms later`,
      );
    }, 30_000);
  }

  it('destroys the containment when the test body using it throws (try/finally)', async () => {
    let containment: Containment | undefined;
    let seen: Seen[] = [];
    const body = async (): Promise<void> => {
      containment = createContainment(100);
      try {
        startBashBomb(containment);
        await sleep(500);
        seen = see(containment.pids());
        throw new Error('the test body failed');
      } finally {
        await containment.destroy();
      }
    };

    await expect(body()).rejects.toThrow('the test body failed');
    expect(seen.length).toBeGreaterThan(10);
    for (const path of containment!.paths) expect(existsSync(path), path).toBe(false);
    expect(running(seen)).toEqual([]);
    expect(await survivors(seen)).toEqual([]);
  }, 30_000);

  it('finds and removes a containment left open, with destroyAllContainments()', async () => {
    const containment = createContainment(100);
    startCBomb(containment, 'fw-cbomb-open');
    await sleep(500);
    const seen = see(containment.pids());
    expect(seen.length).toBeGreaterThan(10);
    expect(liveContainments()).toContain(containment.name);

    await destroyAllContainments();
    expect(liveContainments()).toEqual([]);
    for (const path of containment.paths) expect(existsSync(path), path).toBe(false);
    expect(running(seen)).toEqual([]);
    expect(await survivors(seen)).toEqual([]);
  }, 30_000);

  describe('when the process that made a containment ends without destroying it', () => {
    // A separate Node process runs the compiled helper and starts a bomb; only the
    // helper's exit or signal handler can clean up after it.
    let dir: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'forkwatch-crash-'));
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
      const helpers = fileURLToPath(new URL('../helpers', import.meta.url));
      const tsc = spawn(
        join(packageRoot, 'node_modules', '.bin', 'tsc'),
        ['--ignoreConfig', '--outDir', dir, '--rootDir', helpers, '--module', 'nodenext', '--target', 'es2022', '--strict', '--skipLibCheck',
          '--types', 'node', '--typeRoots', join(packageRoot, 'node_modules', '@types'), join(helpers, 'cgroup.ts')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      tsc.stdout.on('data', (chunk) => (output += chunk));
      tsc.stderr.on('data', (chunk) => (output += chunk));
      const [code] = (await once(tsc, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`tsc failed to compile cgroup.ts:\n${output}`);
      writeFileSync(
        join(dir, 'bomb-then-end.js'),
        `import { readFileSync } from 'node:fs';
import { createContainment } from './cgroup.js';
const containment = createContainment(50);
containment.start(['bash', '-c', ':(){ :|:& };:']);
const deadline = Date.now() + 5000;
while (containment.pids().length < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
const seen = containment.pids().flatMap((pid) => {
  try {
    const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
    return [{ pid, startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] }];
  } catch {
    return [];
  }
});
process.stdout.write(JSON.stringify({ paths: containment.paths, seen }) + '\\n');
if (process.argv[2] === 'throw') throw new Error('crashed on purpose');
setInterval(() => undefined, 1000); // until a signal ends it
`,
      );
    }, 60_000);

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    const endings: [string, string, (child: ChildProcess) => void, number | null, NodeJS.Signals | null][] = [
      ['its exit handler kills and removes its containments when it dies of an uncaught exception', 'throw', () => undefined, 1, null],
      ['its signal handler kills and removes its containments when SIGTERM ends it (as vitest ends its workers)', 'wait', (child) => child.kill('SIGTERM'), null, 'SIGTERM'],
      ['when SIGKILL ends it (no handler runs), destroyContainmentNamed() kills and removes what it left', 'wait', (child) => child.kill('SIGKILL'), null, 'SIGKILL'],
    ];
    for (const [behaviour, mode, end, expectedCode, expectedSignal] of endings) {
      it(behaviour, async () => {
        const child = spawn(process.execPath, [join(dir, 'bomb-then-end.js'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        let leftBehind: string[];
        try {
          const deadline = Date.now() + 15_000;
          while (!stdout.includes('\n') && child.exitCode === null && Date.now() < deadline) await sleep(20);
          end(child);
          const [code, signal] = await exited;
          leftBehind = containmentDirsLeft(`forkwatch-test-${child.pid}-`);

          expect([code, signal], stderr).toEqual([expectedCode, expectedSignal]);
          expect(stderr).not.toContain('could not clean up');
          const left = JSON.parse(stdout) as { paths: string[]; seen: Seen[] };
          expect(left.seen.length).toBeGreaterThanOrEqual(20);
          if (signal === 'SIGKILL') {
            expect(leftBehind.sort()).toEqual([...left.paths].sort());
            expect(running(left.seen).length).toBeGreaterThan(0);
            await destroyContainmentNamed(basename(left.paths[0]!));
          } else {
            expect(leftBehind).toEqual([]);
          }
          for (const path of left.paths) expect(existsSync(path), path).toBe(false);
          expect(running(left.seen)).toEqual([]);
          expect(await survivors(left.seen)).toEqual([]);
        } finally {
          // Should the handler have failed, the bomb it left is ended here, and so is the child.
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
          for (const name of new Set(containmentDirsLeft(`forkwatch-test-${child.pid}-`).map((path) => basename(path)))) {
            await destroyContainmentNamed(name);
          }
        }
      }, 60_000);
    }
  });
});
