// Property-based tests: whatever arrives on the proc connector group, the decoder neither
// throws nor counts it as anything but an invalid datagram, and whatever a process calls
// itself, the page stays valid.
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exporterOptions } from '../../src/cli/exporter-options.js';
import { Exporter } from '../../src/exporter.js';
import { BatchDecoder } from '../../src/kernel/batches.js';
import { decodeDatagram } from '../../src/kernel/decode.js';
import { encodeRecords, type RecordSpec } from '../../src/kernel/records.js';
import { createLogger } from '../../src/log.js';
import { commFromBytes } from '../../src/processes/comm.js';
import { defaultOptions } from '../helpers/exporter.js';
import { parseSamples, sampleValue } from '../helpers/metrics-text.js';
import { FakeProcfs } from '../helpers/procfs.js';
import { datagram } from './fixtures.js';
import { readFixture } from './fixtures/captured.js';

function exporter(): Exporter {
  return new Exporter({ ...exporterOptions(defaultOptions(), 'fuzz', createLogger('error', 'json')), procfs: new FakeProcfs({ 1: 'init' }), now: () => 0 });
}

async function page(of: Exporter): Promise<string> {
  return of.registries.text.metrics();
}

/** forkwatch's samples other than the invalid count, which is the one that may change. */
function otherSamples(text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('forkwatch_') && !line.startsWith('forkwatch_messages_invalid_total'));
}

const anyBytes = fc.uint8Array({ maxLength: 300 });

/** A datagram the kernel would never send: one of the checks the decoder makes fails. */
const notAnEvent: fc.Arbitrary<RecordSpec> = fc.oneof(
  // from a process, not the kernel: anything, even a copy of a real event
  fc.record({ datagram: fc.oneof(anyBytes, fc.constant(readFixture('fork-process').bytes)), senderPort: fc.integer({ min: 1, max: 0xffffffff }) }),
  // cut short
  fc.record({ datagram: fc.uint8Array({ maxLength: 75 }) }),
  // flagged truncated by the reader
  fc.record({ datagram: anyBytes, truncated: fc.constant(true) }),
  // another connector, or a proc_event of the wrong length
  fc
    .record({
      idx: fc.integer({ min: 0, max: 0xffffffff }),
      val: fc.integer({ min: 0, max: 0xffffffff }),
      cnLen: fc.integer({ min: 0, max: 0xffff }),
      what: fc.integer({ min: 0, max: 0xffffffff }),
    })
    .filter(({ idx, val, cnLen }) => !(idx === 1 && val === 1 && cnLen === 40))
    .map((spec) => ({ datagram: datagram(spec) })),
);

describe('the decoder against arbitrary input', () => {
  it('never throws, whatever the batch holds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (bytes) => {
        const decoder = new BatchDecoder({ event() {}, invalid() {}, lost() {} });
        decoder.decode(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary records, and hands on only what it accepts', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ datagram: anyBytes, senderPort: fc.constantFrom(0, 1), truncated: fc.boolean() }), { maxLength: 20 }), (records) => {
        let events = 0;
        let invalid = 0;
        new BatchDecoder({ event: () => events++, invalid: () => invalid++, lost() {} }).decode(encodeRecords(records));
        expect(events + invalid).toBe(records.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('counts datagrams that are not events as invalid, and changes nothing else', async () => {
    const fresh = otherSamples(await page(exporter()));
    await fc.assert(
      fc.asyncProperty(fc.array(notAnEvent, { minLength: 1, maxLength: 30 }), async (records) => {
        for (const record of records) {
          const { datagram: bytes, senderPort = 0 } = record;
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if (!record.truncated) expect(decodeDatagram(view, 0, bytes.length, senderPort).ok).toBe(false);
        }
        const fuzzed = exporter();
        fuzzed.replay([encodeRecords(records)]);
        const text = await page(fuzzed);
        expect(sampleValue(text, 'forkwatch_messages_invalid_total')).toBe(records.length);
        expect(otherSamples(text)).toEqual(fresh);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the page against arbitrary process names', () => {
  /** A process renamed to `name` (16 bytes, NULs and all, as a COMM event carries them) that then forks. */
  function renamedAndForked(pid: number, name: Uint8Array): RecordSpec[] {
    const words = (...values: number[]): number[] => values;
    return [
      { datagram: datagram({ what: 0x1, words: words(1, 1, pid, pid) }) },
      { datagram: datagram({ what: 0x200, words: words(pid, pid), comm: [...name] }) },
      { datagram: datagram({ what: 0x1, words: words(pid, pid, pid + 1, pid + 1) }) },
    ];
  }

  it('stays valid for promtool, with every name as its label value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 20 }), async (names) => {
        const fuzzed = exporter();
        fuzzed.replay([encodeRecords(names.flatMap((name, i) => renamedAndForked(1000 + 2 * i, name)))]);
        const text = await page(fuzzed);

        const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(check.error, 'promtool is missing: apt-get install prometheus').toBeUndefined();
        expect(check.stdout + check.stderr).toBe('');
        const labels = parseSamples(text)
          .filter((sample) => sample.name === 'forkwatch_parent_forks_total')
          .map((sample) => sample.labels.comm);
        for (const name of names) {
          const nul = name.indexOf(0);
          expect(labels).toContain(commFromBytes(name.subarray(0, nul === -1 ? 16 : nul)));
        }
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
