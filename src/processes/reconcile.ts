// Brings the process table back to the truth after events were lost. Entries leave the
// table only by their EXIT event, so a lost exit leaves a ghost that can hold a fork-bomb
// suspicion up for hours (until its pid is reused), and a lost fork or exec leaves a
// process unknown or claiming a chain it is no longer in. After a loss, a pass reads
// /proc/<pid>/stat for every pid in /proc or in the table and corrects the table
// (ProcessTable.reconcile). It runs from a timer, never inside an event handler: a storm's
// losses share one pass, passes start at least `intervalMs` apart, and a pass reads /proc
// in slices that give the event loop (events, scrapes) its turn between them.
//
// The exporter lists it first among the listeners: it takes `lost`, `start` and `close`.
import type { Logger } from '../log.js';
import type { Procfs } from './procfs.js';
import type { Correction, ProcessTable } from './table.js';

export interface ReconcilerOptions {
  /** A pass starts this long after the loss that asks for it, so a burst's losses share it. */
  delayMs?: number;
  /** Passes start at least this far apart. */
  intervalMs?: number;
  logger?: Logger;
}

/** What one pass did. */
export interface PassSummary {
  /** Pids looked at: those in /proc and those in the table when it began. */
  checked: number;
  removed: number;
  added: number;
  replaced: number;
  renamed: number;
  /** Depths lowered below processes added, replaced or renamed (ProcessTable.capDepths). */
  lowered: number;
  ms: number;
}

/** Pids read per turn of the event loop: a few milliseconds of /proc reads. */
const SLICE = 256;

/**
 * Passes that follow one that corrected something. Events queued when a pass ran (the
 * reader hands over a backlog in slices) may predate the loss and bring a ghost back; a
 * pass after it takes that away. Bounded, since a busy machine always has some news.
 */
const MAX_FOLLOW_UPS = 3;

export class Reconciler {
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly logger: Logger | undefined;
  private wanted = false;
  private started = false;
  private closed = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPassStartedAt = -Infinity;
  private followUps = 0;
  /** Passes run so far, and the last one's summary. */
  passes = 0;
  lastPass: PassSummary | undefined;

  constructor(
    private readonly table: ProcessTable,
    private readonly procfs: Procfs,
    options: ReconcilerOptions = {},
  ) {
    this.logger = options.logger;
    this.delayMs = options.delayMs ?? 1000;
    this.intervalMs = options.intervalMs ?? 2000;
  }

  /** Events were lost: a pass will run. */
  lost(): void {
    this.wanted = true;
    this.followUps = 0;
    this.schedule();
  }

  start(): void {
    this.started = true;
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.wanted || !this.started || this.closed || this.running || this.timer) return;
    const wait = Math.max(this.delayMs, this.lastPassStartedAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.wanted = false;
    this.running = true;
    this.lastPassStartedAt = Date.now();
    try {
      const summary = await this.pass();
      const corrected = summary.removed + summary.replaced + summary.renamed;
      this.logger?.debug('reconciled the process table with /proc after lost events', { ...summary, processes_known: this.table.size });
      if (corrected > 0 && this.followUps < MAX_FOLLOW_UPS) {
        this.followUps++;
        this.wanted = true;
      }
    } catch (error) {
      this.logger?.warn('could not reconcile the process table with /proc', { error });
    } finally {
      this.running = false;
    }
    this.schedule();
  }

  /** One pass over every pid in /proc or in the table, in slices. */
  async pass(): Promise<PassSummary> {
    const began = performance.now();
    const pids = [...new Set([...this.procfs.pids(), ...this.table.tgids()])];
    const counts: Record<Correction, number> = { none: 0, removed: 0, added: 0, replaced: 0, renamed: 0 };
    const restarted = new Set<number>();
    for (let at = 0; at < pids.length && !this.closed; at += SLICE) {
      if (at > 0) await new Promise((resolve) => setImmediate(resolve));
      // Each pid is read and judged in one go: no event can come between the two.
      for (const pid of pids.slice(at, at + SLICE)) {
        const correction = this.table.reconcile(pid, this.procfs.running(pid));
        counts[correction]++;
        if (correction === 'added' || correction === 'replaced' || correction === 'renamed') restarted.add(pid);
      }
    }
    const lowered = this.table.capDepths(restarted);
    this.passes++;
    this.lastPass = {
      checked: pids.length,
      removed: counts.removed,
      added: counts.added,
      replaced: counts.replaced,
      renamed: counts.renamed,
      lowered,
      ms: Math.round(performance.now() - began),
    };
    return this.lastPass;
  }
}
