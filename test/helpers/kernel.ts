// Tests that need the kernel's process events subscribe for real. Where this machine
// cannot, they are skipped with the reason in their name; under CI=true they run anyway
// and fail, because CI must prove them.
import { describe } from 'vitest';
import { Subscription } from '../../src/kernel/subscription.js';

async function probe(): Promise<string | undefined> {
  try {
    const subscription = Subscription.open({ receiveBufferBytes: 1 << 20, sink: { event() {}, invalid() {} } });
    try {
      await subscription.confirmed(3000);
    } finally {
      subscription.close();
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const unavailable = await probe();

/** `describe` for tests that need the proc connector. */
export const describeKernel: typeof describe.skip =
  unavailable === undefined || process.env.CI === 'true'
    ? describe
    : (((name: string, ...rest: unknown[]) =>
        (describe.skip as (...args: unknown[]) => void)(`${name} (skipped: cannot subscribe here: ${unavailable})`, ...rest)) as unknown as typeof describe.skip);
