// Loaded into forkwatch by the bench's drain run (node --import): on SIGUSR2 the
// JavaScript thread blocks, as a long GC pause or a huge scrape would, until the file
// named by FORKWATCH_BENCH_STALL_UNTIL exists. The reader thread reads on meanwhile, so
// the events pile up in its queue; what the bench then measures is how forkwatch drains
// them. Nothing of forkwatch is changed: this file only adds a signal handler.
import { existsSync } from 'node:fs';

const until = process.env.FORKWATCH_BENCH_STALL_UNTIL;
if (until) {
  process.on('SIGUSR2', () => {
    const blocker = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + 120_000;
    while (!existsSync(until) && Date.now() < deadline) Atomics.wait(blocker, 0, 0, 5);
  });
}
