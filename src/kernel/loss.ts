// Exact loss from two counts that see the same losses from different sides.
//
// - The sequence gaps (sequence.ts) say how many of the kernel's numbered messages never
//   arrived, but only when the CPU that lost them next sends one; and nothing before a
//   CPU's first message here (a CPU that came online later, or that forkwatch's threads
//   cannot run on, to make it send one).
// - The drops counted by the kernel on the socket (SO_MEMINFO: its receive buffer was
//   full) and by the reader (its own pending bound) are known at once and cover every
//   CPU, but not a message the kernel failed to allocate (it numbered it, then sent
//   nothing).
//
// Each is a lower bound of what was lost, so the larger one is counted: it rises by the
// drops as soon as they are read, and by a gap only as far as the gap shows more.
export class LossAccount {
  private gaps = 0;
  private drops = 0;
  private counted = 0;

  /** `report(count)`: `count` more events are known to be lost. */
  constructor(private readonly report: (count: number) => void) {}

  /** A sequence gap of `count` messages. */
  gap(count: number): void {
    this.gaps += count;
    this.settle();
  }

  /** The socket's and the reader's drops together, as read now (counts only grow). */
  dropped(total: number): void {
    if (total <= this.drops) return;
    this.drops = total;
    this.settle();
  }

  /** Events known to be lost so far. */
  get lost(): number {
    return this.counted;
  }

  private settle(): void {
    const known = Math.max(this.gaps, this.drops);
    if (known <= this.counted) return;
    const more = known - this.counted;
    this.counted = known;
    this.report(more);
  }
}
