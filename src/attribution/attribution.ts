// Attributes each process fork to the parent's current command name, and to the
// parent's place in its chain of forks without exec.
import { secondOf } from '../accounting/clock.js';
import type { ProcEvent } from '../kernel/decode.js';
import { commFromBytes, commFromProcFile } from '../processes/comm.js';
import type { ProcessTable } from '../processes/table.js';
import type { ForkBombDetector } from '../detect/forkbomb.js';
import type { CommCounts } from './comm-counts.js';
import type { TopParents } from './top-parents.js';

export class Attribution {
  constructor(
    private readonly table: ProcessTable,
    private readonly parentComms: CommCounts,
    private readonly topParents: TopParents,
    private readonly detector: ForkBombDetector,
  ) {}

  record(event: ProcEvent): void {
    switch (event.what) {
      case 'fork': {
        // A thread's fork event names the creator's parent, not the creator: threads
        // are counted by kind only.
        if (event.childPid !== event.childTgid) return;
        const comm = this.table.comm(event.parentTgid);
        const forker = this.table.forked(event.parentTgid, event.childTgid);
        const second = secondOf(event.timestampNs);
        this.parentComms.add(comm);
        this.topParents.add(event.parentTgid, comm, second);
        this.detector.recordFork(event.parentTgid, forker, comm, event.childTgid, second);
        return;
      }
      case 'exec':
        this.table.execed(event.tgid, event.procComm && commFromProcFile(event.procComm));
        return;
      case 'comm':
        // Only the main thread's name is the process's name (/proc/<pid>/comm).
        if (event.pid === event.tgid) this.table.renamed(event.tgid, commFromBytes(event.comm));
        return;
      case 'exit':
        if (event.pid === event.tgid) this.table.exited(event.tgid);
        return;
      default:
        return;
    }
  }
}
