// The kernel's acknowledgement of the subscription is a datagram like any other: a storm
// at start-up can fill the buffer and drop it. forkwatch then asks again rather than
// report a namespace problem, and unsubscribes once per request sent (issue 11).
//
// strace makes it happen every time: it holds forkwatch's request back 500 ms while the
// reader's first reads are slowed, so the storm fills the buffer before the request goes.
// Events reach the socket before its own request only while some listener is subscribed,
// so the test holds a subscription of its own meanwhile.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Subscription } from '../../src/kernel/subscription.js';
import { startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { describeIfAvailable } from '../helpers/requirements.js';
import { startStorm, type Storm } from '../helpers/storm.js';

const LISTEN = 1;
const IGNORE = 2;

const straceMissing = spawnSync('strace', ['-V']).error ? 'strace is not installed (apt-get install strace)' : undefined;
const describeKernelAndStrace = describeIfAvailable(kernelUnavailable ?? straceMissing, 'needs the proc connector and strace');

/** The proc connector requests (LISTEN or IGNORE) in an strace log of sendto with -s 64 -xx. */
function controlRequests(log: string): number[] {
  const requests: number[] = [];
  for (const line of log.split('\n')) {
    // sendto(fd, [{nlmsg_len=40, ...}, "cn_msg (20 bytes) then the op (4)"], ...
    const match = /sendto\(\d+, \[\{nlmsg_len=40, [^}]*\}, "((?:\\x[0-9a-f]{2})+)"/.exec(line);
    if (!match) continue;
    const bytes = Buffer.from(match[1]!.replaceAll('\\x', ''), 'hex');
    if (bytes.length === 24 && bytes.readUInt32LE(0) === 1 && bytes.readUInt32LE(4) === 1) requests.push(bytes.readUInt32LE(20));
  }
  return requests;
}

/** The one process strace `pid` started. */
function tracee(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ');
  if (children.length !== 1 || children[0] === '') throw new Error(`strace ${pid} has children ${JSON.stringify(children)}`);
  return Number(children[0]);
}

describeKernelAndStrace('a lost acknowledgement', () => {
  let forkwatch: RunningForkwatch | undefined;
  let storm: Storm | undefined;
  let held: Subscription | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await storm?.stop();
    if (forkwatch && forkwatch.child.exitCode === null && forkwatch.child.signalCode === null) {
      process.kill(tracee(forkwatch.pid), 'SIGTERM'); // a test that failed half way
      await forkwatch.stop();
    }
    held?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    forkwatch = storm = held = dir = undefined;
  });

  it('is asked for again, and every request is undone by an IGNORE at exit', async () => {
    held = Subscription.open({ receiveBufferBytes: 4 << 20, sink: { event() {}, invalid() {}, lost() {} } });
    await held.confirmed();
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-ack-'));
    const log = join(dir, 'strace.log');
    storm = startStorm(8);

    forkwatch = await startForkwatch(['--netlink.receive-buffer-bytes', '1MiB'], {
      prefix: [
        'strace', '-f', '-qq', '-o', log, '-s', '64', '-xx', '-e', 'trace=sendto,recvmmsg',
        // Counted per thread: the main thread's first sendto is the request, the reader's
        // first reads are held back (strace delays only calls it traces).
        '-e', 'inject=sendto:delay_enter=500000:when=1',
        '-e', 'inject=recvmmsg:delay_enter=200000:when=1..10',
      ],
      timeoutMs: 45_000,
    });
    const askedAgain = forkwatch.stderr().split('\n').filter((line) => line.includes('asking again')).length;
    // strace does not pass SIGTERM on: forkwatch, its child, gets it, and strace ends with it.
    process.kill(tracee(forkwatch.pid), 'SIGTERM');
    const exit = await forkwatch.stop();
    forkwatch = undefined;

    expect(exit.code).toBe(0);
    expect(askedAgain, 'the first acknowledgement was not lost: the test tested nothing').toBeGreaterThan(0);
    const requests = controlRequests(readFileSync(log, 'utf8'));
    expect(requests.filter((op) => op === LISTEN)).toHaveLength(askedAgain + 1);
    expect(requests.filter((op) => op === IGNORE)).toHaveLength(askedAgain + 1);
    expect(requests.slice(askedAgain + 1).every((op) => op === IGNORE)).toBe(true);
    console.log(`the acknowledgement was asked for ${askedAgain + 1} times; as many IGNOREs at exit`);
  }, 90_000);
});
