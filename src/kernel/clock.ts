// The kernel stamps events with CLOCK_MONOTONIC (ktime_get_ns); process.hrtime reads the
// same clock, so event times and "now" can be compared directly.
export function monotonicSecondNow(): number {
  return Number(process.hrtime.bigint() / 1_000_000_000n);
}

export function secondOf(timestampNs: number): number {
  return Math.floor(timestampNs / 1e9);
}
