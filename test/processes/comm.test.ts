import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commFromBytes } from '../../src/processes/comm.js';
import { Procfs } from '../../src/processes/procfs.js';

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

describe('Procfs', () => {
  const procfs = new Procfs();

  it('reads the name of this process, without the trailing newline', () => {
    const expected = readFileSync('/proc/self/comm', 'utf8').replace(/\n$/, '');

    const comm = procfs.comm(process.pid);

    expect(comm).toBe(expected);
    expect(comm).not.toBe('');
  });

  it('returns undefined for a pid that cannot exist', () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    const pid = 2 ** 22 + 7;
    expect(pid).toBeGreaterThan(pidMax); // the kernel's ceiling for pid_max is 2^22

    expect(procfs.comm(pid)).toBeUndefined();
  });

  it("lists this process among the pids, and reads the kernel's pid_max", () => {
    expect(procfs.pids()).toContain(process.pid);
    expect(procfs.pidMax()).toBe(Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')));
  });

  it('reads another root, as a replay of captured events brings its own', () => {
    const root = mkdtempSync(join(tmpdir(), 'forkwatch-procfs-'));
    try {
      mkdirSync(join(root, '42'));
      writeFileSync(join(root, '42', 'comm'), 'replayed\n');
      mkdirSync(join(root, 'self'));
      const other = new Procfs(root);

      expect(other.pids()).toEqual([42]);
      expect(other.comm(42)).toBe('replayed');
      expect(other.pidMax()).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});
