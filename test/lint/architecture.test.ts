// The linter's architecture rules (eslint.config.js) catch what they are for: each case
// below breaks a copy of src/ in one way, and the rules must name it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';

const { architecture } = (await import(join(packageRoot, 'eslint.config.js'))) as { architecture: (root: string) => Linter.Config };

let dir: string | undefined;

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Lints a copy of src/ with one line added at the top of each named file; returns "file: rule" for each problem. */
async function lintWith(additions: Record<string, string>): Promise<string[]> {
  dir = mkdtempSync(join(tmpdir(), 'forkwatch-lint-'));
  cpSync(join(packageRoot, 'src'), join(dir, 'src'), { recursive: true });
  cpSync(join(packageRoot, 'test', 'helpers'), join(dir, 'test', 'helpers'), { recursive: true });
  for (const [file, line] of Object.entries(additions)) {
    const path = join(dir, file);
    writeFileSync(path, `${line}\n${readFileSync(path, 'utf8')}`);
  }
  const eslint = new ESLint({ cwd: dir, overrideConfigFile: true, overrideConfig: [architecture(dir)] });
  const results = await eslint.lintFiles(['src/**/*.ts']);
  // Only these rules run here: a directive that disables another one names a rule unknown here.
  const ours = (message: Linter.LintMessage): boolean => message.ruleId === null || message.ruleId.startsWith('import-x/');
  return results.flatMap((result) =>
    result.messages.filter(ours).map((message) => `${result.filePath.slice(dir!.length + 1)}: ${message.ruleId ?? message.message}`),
  );
}

describe('the architecture rules', () => {
  it('find nothing in src/ as it is', async () => {
    expect(await lintWith({})).toEqual([]);
  });

  it('reject a lower layer importing a higher one', async () => {
    expect(await lintWith({ 'src/processes/comm.ts': "import '../metrics/registries.js';" })).toEqual([
      'src/processes/comm.ts: import-x/no-restricted-paths',
    ]);
  });

  it('reject an import cycle, within one layer too', async () => {
    const problems = await lintWith({ 'src/accounting/per-second.ts': "import './peak.js';" });
    expect(problems).toContain('src/accounting/per-second.ts: import-x/no-cycle');
    expect(problems).toContain('src/accounting/peak.ts: import-x/no-cycle');
    expect(problems.filter((problem) => !problem.endsWith('import-x/no-cycle'))).toEqual([]);
  });

  it('reject a cycle through a higher layer as both', async () => {
    const problems = await lintWith({ 'src/kernel/clock.ts': "import '../exporter.js';" });
    expect(problems).toContain('src/kernel/clock.ts: import-x/no-restricted-paths');
    expect(problems).toContain('src/kernel/clock.ts: import-x/no-cycle');
  });

  it('reject a shared leaf module importing a layer, and src/ importing the tests', async () => {
    expect(
      await lintWith({ 'src/log.ts': "import './kernel/clock.js';", 'src/exporter.ts': "import '../test/helpers/events.js';" }),
    ).toEqual(['src/exporter.ts: import-x/no-restricted-paths', 'src/log.ts: import-x/no-restricted-paths']);
  });
});
