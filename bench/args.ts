// The benchmarks' flags: how long to run, and for the storm bench, a soak instead.
import { parseArgs } from 'node:util';

export interface BenchArgs {
  seconds: number;
  /** A soak run (bench/soak.ts) rather than one storm; only where `soakAllowed`. */
  soak: boolean;
}

/**
 * `--seconds N` (10 when absent), or with `soakAllowed`, `--soak DURATION` (a minute or
 * more: 10m, 600s, 1h). A bad value exits 2 with the usage.
 */
export function parseBenchArgs(script: string, soakAllowed = false): BenchArgs {
  const usage = (reason: string): never => {
    console.error(`bench: ${reason}\nusage: node dist-bench/bench/${script} [--seconds N${soakAllowed ? ' | --soak DURATION' : ''}]`);
    process.exit(2);
  };
  let values: { seconds?: string; soak?: string } = {};
  try {
    const options: Record<string, { type: 'string' }> = { seconds: { type: 'string' } };
    if (soakAllowed) options.soak = { type: 'string' };
    ({ values } = parseArgs({ options, strict: true }) as { values: { seconds?: string; soak?: string } });
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.soak !== undefined) {
    if (values.seconds !== undefined) usage('--seconds and --soak do not go together');
    const seconds = parseSoakDuration(values.soak);
    if (seconds === undefined) usage(`--soak wants a duration of a minute or more, like 10m, 600s or 1h, not ${JSON.stringify(values.soak)}`);
    return { seconds: seconds!, soak: true };
  }
  if (values.seconds === undefined) return { seconds: 10, soak: false };
  const seconds = Number(values.seconds);
  // stress-ng's --timeout takes whole seconds.
  if (!Number.isInteger(seconds) || seconds < 1) usage(`--seconds wants a whole number of seconds >= 1, not ${JSON.stringify(values.seconds)}`);
  return { seconds, soak: false };
}

/** "10m", "90s", "1h" or a number of seconds; undefined below a minute. */
function parseSoakDuration(value: string): number | undefined {
  const match = /^(\d+)(s|m|h)?$/.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
  return seconds >= 60 ? seconds : undefined;
}
