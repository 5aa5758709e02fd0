// A fork storm: stress-ng's vfork stressors, the fastest fork rate this machine makes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { kernelForks } from './kernel-forks.js';

export interface Storm {
  /** Resolves when stress-ng has finished; rejects if it failed. */
  done: Promise<void>;
  /** Ends stress-ng (by its pid) if it is still running. */
  stop(): Promise<void>;
}

/** `prefix`: words before stress-ng, e.g. ['taskset', '-c', '1'] to keep it on CPU 1. */
export function startStorm(seconds: number, workers = 2, prefix: string[] = []): Storm {
  const [file, ...args] = [...prefix, 'stress-ng', '--vfork', String(workers), '--timeout', `${seconds}s`, '--quiet'];
  const child: ChildProcess = spawn(file, args, { stdio: 'ignore' });
  const exited = once(child, 'exit').then(([code, signal]) => {
    if (code !== 0 && signal !== 'SIGTERM') throw new Error(`stress-ng failed (exit ${code ?? signal})`);
  });
  const failed = once(child, 'error').then(([error]) => {
    throw new Error(`stress-ng did not start (${(error as Error).message}); install it with apt-get install stress-ng`);
  });
  return {
    done: Promise.race([exited, failed]),
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        await exited.catch(() => undefined);
      }
    },
  };
}

/**
 * Makes one fork on every CPU. The loss at the end of a burst shows only when each CPU
 * next sends an event, so this reveals it.
 */
export function forkOnEveryCpu(): void {
  for (let cpu = 0; cpu < availableParallelism(); cpu++) {
    spawnSync('taskset', ['-c', String(cpu), 'true']);
  }
}

/**
 * Runs a stress-ng --vfork storm until the kernel has counted `forks` more forks
 * (/proc/stat), then stops it; resolves with how long it ran, in seconds.
 */
export async function stormUntilForks(forks: number, timeoutMs = 3_600_000): Promise<number> {
  const started = performance.now();
  const from = kernelForks();
  const storm = startStorm(Math.ceil(timeoutMs / 1000));
  let failed: unknown;
  storm.done.catch((error: unknown) => (failed = error));
  try {
    while (kernelForks() - from < forks) {
      if (failed) throw failed instanceof Error ? failed : new Error(String(failed));
      if (performance.now() - started > timeoutMs) throw new Error(`the storm made fewer than ${forks} forks in ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await storm.stop();
  }
  return (performance.now() - started) / 1000;
}
