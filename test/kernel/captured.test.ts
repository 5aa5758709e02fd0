// The kernel's own datagrams, one of each event type, captured by capture.ts on Linux 6.18
// (fixtures/<name>.hex) and checked against what the process that caused each one knew
// (fixtures/<name>.json). The bytes are checked in: these tests need no kernel.
import { describe, expect, it } from 'vitest';
import { datagram, decodeEvent } from './fixtures.js';
import { FIXTURE_NAMES, UNION_WORDS, WHAT_CODES, readFixture, type ExpectedEvent } from './fixtures/captured.js';

// A tool, not a test: it rewrites the fixtures, so it runs only when asked, and the checks
// below then read what it wrote. Skipped otherwise, under CI=true too.
it.skipIf(process.env.FORKWATCH_CAPTURE !== '1')(
  'capture: FORKWATCH_CAPTURE=1 npx vitest run test/kernel/captured.test.ts rewrites the fixtures from this kernel (as root, with cc)',
  async () => {
    const { captureFixtures } = await import('./capture.js');
    for (const line of await captureFixtures()) console.log(line);
  },
);

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function numberField(event: ExpectedEvent, field: string): number {
  const value = event[field];
  if (typeof value !== 'number') throw new Error(`the fixture's ${field} is not a number: ${String(value)}`);
  return value;
}

// Each test reads the files itself, so that after a capture in this run it checks the new ones.
describe.each(FIXTURE_NAMES)('the captured %s datagram', (name) => {
  it('is one whole proc connector datagram from the kernel', () => {
    const { bytes } = readFixture(name);
    const header = view(bytes);

    expect(bytes.length).toBe(76);
    expect(header.getUint32(0, true)).toBe(76); // nlmsg_len
    expect(header.getUint16(4, true)).toBe(3); // nlmsg_type NLMSG_DONE, meaning data here
    expect(header.getUint32(12, true)).toBe(0); // nlmsg_pid: the kernel
    expect(header.getUint32(16, true)).toBe(1); // cn_msg.id.idx CN_IDX_PROC
    expect(header.getUint32(20, true)).toBe(1); // cn_msg.id.val CN_VAL_PROC
    expect(header.getUint16(32, true)).toBe(40); // cn_msg.len: sizeof(struct proc_event)
  });

  it("carries its kind's what code and decodes as that kind", () => {
    const { bytes, event: expected } = readFixture(name);

    expect(view(bytes).getUint32(36, true)).toBe(WHAT_CODES[expected.what]);
    expect(decodeEvent(bytes, expected.what).what).toBe(expected.what);
  });

  it('decodes, field by field, to what the process that caused it knew', () => {
    const { bytes, event: expected } = readFixture(name);

    const event = decodeEvent(bytes, expected.what) as unknown as Readonly<Record<string, unknown>>;

    // No decoded field goes unchecked, and none the fixture names is missing.
    expect(Object.keys(event).sort()).toEqual(Object.keys(expected).sort());
    for (const [field, value] of Object.entries(expected)) {
      if (field === 'comm') expect(event.comm, field).toEqual(new TextEncoder().encode(String(value)));
      else expect(event[field], field).toBe(value);
    }
  });

  it("is written byte for byte by the fixture builder from the same fields (the other decoder tests' datagrams)", () => {
    const { bytes, event } = readFixture(name);

    const built = datagram({
      what: WHAT_CODES[event.what],
      cpu: numberField(event, 'cpu'),
      seq: numberField(event, 'seq'),
      timestampNs: BigInt(numberField(event, 'timestampNs')),
      ack: event.ack === undefined ? 0 : numberField(event, 'ack'),
      words: UNION_WORDS[event.what].map((field) => numberField(event, field)),
      comm: event.comm === undefined ? undefined : [...new TextEncoder().encode(String(event.comm))],
    });

    expect(built).toEqual(bytes);
  });
});
