// The process table over a million short-lived processes: it holds what lives, not what
// has lived. (How much memory that leaves is a figure of the bench: npm run bench --
// --processes 1000000.)
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { Subscription } from '../../src/kernel/subscription.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { Procfs } from '../../src/processes/procfs.js';
import { ProcessTable } from '../../src/processes/table.js';
import { sleep } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { stormUntilForks } from '../helpers/storm.js';

const PROCESSES = 1_000_000;

/** Processes alive now: listed in /proc and not zombies (their EXIT event is already sent). */
function liveProcesses(procfs: Procfs): Set<number> {
  const live = new Set<number>();
  for (const pid of procfs.pids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') live.add(pid);
    } catch {
      // gone between the listing and the read
    }
  }
  return live;
}

describeKernel('the process table', () => {
  let subscription: Subscription | undefined;

  afterEach(() => {
    subscription?.close();
    subscription = undefined;
  });

  it(
    `after ${PROCESSES.toLocaleString('en-US')} short-lived processes, holds exactly the processes alive`,
    async () => {
      const procfs = new Procfs();
      const table = new ProcessTable({ procfs });
      let lost = 0;
      const failures: Error[] = [];
      const dispatcher = new Dispatcher(table, [{ lost: (count) => void (lost += count) }]);
      subscription = Subscription.open({ receiveBufferBytes: 32 << 20, sink: dispatcher, onFailure: (error) => failures.push(error) });
      table.seed();
      await subscription.confirmed();

      await stormUntilForks(PROCESSES, 15 * 60_000);

      // Other processes come and go meanwhile: compare at a moment when the table has
      // taken in every event up to the listing.
      let live = new Set<number>();
      let missing: number[] = [];
      for (let attempt = 0; attempt < 100; attempt++) {
        await sleep(200);
        live = liveProcesses(procfs);
        missing = [...live].filter((pid) => table.get(pid) === undefined);
        if (table.size === live.size && missing.length === 0) break;
      }

      expect(failures).toEqual([]);
      expect(lost).toBe(0);
      expect(missing).toEqual([]);
      expect(table.size).toBe(live.size);
    },
    20 * 60_000,
  );
});
