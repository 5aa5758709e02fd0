// The pipeline without a socket: a process table over a stand-in /proc, the dispatcher,
// and the listeners under test, fed decoded events as the kernel would send them.
import type { ProcEvent } from '../../src/kernel/decode.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import type { Listener } from '../../src/pipeline/listener.js';
import { ProcessTable } from '../../src/processes/table.js';
import { FakeProcfs } from './procfs.js';

export interface TestPipeline {
  table: ProcessTable;
  dispatcher: Dispatcher;
  procfs: FakeProcfs;
  feed: (...events: ProcEvent[]) => void;
}

/** `listeners` may be made from the table, for listeners that read it. */
export function testPipeline(listeners: Listener[] | ((table: ProcessTable) => Listener[]), procfs = new FakeProcfs()): TestPipeline {
  const table = new ProcessTable({ procfs });
  table.seed();
  const dispatcher = new Dispatcher(table, typeof listeners === 'function' ? listeners(table) : listeners);
  return {
    table,
    dispatcher,
    procfs,
    feed: (...events) => {
      for (const event of events) dispatcher.event(event);
    },
  };
}
