// Who is forking: each process fork by the parent's current command name since start, and
// the busiest parent processes over a trailing window.
import { secondOf } from '../kernel/clock.js';
import type { EventOf, Listener } from '../pipeline/listener.js';
import { CommCounts } from '../processes/comm-counts.js';
import { UNKNOWN_COMM, type Process } from '../processes/table.js';
import { TopParents } from './top-parents.js';

export interface ParentOptions {
  /** Most distinct parent names kept as label values. */
  maxComms: number;
  windowSeconds: number;
  now: () => number;
}

export class Parents implements Listener {
  readonly byComm: CommCounts;
  readonly top: TopParents;

  constructor(options: ParentOptions) {
    this.byComm = new CommCounts(options.maxComms);
    this.top = new TopParents({ windowSeconds: options.windowSeconds, now: options.now });
  }

  fork(event: EventOf<'fork'>, parent: Process | undefined): void {
    // Threads are counted by kind only: their event names the creator's parent.
    if (event.childPid !== event.childTgid) return;
    const comm = parent?.comm ?? UNKNOWN_COMM;
    const second = secondOf(event.timestampNs);
    this.byComm.add(comm, second);
    this.top.add(event.parentTgid, comm, second);
  }
}
