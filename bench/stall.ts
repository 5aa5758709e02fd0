// Loaded into forkwatch by the bench's drain run (node --import): on SIGUSR2 the
// JavaScript thread blocks, as a long GC pause or a huge scrape would, until the file
// named by FORKWATCH_BENCH_STALL_UNTIL exists. The reader thread reads on meanwhile, so
// the events pile up in its queue; the bench then measures how forkwatch drains them.
// From the stall's end, the longest delay of forkwatch's event loop (the longest turn
// JavaScript kept to itself) is written to that file's name + ".delay" four times a
// second, in milliseconds. Nothing of forkwatch is changed: this file only adds a signal
// handler and a timer.
import { existsSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const until = process.env.FORKWATCH_BENCH_STALL_UNTIL;
if (until) {
  process.on('SIGUSR2', () => {
    const blocker = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + 120_000;
    while (!existsSync(until) && Date.now() < deadline) Atomics.wait(blocker, 0, 0, 5);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    setInterval(() => writeFileSync(`${until}.delay`, String(delay.max / 1e6)), 250).unref();
  });
}
