/** The label value that counts every name past the cap. */
export const OTHER_COMM = '__other__';

/** Process forks by the parent's command name, with at most `maxComms` distinct names. */
export class ParentCommCounts {
  readonly counts = new Map<string, number>();

  constructor(private readonly maxComms: number) {}

  add(comm: string): void {
    const count = this.counts.get(comm);
    if (count !== undefined) this.counts.set(comm, count + 1);
    else if (this.counts.size < this.maxComms) this.counts.set(comm, 1);
    else this.counts.set(OTHER_COMM, (this.counts.get(OTHER_COMM) ?? 0) + 1);
  }
}
