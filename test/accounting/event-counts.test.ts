import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, EventCounts } from '../../src/accounting/event-counts.js';
import type { AckEvent, OtherEvent, ProcEvent } from '../../src/kernel/decode.js';
import { testPipeline } from '../helpers/pipeline.js';
import { atSecond, commEvent, execEvent, exitEvent, processFork, threadFork, type Header } from '../helpers/events.js';

// Event kinds only this file needs; the shared ones come from the helpers.
function ack(at: Header = {}): AckEvent {
  return { what: 'ack', cpu: 0, seq: 0, timestampNs: 0, ack: 1, err: 0, ...at };
}

function unrecognised(code: number, at: Header = {}): OtherEvent {
  return { what: 'other', cpu: 0, seq: 0, timestampNs: 0, code, ...at };
}

/** One event of every kind that has a name of its own. */
const ONE_OF_EACH: ProcEvent[] = [
  processFork(1, 100),
  execEvent(100),
  { what: 'uid', cpu: 0, seq: 0, timestampNs: 0, pid: 100, tgid: 100, real: 1000, effective: 1000 },
  { what: 'gid', cpu: 0, seq: 0, timestampNs: 0, pid: 100, tgid: 100, real: 1000, effective: 1000 },
  { what: 'sid', cpu: 0, seq: 0, timestampNs: 0, pid: 100, tgid: 100 },
  { what: 'ptrace', cpu: 0, seq: 0, timestampNs: 0, pid: 100, tgid: 100, tracerPid: 50, tracerTgid: 50 },
  commEvent(100, 100, 'worker'),
  { what: 'coredump', cpu: 0, seq: 0, timestampNs: 0, pid: 100, tgid: 100, parentPid: 1, parentTgid: 1 },
  exitEvent(100, 100),
];

/** Feeds `events` through the pipeline to `counts`. */
function recordAll(counts: EventCounts, events: ProcEvent[]): void {
  testPipeline([counts]).feed(...events);
}

describe('EventCounts: events by type', () => {
  it('starts every event type at 0', () => {
    const counts = new EventCounts(() => 0);

    expect(Object.keys(counts.events)).toEqual([...EVENT_NAMES]);
    expect(Object.values(counts.events)).toEqual(EVENT_NAMES.map(() => 0));
  });

  it('counts each event under its own type', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, ONE_OF_EACH);

    expect(counts.events).toEqual({
      fork: 1,
      exec: 1,
      uid: 1,
      gid: 1,
      sid: 1,
      ptrace: 1,
      comm: 1,
      coredump: 1,
      exit: 1,
      other: 0,
    });
  });

  it('counts repeated events of one type', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [execEvent(1), execEvent(2), execEvent(3)]);

    expect(counts.events.exec).toBe(3);
  });

  it('counts acknowledgements as other', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [ack(), ack()]);

    expect(counts.events.other).toBe(2);
  });

  it('counts an unrecognised event code as other', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [unrecognised(0x1000)]);

    expect(counts.events.other).toBe(1);
  });
});

describe('EventCounts: process and thread forks', () => {
  it('counts a fork whose child pid equals its tgid as a process fork', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [processFork(1, 200)]);

    expect(counts.processForks).toBe(1);
    expect(counts.threadForks).toBe(0);
  });

  it('counts a fork whose child pid differs from its tgid as a thread fork', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [threadFork(1, 200, 201)]);

    expect(counts.processForks).toBe(0);
    expect(counts.threadForks).toBe(1);
  });

  it('counts both kinds of fork as fork events', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [processFork(1, 200), threadFork(1, 200, 201), threadFork(1, 200, 202)]);

    expect(counts.events.fork).toBe(3);
    expect(counts.processForks).toBe(1);
    expect(counts.threadForks).toBe(2);
  });

  it('counts no fork for other event types', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [execEvent(100), exitEvent(100, 100), ack()]);

    expect(counts.processForks).toBe(0);
    expect(counts.threadForks).toBe(0);
  });
});

describe('EventCounts: invalid datagrams', () => {
  it('starts with nothing invalid', () => {
    const counts = new EventCounts(() => 0);

    expect(counts.invalidDatagrams).toBe(0);
    expect(counts.invalidByReason.size).toBe(0);
  });

  it('counts invalid datagrams in total and by reason', () => {
    const counts = new EventCounts(() => 0);

    counts.invalid('truncated');
    counts.invalid('not-from-kernel');
    counts.invalid('truncated');

    expect(counts.invalidDatagrams).toBe(3);
    expect(counts.invalidByReason.get('truncated')).toBe(2);
    expect(counts.invalidByReason.get('not-from-kernel')).toBe(1);
    expect(counts.invalidByReason.get('bad-length')).toBeUndefined();
  });

  it('counts invalid datagrams apart from events', () => {
    const counts = new EventCounts(() => 0);

    counts.invalid('not-proc-connector');

    expect(counts.events.other).toBe(0);
    expect(counts.lostEvents).toBe(0);
  });
});

describe('EventCounts: loss', () => {
  it('adds up every loss the decoder reports', () => {
    const counts = new EventCounts(() => 0);
    const { dispatcher } = testPipeline([counts]);

    dispatcher.lost(3);
    dispatcher.lost(2);

    expect(counts.lostEvents).toBe(5);
  });
});

describe('EventCounts: peak forks per second', () => {
  it('feeds the peak from the second of each fork timestamp', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [
      processFork(1, 200, { timestampNs: atSecond(7) }),
      processFork(1, 201, { timestampNs: atSecond(7.999) }),
      processFork(1, 202, { timestampNs: atSecond(8.5) }),
    ]);

    expect(counts.peak.peak(9)).toBe(2);
  });

  it('counts thread forks in the peak', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [
      threadFork(1, 200, 201, { timestampNs: atSecond(7.1) }),
      threadFork(1, 200, 202, { timestampNs: atSecond(7.2) }),
    ]);

    expect(counts.peak.peak(8)).toBe(2);
  });

  it('leaves events other than forks out of the peak', () => {
    const counts = new EventCounts(() => 0);

    recordAll(counts, [execEvent(1, { timestampNs: atSecond(7.1) }), exitEvent(1, 1, { timestampNs: atSecond(7.2) })]);

    expect(counts.peak.peak(8)).toBe(0);
  });
});
