// The native connector against the real kernel: it subscribes, reads, and unsubscribes.
import { spawnSync } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { openConnector, type NativeConnector } from '../../src/kernel/binding.js';
import { BatchDecoder, type EventSink } from '../../src/kernel/batches.js';
import { sleep } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';

function forkSome(count: number): void {
  for (let i = 0; i < count; i++) spawnSync('true');
}

describeKernel('the native proc connector', () => {
  let connector: NativeConnector | undefined;

  afterEach(() => {
    connector?.close();
    connector = undefined;
  });

  it('delivers datagrams in batches once subscribed', async () => {
    const batches: Buffer[] = [];
    connector = openConnector(1 << 20, (batch) => batch && batches.push(batch));
    connector.subscribe(12345);
    forkSome(5);
    await sleep(200);
    const bytes = batches.reduce((sum, batch) => sum + batch.length, 0);
    // Each record: 12-byte header and a 76-byte datagram; 5 forks make at least 15 events.
    expect(bytes).toBeGreaterThanOrEqual(15 * (12 + 76));
  });

  it('stops receiving once it unsubscribes: the kernel honoured PROC_CN_MCAST_IGNORE', async () => {
    // Since Linux 6.6 the kernel filters per socket: after IGNORE this socket gets
    // nothing, whatever other listeners exist. Proof that the request was processed.
    let received = 0;
    connector = openConnector(1 << 20, (batch) => batch && received++);
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

  /** The CPUs on which this process renamed a thread fw-cpu-start, in `batches`. */
  function touchedCpus(batches: Buffer[]): number[] {
    const cpus = new Set<number>();
    const sink: EventSink = {
      event: (event) => {
        if (event.what === 'comm' && event.pid !== event.tgid && event.tgid === process.pid && Buffer.from(event.comm).toString() === 'fw-cpu-start') {
          cpus.add(event.cpu);
        }
      },
      invalid: () => {},
      lost: () => {},
    };
    const decoder = new BatchDecoder(sink);
    for (const batch of batches) decoder.decode(batch);
    return [...cpus].sort();
  }

  it('makes an event on every CPU as it subscribes, so every CPU has a sequence starting point', async () => {
    const batches: Buffer[] = [];
    connector = openConnector(1 << 20, (batch) => batch && batches.push(batch));
    connector.subscribe(34567);
    await sleep(200);

    expect(touchedCpus(batches)).toEqual(Array.from({ length: availableParallelism() }, (_, cpu) => cpu));
  });

  it('makes an event on every CPU again when asked, so that a loss on each shows as a gap now', async () => {
    const batches: Buffer[] = [];
    connector = openConnector(1 << 20, (batch) => batch && batches.push(batch));
    connector.subscribe(45678);
    await sleep(200);
    batches.length = 0;

    expect(connector.touchEveryCpu()).toBe(true);
    await sleep(200);

    expect(touchedCpus(batches)).toEqual(Array.from({ length: availableParallelism() }, (_, cpu) => cpu));
  });

  it('reports the buffer it was granted and the kernel drop count', () => {
    connector = openConnector(4 << 20, () => {});
    expect(connector.bufferForced()).toBe(true); // root here: SO_RCVBUFFORCE is permitted
    expect(connector.receiveBufferBytes()).toBe(2 * (4 << 20)); // Linux reports the doubled size
    expect(connector.kernelDrops()).toBe(0);
    expect(connector.readerDrops()).toBe(0);
  });

  it('refuses calls once closed', () => {
    connector = openConnector(1 << 20, () => {});
    connector.close();
    expect(() => connector!.kernelDrops()).toThrow(/closed/);
  });
});
