// Benign workloads that fork a lot and that a fork-bomb detector must NOT flag. Each one
// resolves when it has finished (in roughly 5-20 s on a 2-CPU machine), is killed if it
// overruns, and removes its temporary files.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStorm } from './storm.js';

/** Longest any workload may run before it is killed and fails. */
const OVERRUN_MS = 120_000;

/**
 * Runs argv to completion in its own process group, so that an overrun ends the whole
 * workload (make's compilers, xargs' commands) by that group's id.
 */
async function run(argv: string[], cwd?: string): Promise<void> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const failed = once(child, 'error').then(([error]) => {
    throw new Error(`${argv[0]} did not start: ${(error as Error).message}`);
  });
  let overran = false;
  const timer = setTimeout(() => {
    overran = true;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, OVERRUN_MS);
  try {
    const [code, signal] = (await Promise.race([once(child, 'exit'), failed])) as [number | null, NodeJS.Signals | null];
    if (overran) throw new Error(`${argv.join(' ')} ran over ${OVERRUN_MS / 1000} s and was killed`);
    if (code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${code ?? signal}):\n${stderr.slice(-2000)}`);
  } finally {
    clearTimeout(timer);
  }
}

async function inTempDir(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `make -j8` over `jobs` targets, each `cc -c` of a small generated C file: forks that exec. */
export function parallelBuild(jobs = 300): Promise<void> {
  return inTempDir('forkwatch-build-', async (dir) => {
    for (let i = 0; i < jobs; i++) {
      writeFileSync(
        join(dir, `unit${i}.c`),
        `#include <stdio.h>\n#include <string.h>\n\n` +
          `int unit${i}(const char *s) {\n  int sum = 0;\n  for (size_t k = 0; k < strlen(s); k++) sum += s[k] * ${i + 1};\n` +
          `  if (sum < 0) fprintf(stderr, "overflow in unit${i}\\n");\n  return sum;\n}\n`,
      );
    }
    writeFileSync(
      join(dir, 'Makefile'),
      'OBJS := $(patsubst %.c,%.o,$(wildcard *.c))\n\nall: $(OBJS)\n\n%.o: %.c\n\tcc -O1 -c -o $@ $<\n',
    );
    await run(['make', '-s', '-j8'], dir);
  });
}

/** stress-ng's vfork stressors (2 workers) for `seconds`: the fastest fork rate, all exec'ing. */
export async function vforkStorm(seconds = 10): Promise<void> {
  const storm = startStorm(seconds, 2);
  try {
    await storm.done;
  } finally {
    await storm.stop();
  }
}

/** `seq N | xargs -P 8 -n 1 true`: thousands of short commands, 8 at a time. */
export function xargsShortCommands(count = 3000): Promise<void> {
  return run(['sh', '-c', `seq ${count} | xargs -P 8 -n 1 true`]);
}

/**
 * A bash script with subshells nested five levels and, innermost, a loop of command
 * substitutions (forks that do not exec, one and two levels deeper still): 600-odd forks
 * over about 5 s. The `|| exit 1` after each subshell passes a failure up and keeps bash
 * from running a subshell that ends its parent in place, without a fork.
 */
export function nestedSubshells(): Promise<void> {
  const script = `
level() { echo "$1" > /dev/null; }
(
  level 1
  (
    level 2
    (
      level 3
      (
        level 4
        (
          level 5
          for i in $(seq 1 200); do
            value=$(printf '%s' "$i")
            twice=$( (echo "$value$value") )
            [ "$twice" = "$value$value" ] || exit 1
            sleep 0.02
          done
        ) || exit 1
      ) || exit 1
    ) || exit 1
  ) || exit 1
) || exit 1
`;
  return run(['bash', '-c', script]);
}

/**
 * Four background jobs, each summarising lines in a loop of command substitutions that run
 * a pipeline: processes a few forks deep that fork twice or more, whose children exec.
 */
export function backgroundSummaries(): Promise<void> {
  const script = `
summarize() { seq 1 60 | while read -r line; do first=$(echo "$line" | cut -c1); sleep 0.05; done; }
for job in 1 2 3 4; do ( out=$(summarize) ) & done
wait
`;
  return run(['bash', '-c', script]);
}

/** A loop three subshells deep, each pass a substitution running a two-command pipeline. */
export function deepPipelineLoop(): Promise<void> {
  const script = `
(
  (
    (
      for i in $(seq 1 300); do value=$(printf '%s\\n' "$i" | tr 0-9 a-j); done
    ) || exit 1
  ) || exit 1
) || exit 1
`;
  return run(['bash', '-c', script]);
}

export const BENIGN_WORKLOADS: { name: string; run: () => Promise<void> }[] = [
  { name: 'parallel build: make -j8 over 300 cc -c jobs', run: () => parallelBuild() },
  { name: 'stress-ng --vfork 2 for 10 s', run: () => vforkStorm() },
  { name: 'xargs -P 8 running 6000 short commands', run: () => xargsShortCommands(6000) }, // 3000 take only 2.5 s here
  { name: 'bash script with subshells nested 5 levels', run: () => nestedSubshells() },
  { name: 'four background bash jobs looping over $(echo | cut)', run: () => backgroundSummaries() },
  { name: 'a loop 3 subshells deep over $(printf | tr)', run: () => deepPipelineLoop() },
];
