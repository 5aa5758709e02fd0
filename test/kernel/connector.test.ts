// The native connector against the real kernel: it subscribes, reads, hands over, and
// unsubscribes, whatever happens to the JavaScript side.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { afterAll, afterEach, expect, it } from 'vitest';
import { CHUNK_BYTES, openConnector, type HandoverHandlers, type NativeConnector } from '../../src/kernel/binding.js';
import { BatchDecoder, type EventSink } from '../../src/kernel/batches.js';
import type { ProcEvent } from '../../src/kernel/decode.js';
import { removeForkers, startForksAs, uniqueName } from '../helpers/forker.js';
import { sleep } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';

function forkSome(count: number): void {
  for (let i = 0; i < count; i++) spawnSync('true');
}

/** Every event decoded, and the sequence gaps, from the batches handed over. */
function decoding(onEvent: (event: ProcEvent) => void = () => {}): { sink: EventSink; decoder: BatchDecoder; events: () => number } {
  let events = 0;
  const sink: EventSink = {
    event: (event) => {
      events++;
      onEvent(event);
    },
    invalid: () => {},
    lost: () => {},
  };
  return { sink, decoder: new BatchDecoder(sink), events: () => events };
}

const noFailure: HandoverHandlers['failure'] = (error) => {
  throw error;
};

/** Blocks the JavaScript thread (as a long GC pause or a huge scrape would) until `child` has exited. */
function stallUntilExited(child: ChildProcess, timeoutMs = 60_000): void {
  const blocker = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  // Not reaped while this thread is blocked: an exited child is a zombie.
  while (!/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${child.pid}/stat`, 'utf8'))) {
    if (Date.now() > deadline) throw new Error('the forker did not finish in time');
    Atomics.wait(blocker, 0, 0, 20);
  }
}

describeKernel('the native proc connector', () => {
  let connector: NativeConnector | undefined;
  let server: Server | undefined;

  afterEach(async () => {
    connector?.close();
    connector = undefined;
    server?.close();
    server = undefined;
  });
  afterAll(() => removeForkers());

  it('delivers datagrams in batches once subscribed', async () => {
    let bytes = 0;
    connector = openConnector(1 << 20, { batch: (records) => void (bytes += records.length), failure: noFailure });
    connector.subscribe(12345);
    forkSome(5);
    await sleep(200);
    // Each record: 12-byte header and a 76-byte datagram; 5 forks make at least 15 events.
    expect(bytes).toBeGreaterThanOrEqual(15 * (12 + 76));
  });

  it('stops receiving once it unsubscribes: the kernel honoured PROC_CN_MCAST_IGNORE', async () => {
    // Since Linux 6.6 the kernel filters per socket: after IGNORE this socket gets
    // nothing, whatever other listeners exist. Proof that the request was processed.
    let received = 0;
    connector = openConnector(1 << 20, { batch: () => void received++, failure: noFailure });
    connector.subscribe(23456);
    forkSome(3);
    await sleep(200);
    expect(received).toBeGreaterThan(0);

    connector.unsubscribe();
    await sleep(200); // what was already queued
    const before = received;
    forkSome(5);
    await sleep(300);
    expect(received).toBe(before);
  });

  it('makes an event on every CPU on demand, without a new thread, and says which', async () => {
    const fromCpus: number[] = [];
    const { decoder } = decoding((event) => {
      if (event.what === 'comm' && event.pid !== event.tgid && event.tgid === process.pid && Buffer.from(event.comm).toString() === 'fw-cpu-touch') {
        fromCpus.push(event.cpu);
      }
    });
    connector = openConnector(1 << 20, { batch: (records) => decoder.decode(records), failure: noFailure });
    connector.subscribe(34567);
    const threads = readFileSync(`/proc/${process.pid}/status`, 'utf8').match(/^Threads:\s+(\d+)$/m)![1];

    const first = connector.touchEveryCpu();
    const second = connector.touchEveryCpu();
    await sleep(200);

    const every = Array.from({ length: availableParallelism() }, (_, cpu) => cpu);
    expect(first).toEqual(every);
    expect(second).toEqual(every);
    expect([...fromCpus].sort()).toEqual([...every, ...every].sort());
    expect(readFileSync(`/proc/${process.pid}/status`, 'utf8').match(/^Threads:\s+(\d+)$/m)![1]).toBe(threads);
  });

  it("reads an exec'd process's name and cgroup file as the event arrives", async () => {
    const files = new Map<number, [string | undefined, string | undefined]>();
    const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString());
    const { decoder } = decoding((event) => {
      if (event.what === 'exec') files.set(event.tgid, [text(event.procComm), text(event.procCgroup)]);
    });
    connector = openConnector(1 << 20, { batch: (records) => decoder.decode(records), failure: noFailure });
    connector.subscribe(45678);
    // It lives until killed, so the reader finds it however busy the machine is.
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 10_000;
      while (!files.has(child.pid!) && Date.now() < deadline) await sleep(20);
    } finally {
      child.kill();
    }
    // A child starts in its parent's cgroups.
    expect(files.get(child.pid!)).toEqual(['sleep\n', readFileSync('/proc/self/cgroup', 'utf8')]);
  });

  it('reports the buffer it was granted and the kernel drop count', () => {
    connector = openConnector(4 << 20, { batch: () => {}, failure: noFailure });
    expect(connector.bufferForced()).toBe(true); // root here: SO_RCVBUFFORCE is permitted
    expect(connector.receiveBufferBytes()).toBe(2 * (4 << 20)); // Linux reports the doubled size
    expect(connector.kernelDrops()).toBe(0);
    expect(connector.readerDrops()).toBe(0);
  });

  it('refuses calls once closed', () => {
    connector = openConnector(1 << 20, { batch: () => {}, failure: noFailure });
    connector.close();
    expect(() => connector!.kernelDrops()).toThrow(/closed/);
    expect(() => connector!.touchEveryCpu()).toThrow(/closed/);
  });

  it('when the batch handler throws: reports it once, unsubscribes at once, and hands over nothing more', async () => {
    const failures: Error[] = [];
    let batches = 0;
    connector = openConnector(1 << 20, {
      batch: () => {
        batches++;
        throw new Error('a listener failed');
      },
      failure: (error) => void failures.push(error),
    });
    connector.subscribe(45678);
    forkSome(3);
    await sleep(300);

    expect(batches).toBe(1);
    expect(failures.map((error) => error.message)).toEqual(['a listener failed']);
    // Unsubscribed (per-socket filtering since Linux 6.6): nothing more arrives, even
    // though the socket is still open and its reader still reads.
    const pending = connector.pendingBytes();
    forkSome(5);
    await sleep(300);
    expect(connector.pendingBytes()).toBe(pending);
    expect(batches).toBe(1);
  });

  it('holds at most its bound while JavaScript stalls, and every datagram it drops shows as a sequence gap', async () => {
    let lost = 0;
    const { sink } = decoding();
    const decoder = new BatchDecoder({ ...sink, lost: (count) => void (lost += count) });
    connector = openConnector(4 << 20, { batch: (records) => decoder.decode(records), failure: noFailure }, { maxPendingBytes: 2 * CHUNK_BYTES });
    connector.subscribe(56789);
    connector.touchEveryCpu(); // every CPU's starting point
    await sleep(200);

    // 10,000 forks make 20,000 events or more: some 1.7 MB of records, against a bound of 512 KiB.
    const forker = startForksAs(uniqueName('fw-drop'), 10_000);
    const exited = once(forker, 'exit');
    stallUntilExited(forker);
    const held = connector.heldBytes();
    await exited;
    await sleep(300);
    connector.touchEveryCpu(); // each CPU's next message shows its gap
    await sleep(300);

    const drops = connector.readerDrops();
    expect(held).toBeLessThanOrEqual(2 * CHUNK_BYTES);
    expect(drops).toBeGreaterThan(5_000);
    expect(lost).toBe(drops + connector.kernelDrops());
  });

  it('yields to the event loop between slices while a backlog drains', async () => {
    // Each slice takes at least 3 ms here, so a turn (10 ms) holds a few of them and a
    // backlog of dozens of slices needs many turns: between them, an HTTP request and a
    // timer get their turn while records still wait.
    let slices = 0;
    const { decoder } = decoding();
    connector = openConnector(64 << 20, {
      batch: (records) => {
        slices++;
        decoder.decode(records);
        const until = performance.now() + 3;
        while (performance.now() < until);
      },
      failure: noFailure,
    });
    connector.subscribe(67890);
    const answered: { slices: number; pending: number }[] = [];
    server = createServer((_request, response) => {
      answered.push({ slices, pending: connector!.pendingBytes() });
      response.end('forkwatch is healthy.\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    await sleep(200);

    const forker = startForksAs(uniqueName('fw-yield'), 15_000);
    const exited = once(forker, 'exit');
    stallUntilExited(forker); // 30,000 events or more pile up: some 40 slices
    const backlog = connector.pendingBytes();
    const timer = new Promise<{ slices: number; pending: number }>((resolve) =>
      setTimeout(() => resolve({ slices, pending: connector!.pendingBytes() }), 0),
    );
    const health = await fetch(`http://127.0.0.1:${port}/-/healthy`);
    const timerFired = await timer;
    await exited;

    expect(backlog).toBeGreaterThan(20 * CHUNK_BYTES);
    expect(health.status).toBe(200);
    expect(timerFired.slices).toBeGreaterThan(0);
    expect(timerFired.pending).toBeGreaterThan(0);
    expect(answered).toHaveLength(1);
    expect(answered[0]!.pending).toBeGreaterThan(0);
    expect(answered[0]!.slices).toBeGreaterThan(0);
  });
});
