// Counts by command name with a bounded number of names: label values stay bounded, and
// nobody can use the slots up for good. Names are hostile input: any process may call
// itself anything, as often as it likes.
//
// A name takes a free slot when it first counts. Once every slot is taken, new names count
// under `__other__`, and at the end of each window (60 s by default) the slots are dealt
// again: a name that counted nothing for a whole window gives its slot up, and a name that
// counted under `__other__` more in the window than the least busy holder (twice as much,
// so that two names of a similar rate do not swap back and forth) takes that holder's slot.
// A name that leaves hands its count to `__other__`, so the counts still add up to every
// fork, and its series goes from the page. The names under `__other__` are followed with
// a counter each, at most as many as there are slots: when that fills up, the least of
// them makes room (the Space-Saving algorithm of Metwally, Agrawal and El Abbadi), so any
// name counting more than the window's forks over the number of slots is seen.

/** The label value that counts every name without a slot. */
export const OTHER_COMM = '__other__';

const DEFAULT_WINDOW_SECONDS = 60;

/** A newcomer takes a holder's slot with this many times the holder's count in the window. */
const TAKEOVER_FACTOR = 2;

interface Slot {
  total: number;
  /** Its counts in the current window. */
  recent: number;
  /** The window it counted in last. */
  lastWindow: number;
}

export class CommCounts {
  private readonly slots = new Map<string, Slot>();
  private other = 0;
  /** Names without a slot, with their counts in the current window. */
  private readonly candidates = new Map<string, number>();
  private window = -Infinity;

  constructor(
    private readonly maxComms: number,
    private readonly windowSeconds = DEFAULT_WINDOW_SECONDS,
  ) {}

  /** Counts one for `comm` in `second` (of the monotonic clock); returns the label it was counted under. */
  add(comm: string, second: number): string {
    this.advance(second);
    let slot = this.slots.get(comm);
    if (!slot && this.slots.size < this.maxComms) slot = this.admit(comm);
    if (!slot) {
      this.other++;
      this.follow(comm);
      return OTHER_COMM;
    }
    slot.total++;
    slot.recent++;
    slot.lastWindow = this.window;
    return comm;
  }

  /** The label `comm` is counted under now. */
  labelFor(comm: string): string {
    return this.slots.has(comm) ? comm : OTHER_COMM;
  }

  /** Counts by label: every name holding a slot, and `__other__` (always, from 0). */
  get counts(): Map<string, number> {
    const counts = new Map<string, number>([[OTHER_COMM, this.other]]);
    for (const [comm, slot] of this.slots) counts.set(comm, slot.total);
    return counts;
  }

  private admit(comm: string): Slot {
    const slot = { total: 0, recent: 0, lastWindow: this.window };
    this.slots.set(comm, slot);
    return slot;
  }

  private release(comm: string, slot: Slot): void {
    this.other += slot.total;
    this.slots.delete(comm);
  }

  /** Counts a name without a slot in the current window (Space-Saving when full). */
  private follow(comm: string): void {
    const known = this.candidates.get(comm);
    if (known !== undefined) {
      this.candidates.set(comm, known + 1);
      return;
    }
    if (this.candidates.size < this.maxComms) {
      this.candidates.set(comm, 1);
      return;
    }
    let least: string | undefined;
    let leastCount = Infinity;
    for (const [name, count] of this.candidates) {
      if (count < leastCount) {
        least = name;
        leastCount = count;
      }
    }
    this.candidates.delete(least!);
    this.candidates.set(comm, leastCount + 1);
  }

  /** Deals the slots again when `second` starts a new window. */
  private advance(second: number): void {
    const window = Math.floor(second / this.windowSeconds);
    if (window <= this.window) return;
    const ended = this.window;
    this.window = window;
    if (ended === -Infinity) return;

    for (const [comm, slot] of this.slots) {
      if (slot.lastWindow < ended) this.release(comm, slot); // idle for a whole window
    }
    const busiest = [...this.candidates].sort((a, b) => b[1] - a[1]);
    const holders = [...this.slots].sort((a, b) => a[1].recent - b[1].recent);
    let next = 0; // the least busy holder not yet replaced
    for (const [comm, count] of busiest) {
      if (this.slots.size < this.maxComms) {
        this.admit(comm);
        continue;
      }
      const holder = holders[next];
      if (!holder || count < TAKEOVER_FACTOR * Math.max(1, holder[1].recent)) break;
      this.release(holder[0], holder[1]);
      this.admit(comm);
      next++;
    }
    for (const slot of this.slots.values()) slot.recent = 0;
    this.candidates.clear();
  }
}
