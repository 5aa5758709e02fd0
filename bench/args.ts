// Durations on the benchmarks' command lines.
import { parseArgs } from 'node:util';

/** `--seconds N` from the command line (10 when absent); a bad value exits 2 with the usage. */
export function parseSeconds(script: string): number {
  const usage = (reason: string): never => {
    console.error(`bench: ${reason}\nusage: node dist-bench/bench/${script} [--seconds N]`);
    process.exit(2);
  };
  let values: { seconds?: string } = {};
  try {
    ({ values } = parseArgs({ options: { seconds: { type: 'string' } }, strict: true }));
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.seconds === undefined) return 10;
  const seconds = Number(values.seconds);
  // stress-ng's --timeout takes whole seconds.
  if (!Number.isInteger(seconds) || seconds < 1) usage(`--seconds wants a whole number of seconds >= 1, not ${JSON.stringify(values.seconds)}`);
  return seconds;
}

/** "10m", "90s", "1h" or a number of seconds; undefined below a minute. */
export function parseSoakDuration(value: string): number | undefined {
  const match = /^(\d+)(s|m|h)?$/.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
  return seconds >= 60 ? seconds : undefined;
}
