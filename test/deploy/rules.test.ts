// The Prometheus rules forkwatch ships: promtool must load them and pass their unit tests
// (test/deploy/forkwatch-rules.test.yml, which names the rules file relative to itself).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';

const RULES = 'deploy/prometheus/forkwatch-rules.yml';
const RULE_TESTS = 'test/deploy/forkwatch-rules.test.yml';

interface PromtoolRun {
  status: number | null;
  output: string;
}

function promtool(...args: string[]): PromtoolRun {
  const run = spawnSync('promtool', args, { cwd: packageRoot, encoding: 'utf8' });
  if (run.error) throw new Error(`cannot run promtool (apt-get install prometheus): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('Prometheus rules', () => {
  it(`promtool check rules passes ${RULES}`, () => {
    const check = promtool('check', 'rules', RULES);
    expect(check.status, `promtool check rules ${RULES}:\n${check.output}`).toBe(0);
  });

  it(`promtool test rules passes ${RULE_TESTS}`, () => {
    const test = promtool('test', 'rules', RULE_TESTS);
    expect(test.status, `promtool test rules ${RULE_TESTS}:\n${test.output}`).toBe(0);
  });
});
