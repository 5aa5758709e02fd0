// /proc/<pid>/cgroup as the kernel writes it on each kind of host (cgroups(7); this
// project's test machines are hybrid: v1 controllers plus v2 at /sys/fs/cgroup/unified).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PROC_CGROUP_BYTES, parseProcCgroup, readProcCgroup } from '../../src/workloads/proc-cgroup.js';

const UID_ = '0f2b7a3e_6c1d_4e8a_9b5f_2d4c6e8a0b1c';
const ID = '3f1c9e2ab84d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e';
const SCOPE = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`;

const lines = (...text: string[]): string => `${text.join('\n')}\n`;

describe('parseProcCgroup', () => {
  it.each([
    ['cgroup v2 only', lines(`0::${SCOPE}`), SCOPE],
    [
      'hybrid (this machine\'s layout): the v1 pids line wins over name=systemd and 0::',
      lines('9:name=systemd:/system.slice/containerd.service', `8:pids:${SCOPE}`, '7:blkio:/', '4:memory:/x', '0::/system.slice/containerd.service'),
      SCOPE,
    ],
    ['v1 with the pids controller co-mounted', lines('12:cpu,cpuacct:/a', `11:pids,net_cls:${SCOPE}`, '1:name=systemd:/b'), SCOPE],
    ['v1 without a pids hierarchy: name=systemd', lines('4:memory:/m', '1:name=systemd:/system.slice/cron.service'), '/system.slice/cron.service'],
    ['hybrid without pids: name=systemd before the unified line', lines('1:name=systemd:/system.slice/cron.service', '0::/system.slice/cron.service'), '/system.slice/cron.service'],
    ['inside a private cgroup namespace', lines(`0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`), `/../../kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`],
    ['v1 seen from two levels down a namespace', lines('8:pids:/../..', '0::/'), '/../..'],
    ['a zombie whose v2 cgroup was removed', lines('0::/system.slice/gone.service (deleted)'), '/system.slice/gone.service'],
    ['a path holding colons', lines('0::/machine.slice/a:b:c.scope'), '/machine.slice/a:b:c.scope'],
    ['no final newline', `0::${SCOPE}`, SCOPE],
    ['the root', lines('0::/'), '/'],
  ])('%s', (_what, text, expected) => {
    expect(parseProcCgroup(text)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['only newlines', '\n\n\n'],
    ['no colons', lines('garbage')],
    ['a path that is not absolute', lines('0::relative/path')],
    ['a non-numeric hierarchy id', lines('x:pids:/a')],
    ['the v2 line naming controllers', lines('0:pids:/a')],
    ['two pids lines (not what the kernel writes)', lines('8:pids:/a', '8:pids:/b')],
    ['two v2 lines', lines('0::/a', '0::/b')],
    ['bytes that are not UTF-8, decoded', Buffer.from([0xff, 0xfe, 0x3a, 0x3a, 0x2f, 0x80, 0x0a]).toString('utf8')],
  ])('gives undefined for %s', (_what, text) => {
    expect(parseProcCgroup(text)).toBeUndefined();
  });

  it('two duplicated pids lines do not hide a single name=systemd line', () => {
    expect(parseProcCgroup(lines('8:pids:/a', '8:pids:/b', '1:name=systemd:/c.service'))).toBe('/c.service');
  });

  it('looks only at the start of a huge text, and never at a line cut in two', () => {
    const padding = lines(...Array.from({ length: 20_000 }, (_, i) => `${i + 100}:x:/pad`));
    expect(padding.length).toBeGreaterThan(MAX_PROC_CGROUP_BYTES);
    expect(parseProcCgroup(lines(`8:pids:${SCOPE}`) + padding)).toBe(SCOPE);
    expect(parseProcCgroup(padding + lines(`8:pids:${SCOPE}`))).toBeUndefined();
    const cut = `${'1:x:/y\n'.repeat(Math.floor((MAX_PROC_CGROUP_BYTES - 10) / 7))}0::/abcdefghijklmnopqrstuvwxyz`;
    expect(parseProcCgroup(cut)).toBeUndefined();
  });

  it('takes random bytes without throwing', () => {
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
      const result = parseProcCgroup(bytes.toString('utf8'));
      expect(result === undefined || result.startsWith('/')).toBe(true);
    }
  });
});

describe('readProcCgroup', () => {
  const root = mkdtempSync(join(tmpdir(), 'forkwatch-proc-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function fakeProcess(pid: number, content: string | Buffer): void {
    mkdirSync(join(root, String(pid)), { recursive: true });
    writeFileSync(join(root, String(pid), 'cgroup'), content);
  }

  it('reads the file of a pid under the given proc root', () => {
    fakeProcess(41, lines('9:name=systemd:/', `8:pids:${SCOPE}`, '0::/'));
    expect(readProcCgroup(41, root)).toBe(SCOPE);
  });

  it('gives undefined for a process that is gone, and for pids that cannot be', () => {
    expect(readProcCgroup(42, root)).toBeUndefined();
    expect(readProcCgroup(0, root)).toBeUndefined();
    expect(readProcCgroup(-1, root)).toBeUndefined();
    expect(readProcCgroup(1.5, root)).toBeUndefined();
  });

  it('reads no more than the limit of a huge file', () => {
    fakeProcess(43, Buffer.concat([Buffer.from(lines(`8:pids:${SCOPE}`)), Buffer.alloc(8 * MAX_PROC_CGROUP_BYTES, 0x61)]));
    expect(readProcCgroup(43, root)).toBe(SCOPE);
  });

  it('reads a real process: a child starts in its parent\'s cgroup, and is gone once reaped', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    try {
      const own = readProcCgroup(process.pid);
      expect(own).toMatch(/^\//);
      expect(own).toBe(parseProcCgroup(readFileSync(`/proc/${process.pid}/cgroup`, 'utf8')));
      expect(readProcCgroup(pid)).toBe(own);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    // The kernel hands out pids in a cycle, so a pid just freed is not reused this soon.
    expect(readProcCgroup(pid)).toBeUndefined();
  });
});
