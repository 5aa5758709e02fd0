// Tests that need something of the machine (the kernel's events, cgroups) are skipped with
// the reason in their name where it is missing; under CI=true they run anyway, and fail,
// because CI must prove them.
import { describe } from 'vitest';

/** `describe`, or a skip whose name says why, when `unavailable` holds a reason. */
export function describeIfAvailable(unavailable: string | undefined, what: string): typeof describe.skip {
  if (unavailable === undefined || process.env.CI === 'true') return describe;
  return ((name: string, ...rest: unknown[]) =>
    (describe.skip as (...args: unknown[]) => void)(`${name} (skipped: ${what}: ${unavailable})`, ...rest)) as unknown as typeof describe.skip;
}
