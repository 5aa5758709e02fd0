// Basic auth: right and wrong credentials, the cache, the bounded queue, and bcrypt on a
// worker thread at the lowest priority rather than on the thread that serves scrapes.
import { readdirSync, readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BasicAuth, QUEUE_LIMIT } from '../../src/http/basic-auth.js';

const aliceHash = bcrypt.hashSync('alice-password', 4);
// htpasswd writes $2y$; it is the same algorithm.
const bobHash = bcrypt.hashSync('bob-password', 4).replace(/^\$2b\$/, '$2y$');

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const made: BasicAuth[] = [];
function basicAuth(users: Record<string, string>): BasicAuth {
  const auth = new BasicAuth(new Map(Object.entries(users)));
  made.push(auth);
  return auth;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((auth) => auth.close()));
});

/** CPU ticks (user + system) a thread of this process has used, from /proc. */
function threadTicks(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

function threadNice(tid: string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // nice (field 19)
}

describe('BasicAuth', () => {
  it('allows the right password of each user', async () => {
    const auth = basicAuth({ alice: aliceHash, bob: bobHash });
    expect(await auth.check(basic('alice', 'alice-password'), 'a')).toBe('allowed');
    expect(await auth.check(basic('bob', 'bob-password'), 'a')).toBe('allowed');
  });

  it('denies a wrong password, another user\'s password and an unknown user', async () => {
    const auth = basicAuth({ alice: aliceHash, bob: bobHash });
    expect(await auth.check(basic('alice', 'bob-password'), 'a')).toBe('denied');
    expect(await auth.check(basic('alice', ''), 'a')).toBe('denied');
    expect(await auth.check(basic('mallory', 'alice-password'), 'a')).toBe('denied');
  });

  it('denies a missing or malformed header without running bcrypt', async () => {
    const auth = basicAuth({ alice: aliceHash });
    for (const header of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`]) {
      expect(await auth.check(header, 'a'), String(header)).toBe('denied');
    }
    expect(auth.compares).toBe(0);
  });

  it('allows every request when no users are configured', async () => {
    expect(await basicAuth({}).check(undefined, 'a')).toBe('allowed');
  });

  it('runs bcrypt once per distinct credential, also for unknown users, and caches both outcomes', async () => {
    const auth = basicAuth({ alice: aliceHash });
    expect(await auth.check(basic('mallory', 'x'), 'a')).toBe('denied');
    expect(auth.compares).toBe(1); // an unknown user costs a compare too: timing tells nothing
    for (let i = 0; i < 3; i++) expect(await auth.check(basic('alice', 'alice-password'), 'a')).toBe('allowed');
    expect(auth.compares).toBe(2);
    for (let i = 0; i < 3; i++) expect(await auth.check(basic('alice', 'wrong'), 'a')).toBe('denied');
    expect(auth.compares).toBe(3);
    expect(await auth.check(basic('mallory', 'x'), 'b')).toBe('denied');
    expect(auth.compares).toBe(3);
  });

  it('keeps one attempt per client address waiting, and answers busy beyond it without bcrypt', async () => {
    const auth = basicAuth({ alice: aliceHash });
    // check() admits or refuses before its first await, so these run in this order.
    const first = auth.check(basic('alice', 'guess-1'), '192.0.2.1');
    const second = auth.check(basic('alice', 'guess-2'), '192.0.2.1');
    const other = auth.check(basic('alice', 'alice-password'), '192.0.2.2');
    expect(await second).toBe('busy');
    expect(await first).toBe('denied');
    expect(await other).toBe('allowed');
    expect(auth.compares).toBe(2);
    // Once verified, the right password passes from that address however busy it is.
    const flood = auth.check(basic('alice', 'guess-3'), '192.0.2.2');
    expect(await auth.check(basic('alice', 'alice-password'), '192.0.2.2')).toBe('allowed');
    expect(await flood).toBe('denied');
  });

  it(`keeps at most ${QUEUE_LIMIT} attempts waiting in all`, async () => {
    const auth = basicAuth({ alice: aliceHash });
    const attempts = Array.from({ length: QUEUE_LIMIT + 3 }, (_, i) => auth.check(basic('alice', `guess-${i}`), `198.51.100.${i}`));
    const results = await Promise.all(attempts);
    expect(results.slice(0, QUEUE_LIMIT)).toEqual(Array(QUEUE_LIMIT).fill('denied'));
    expect(results.slice(QUEUE_LIMIT)).toEqual(['busy', 'busy', 'busy']);
    expect(auth.compares).toBe(QUEUE_LIMIT);
    // The queue drained: the next attempt is admitted.
    expect(await auth.check(basic('alice', 'alice-password'), '198.51.100.0')).toBe('allowed');
  });

  it('runs bcrypt on another thread, at nice 19: the JavaScript thread spends almost none of its CPU', async () => {
    // Cost 12: about 0.3 s of CPU per compare in bcryptjs, so the ticks are many.
    const auth = basicAuth({ alice: bcrypt.hashSync('alice-password', 12) });
    const before = { main: threadTicks(process.pid), all: process.cpuUsage() };
    for (let i = 0; i < 3; i++) expect(await auth.check(basic('alice', `wrong-${i}`), 'a')).toBe('denied');
    const mainTicks = threadTicks(process.pid) - before.main;
    const used = process.cpuUsage(before.all);
    const allTicks = ((used.user + used.system) / 1e6) * 100; // USER_HZ is 100 on Linux
    expect(allTicks).toBeGreaterThan(30);
    expect(mainTicks).toBeLessThan(allTicks * 0.2);

    const niced = readdirSync('/proc/self/task').filter((tid) => Number(tid) !== process.pid && threadNice(tid) === 19);
    expect(niced).toHaveLength(1);
    await auth.close();
    // terminate() resolves when the worker has stopped; its thread is joined a moment later.
    const deadline = Date.now() + 5000;
    while (readdirSync('/proc/self/task').some((tid) => niced.includes(tid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readdirSync('/proc/self/task').filter((tid) => niced.includes(tid))).toEqual([]);
  });
});
