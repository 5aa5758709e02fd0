/** The label value that counts every name past the cap. */
export const OTHER_COMM = '__other__';

/** Counts by command name, with at most `maxComms` distinct names: label values stay bounded. */
export class CommCounts {
  readonly counts = new Map<string, number>();

  constructor(private readonly maxComms: number) {}

  /** Counts one for `comm`; returns the name it was counted under. */
  add(comm: string): string {
    const label = this.labelFor(comm);
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    return label;
  }

  /** `comm` if it has a place among the names kept, else `__other__`. */
  labelFor(comm: string): string {
    return this.counts.has(comm) || this.counts.size < this.maxComms ? comm : OTHER_COMM;
  }
}
