// Regenerates test/kernel/fixtures/ from this machine's kernel. It subscribes with the
// native connector, runs fixtures/make-events.c (one event of each type, each from a child
// whose ids it prints), and keeps for each type the one datagram that names those ids.
//
// Run as root, in the host's namespaces, with cc installed:
//   FORKWATCH_CAPTURE=1 npx vitest run test/kernel/captured.test.ts
// (vitest is this project's only TypeScript runner: the test named "capture" there calls
// captureFixtures() before checking the files it wrote). Then review and commit the diff.
import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { machine, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openConnector } from '../../src/kernel/binding.js';
import { forEachRecord } from '../../src/kernel/records.js';
import {
  FIXTURE_NAMES,
  UNION_WORDS,
  WHAT_CODES,
  writeFixture,
  type EventKind,
  type FixtureName,
} from './fixtures/captured.js';

const HELPER_SOURCE = fileURLToPath(new URL('./fixtures/make-events.c', import.meta.url));

// Records are walked here, not decoded: a fixture is the raw bytes, not the event.
const DATAGRAM_BYTES = 76;
const COMM_BYTES = 16;

const SIGCHLD = 17; // fork() asks for it: the exit_signal of every child the helper makes
const WAIT_FOR_EVENTS_MS = 5000;

/** A datagram to find: its kind and every union field the helper knows. */
interface Wanted {
  readonly name: FixtureName;
  readonly kind: EventKind;
  readonly fields: Readonly<Record<string, number>>;
  readonly comm?: string;
  readonly ack?: number;
  readonly trigger: string;
}

/** Captures one datagram of each type and writes the fixture files; returns a line per fixture. */
export async function captureFixtures(): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), 'forkwatch-capture-'));
  try {
    const helper = join(work, 'make-events');
    execFileSync('cc', ['-Wall', '-Wextra', '-O2', '-pthread', '-o', helper, HELPER_SOURCE], { stdio: 'inherit' });

    const ack = randomInt(1, 0x7fffffff);
    const batches: Buffer[] = [];
    let readerError: Error | undefined;
    const startedNs = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of timestamp_ns
    const connector = openConnector(4 << 20, {
      batch: (records) => void batches.push(Buffer.from(records)), // a copy: the slice is reused
      failure: (error) => (readerError = error),
    });
    let wanted: Wanted[];
    let found: Map<FixtureName, Uint8Array>;
    try {
      connector.subscribe(ack);
      // The helper writes a core file into its working directory (core_pattern "core").
      const { stdout } = await promisify(execFile)(helper, [], { cwd: work });
      wanted = [acknowledgement(ack), ...stdout.trim().split('\n').map(fromHelperLine)];
      found = await waitForAll(wanted, batches);
    } finally {
      connector.close(); // sends PROC_CN_MCAST_IGNORE
    }
    if (readerError) throw readerError;
    const endedNs = process.hrtime.bigint();

    const missing = FIXTURE_NAMES.filter((name) => !found.has(name));
    if (missing.length > 0) {
      const why = missing.map((name) => wanted.find((want) => want.name === name)?.trigger ?? 'make-events printed nothing for it');
      throw new Error(`no datagram captured for ${missing.map((name, i) => `${name} (${why[i]})`).join(', ')}`);
    }

    const source = `captured from Linux ${release()} (${machine()}) on ${new Date().toISOString().slice(0, 10)} by test/kernel/capture.ts`;
    const fixtures = wanted.map((want) => {
      const bytes = found.get(want.name)!;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const timestampNs = view.getBigUint64(44, true);
      if (timestampNs < startedNs || timestampNs > endedNs) {
        throw new Error(`${want.name}: timestamp_ns ${timestampNs} lies outside the capture (${startedNs}..${endedNs})`);
      }
      const event = {
        what: want.kind,
        cpu: view.getUint32(40, true),
        seq: view.getUint32(24, true),
        timestampNs: Number(timestampNs),
        ...(want.ack === undefined ? {} : { ack: want.ack }),
        ...want.fields,
        ...(want.comm === undefined ? {} : { comm: want.comm }),
      };
      return { want, bytes, event };
    });
    // Nothing is written unless every fixture was found.
    for (const { want, bytes, event } of fixtures) writeFixture(want.name, bytes, { source, trigger: want.trigger, event });
    return fixtures.map(({ want }) => `${want.name}: ${want.trigger}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function acknowledgement(ack: number): Wanted {
  return {
    name: 'ack',
    kind: 'ack',
    ack: ack + 1,
    fields: { err: 0 },
    trigger: `PROC_CN_MCAST_LISTEN with cn_msg.ack ${ack}: the kernel acknowledges with ack + 1 and err 0`,
  };
}

/** The datagram each line of make-events.c's output announces. */
function fromHelperLine(line: string): Wanted {
  const facts = JSON.parse(line) as Record<string, number | string | boolean>;
  const id = (key: string): number => {
    const value = facts[key];
    if (typeof value !== 'number') throw new Error(`make-events printed no ${key}: ${line}`);
    return value;
  };
  switch (facts.step) {
    case 'fork-process': {
      const [parent, child] = [id('parent'), id('child')];
      return {
        name: 'fork-process',
        kind: 'fork',
        fields: { parentPid: parent, parentTgid: parent, childPid: child, childTgid: child },
        trigger: `make-events (pid ${parent}) forked a child (pid ${child})`,
      };
    }
    case 'fork-thread': {
      const [parent, process, thread] = [id('parent'), id('process'), id('thread')];
      return {
        name: 'fork-thread',
        kind: 'fork',
        // A thread's parent fields name its creator's parent, not the creator (docs/kernel.md).
        fields: { parentPid: parent, parentTgid: parent, childPid: thread, childTgid: process },
        trigger: `a child (pid ${process}) of make-events (pid ${parent}) started a thread (pid ${thread})`,
      };
    }
    case 'exec': {
      const pid = id('pid');
      return { name: 'exec', kind: 'exec', fields: { pid, tgid: pid }, trigger: `a child (pid ${pid}) exec'd /proc/self/exe` };
    }
    case 'uid':
    case 'gid': {
      const [pid, real, effective] = [id('pid'), id('real'), id('effective')];
      const call = facts.step === 'uid' ? 'setresuid' : 'setresgid';
      return {
        name: facts.step,
        kind: facts.step,
        fields: { pid, tgid: pid, real, effective },
        trigger: `a child (pid ${pid}) running as root called ${call}(${real}, ${effective}, ${effective})`,
      };
    }
    case 'sid': {
      const pid = id('pid');
      return { name: 'sid', kind: 'sid', fields: { pid, tgid: pid }, trigger: `a child (pid ${pid}) called setsid()` };
    }
    case 'ptrace': {
      const [pid, tracer] = [id('pid'), id('tracer')];
      return {
        name: 'ptrace',
        kind: 'ptrace',
        // The PTRACE_ATTACH event; the PTRACE_DETACH that follows names tracer 0.
        fields: { pid, tgid: pid, tracerPid: tracer, tracerTgid: tracer },
        trigger: `make-events (pid ${tracer}) attached to its child (pid ${pid}) with PTRACE_ATTACH, then detached`,
      };
    }
    case 'comm': {
      const [pid, tgid] = [id('pid'), id('tgid')];
      const comm = String(facts.comm);
      return {
        name: 'comm',
        kind: 'comm',
        fields: { pid, tgid },
        comm,
        trigger: `thread ${pid} of a child (pid ${tgid}) called prctl(PR_SET_NAME, "${comm}")`,
      };
    }
    case 'coredump': {
      const [pid, parent] = [id('pid'), id('parent')];
      const dumped = facts.coreDumped === true ? 'and dumped core' : 'but wrote no core file';
      return {
        name: 'coredump',
        kind: 'coredump',
        fields: { pid, tgid: pid, parentPid: parent, parentTgid: parent },
        trigger: `a child (pid ${pid}) of make-events (pid ${parent}) with RLIMIT_CORE unlimited called abort() ${dumped}`,
      };
    }
    case 'exit': {
      const [pid, parent, waitStatus] = [id('pid'), id('parent'), id('waitStatus')];
      return {
        name: 'exit',
        kind: 'exit',
        // exit_code is the wait status the parent saw: exit(5) is 5 << 8.
        fields: { pid, tgid: pid, exitCode: waitStatus, exitSignal: SIGCHLD, parentPid: parent, parentTgid: parent },
        trigger: `a child (pid ${pid}) of make-events (pid ${parent}) called exit(5); waitpid saw status ${waitStatus}`,
      };
    }
    default:
      throw new Error(`make-events printed an unknown step: ${line}`);
  }
}

/** Waits until every wanted datagram has arrived; returns those found by then. */
async function waitForAll(wanted: readonly Wanted[], batches: readonly Buffer[]): Promise<Map<FixtureName, Uint8Array>> {
  const deadline = Date.now() + WAIT_FOR_EVENTS_MS;
  for (;;) {
    const all = batches.flatMap(datagrams);
    const found = new Map<FixtureName, Uint8Array>();
    for (const want of wanted) {
      const bytes = pick(all, want);
      if (bytes) found.set(want.name, bytes);
    }
    if (found.size === wanted.length || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The whole, untruncated datagrams from the kernel (port 0) in one batch. */
function datagrams(batch: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  forEachRecord(batch, ({ view, start, length, senderPort, truncated }) => {
    if (senderPort === 0 && !truncated && length === DATAGRAM_BYTES) {
      out.push(new Uint8Array(view.buffer.slice(view.byteOffset + start, view.byteOffset + start + length))); // a copy
    }
  });
  return out;
}

/** The one datagram of `want`'s kind whose union words, name and ack are what the helper said. */
function pick(all: readonly Uint8Array[], want: Wanted): Uint8Array | undefined {
  const words = UNION_WORDS[want.kind].map((field) => {
    const value = want.fields[field];
    if (value === undefined) throw new Error(`${want.name}: no expected ${field}`);
    return value >>> 0;
  });
  const matches = all.filter((bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(36, true) !== WHAT_CODES[want.kind]) return false;
    if (!words.every((word, i) => view.getUint32(52 + 4 * i, true) === word)) return false;
    if (want.ack !== undefined && view.getUint32(28, true) !== want.ack) return false;
    if (want.comm !== undefined) {
      const field = bytes.subarray(60, 60 + COMM_BYTES);
      const end = field.indexOf(0);
      if (Buffer.from(field.subarray(0, end === -1 ? COMM_BYTES : end)).toString('latin1') !== want.comm) return false;
    }
    return true;
  });
  if (matches.length > 1) throw new Error(`${want.name}: ${matches.length} datagrams match ${want.trigger}`);
  return matches[0];
}
