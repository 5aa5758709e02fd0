// Exact loss accounting from the proc connector's sequence numbers. The kernel numbers
// every message (acknowledgements included) from a per-CPU u32 counter and stamps the CPU
// in the event, so each CPU's stream is contiguous and a jump from s to t means
// t - s - 1 messages were lost. Feed the tracker every decoded message, whatever its type.

/** Half the u32 space: a forward distance at least this large is read as a step backwards. */
const HALF_RANGE = 2 ** 31;

/**
 * CPUs are small integers (the kernel's NR_CPUS is at most 8192). Old kernels sent
 * acknowledgements with cpu -1 (0xffffffff) and the request's own seq, outside every
 * stream: a cpu at or above this bound is not tracked.
 */
const MAX_CPUS = 1 << 16;

export class SequenceTracker {
  /** Last seq seen per CPU, indexed by cpu; undefined until that CPU's first message. */
  private readonly lastSeq: number[] = [];
  private lostTotal = 0;

  /** Returns how many messages were lost just before this one on this CPU (0 if none). */
  observe(cpu: number, seq: number): number {
    if (cpu >= MAX_CPUS) return 0;
    const last = this.lastSeq[cpu];
    if (last === undefined) {
      // Nothing is known before a CPU's first message, so it only sets the baseline.
      this.lastSeq[cpu] = seq;
      return 0;
    }
    // Distance modulo 2^32, so the counter's wrap from 0xffffffff to 0 is no gap.
    const gap = (seq - last - 1) >>> 0;
    // Equal or older than the last one (duplicate or reordering): no loss, keep the baseline.
    if (gap >= HALF_RANGE) return 0;
    this.lastSeq[cpu] = seq;
    this.lostTotal += gap;
    return gap;
  }

  /** Messages lost so far, over all CPUs. */
  get lost(): number {
    return this.lostTotal;
  }
}
