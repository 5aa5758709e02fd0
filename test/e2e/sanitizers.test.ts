// The kernel tests (test/kernel/) once more, against the addon built with AddressSanitizer
// and UndefinedBehaviorSanitizer: any report fails this test. The sanitizers' runtime is
// preloaded into node (LD_PRELOAD), as an uninstrumented program loading an instrumented
// library needs. A report ends the process (abort_on_error, which the addon's SIGABRT
// handler turns into an unsubscribe first); AddressSanitizer writes it to a file, the
// UndefinedBehaviorSanitizer beside it to stderr: both are looked for.
//
// It builds the addon and runs vitest a second time (minutes), so it runs under CI=true
// (.ci/run) and with FORKWATCH_SANITIZERS=1 (npm run test:asan); elsewhere it is skipped.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';
import { buildAddonVariant, type AddonVariant } from '../helpers/addon-variant.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const wanted = process.env.FORKWATCH_SANITIZERS === '1' ? kernelUnavailable : 'slow; npm run test:asan runs it (CI always does)';
const RUN_TIMEOUT_MS = 15 * 60_000;

/** The sanitizers' runtime that gcc links against, to preload. */
function libasan(): string {
  const path = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  if (!path.startsWith('/')) throw new Error('gcc has no libasan.so: apt-get install g++ (its libgcc-dev brings libasan and libubsan)');
  return path;
}

describeIfAvailable(wanted, 'sanitizers')('the native addon under AddressSanitizer and UndefinedBehaviorSanitizer', () => {
  let variant: AddonVariant;
  let reports: string;

  beforeAll(() => {
    // With failure injection too, for the canaries below; the kernel tests set no fault.
    variant = buildAddonVariant('sanitized', { forkwatch_sanitize: 1, forkwatch_fault_injection: 1 }, ['src', 'test', 'tsconfig.json', 'vitest.config.ts']);
  }, 300_000);
  afterAll(() => variant?.remove());

  function sanitized(env: Record<string, string> = {}): NodeJS.ProcessEnv {
    reports = mkdtempSync(join(tmpdir(), 'forkwatch-sanitizer-reports-'));
    return {
      ...process.env,
      ...env,
      LD_PRELOAD: libasan(),
      // Node.js frees little at exit by design: leaks are not this test's subject.
      ASAN_OPTIONS: `detect_leaks=0:abort_on_error=1:log_path=${join(reports, 'asan')}`,
      UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=${join(reports, 'ubsan')}`,
    };
  }

  /** The reports written to files, and those in `output`. */
  function reportsMade(output: string): string[] {
    const files = readdirSync(reports).map((file) => readFileSync(join(reports, file), 'utf8'));
    rmSync(reports, { recursive: true, force: true });
    const printed = output.split('\n').filter((line) => /ERROR: AddressSanitizer|runtime error: |SUMMARY: \w+Sanitizer/.test(line));
    return [...files, ...printed];
  }

  it.each([
    ['heap-overflow', /AddressSanitizer: heap-buffer-overflow/],
    ['signed-overflow', /runtime error: signed integer overflow/],
  ])('reports a deliberate %s (the harness sees what it should)', async (fault, report) => {
    const make = `const { Connector } = require(${JSON.stringify(join(variant.root, 'build', 'Release', 'forkwatch.node'))});
      new Connector(1 << 20, 76, 36, 2, 56, 1 << 18, 1 << 20, () => {});`;
    const run = promisify(execFile)(process.execPath, ['-e', make], { env: sanitized({ FORKWATCH_FAULT: fault }) });

    const failure = (await run.then(() => undefined, (error: unknown) => error)) as { stderr: string; signal: string } | undefined;
    expect(failure?.signal).toBe('SIGABRT');
    const made = reportsMade(failure!.stderr);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(report);
  });

  it(
    'runs the kernel tests without a report',
    async () => {
      const vitest = join(packageRoot, 'node_modules', 'vitest', 'vitest.mjs');
      let output: string;
      try {
        const run = await promisify(execFile)(process.execPath, [vitest, 'run', 'test/kernel'], {
          cwd: variant.root,
          env: sanitized(),
          maxBuffer: 64 << 20,
          timeout: RUN_TIMEOUT_MS,
        });
        output = run.stdout + run.stderr;
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string; message: string };
        output = `${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`;
        expect.fail(`the kernel tests failed under the sanitizers:\n${output}\n${reportsMade('').join('\n')}`);
      }
      expect(reportsMade(output)).toEqual([]);
      expect(output).toMatch(/Tests\s+.*\d+ passed/);
    },
    RUN_TIMEOUT_MS,
  );
});
