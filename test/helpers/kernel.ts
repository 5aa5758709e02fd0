// Tests that need the kernel's process events subscribe for real (see requirements.ts).
import { Subscription } from '../../src/kernel/subscription.js';
import { describeIfAvailable } from './requirements.js';

async function probe(): Promise<string | undefined> {
  try {
    const subscription = Subscription.open({ receiveBufferBytes: 1 << 20, sink: { event() {}, invalid() {}, lost() {} } });
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

/** Why this machine cannot subscribe to the proc connector, or undefined if it can. */
export const kernelUnavailable = await probe();

/** `describe` for tests that need the proc connector. */
export const describeKernel = describeIfAvailable(kernelUnavailable, 'cannot subscribe here');
