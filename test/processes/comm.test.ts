import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commFromBytes, readProcComm } from '../../src/processes/comm.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('commFromBytes', () => {
  it('decodes an ASCII name unchanged', () => {
    expect(commFromBytes(utf8('bash'))).toBe('bash');
  });

  it('decodes multi-byte UTF-8 unchanged', () => {
    expect(commFromBytes(utf8('café-日本-🚀'))).toBe('café-日本-🚀');
  });

  it('decodes no bytes as the empty name', () => {
    expect(commFromBytes(bytes())).toBe('');
  });

  it('turns a 0xff byte into U+FFFD', () => {
    expect(commFromBytes(bytes(0x61, 0xff, 0x62))).toBe('a\uFFFDb');
  });

  it('turns a lead byte without its continuation (0xc3 0x28) into U+FFFD and keeps the next character', () => {
    expect(commFromBytes(bytes(0xc3, 0x28))).toBe('\uFFFD(');
  });

  it('turns a multi-byte character cut short at the end into U+FFFD', () => {
    // The first two of the three bytes of 日 (e6 97 a5), as a 15-byte comm can cut it.
    expect(commFromBytes(bytes(0x61, 0xe6, 0x97))).toBe('a\uFFFD');
  });

  it('keeps quotes, backslashes, newlines and braces as they are', () => {
    const name = 'a"b\\c\nd{e}';

    expect(commFromBytes(utf8(name))).toBe(name);
  });

  it('keeps a leading U+FEFF, so "\uFEFFsshd" is not counted as sshd', () => {
    expect(commFromBytes(bytes(0xef, 0xbb, 0xbf, 0x73, 0x73, 0x68, 0x64))).toBe('\uFEFFsshd');
  });
});

describe('readProcComm', () => {
  it('reads the name of this process, without the trailing newline', () => {
    const expected = readFileSync('/proc/self/comm', 'utf8').replace(/\n$/, '');

    const comm = readProcComm(process.pid);

    expect(comm).toBe(expected);
    expect(comm).not.toBe('');
  });

  it('returns undefined for a pid that cannot exist', () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    const pid = 2 ** 22 + 7;
    expect(pid).toBeGreaterThan(pidMax); // the kernel's ceiling for pid_max is 2^22

    expect(readProcComm(pid)).toBeUndefined();
  });
});
