// A fake /proc as a real directory tree, for the real Procfs to read: <root>/<pid>/stat and
// comm as the kernel writes them, and <root>/uptime. Its clock is fixed: CLOCK_MONOTONIC
// reads `monotonicNs`, and boot time runs `suspendedNs` ahead of it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Procfs } from '../../src/processes/procfs.js';

export interface FakeProcess {
  /** The name as the kernel keeps it: any bytes but NUL, up to 15. */
  comm: string | Uint8Array;
  ppid?: number;
  /** CLOCK_MONOTONIC ns at its start (the fork event's timestamp). */
  startedNs?: number;
  /** stat's state letter: R, S, Z (zombie) ... */
  state?: string;
}

const NS_PER_TICK = 10_000_000;

export class FakeProcTree {
  readonly root = mkdtempSync(join(tmpdir(), 'forkwatch-proc-'));
  monotonicNs = 1_000 * 1e9;
  suspendedNs = 0;
  readonly procfs = new Procfs(this.root, () => this.monotonicNs);

  constructor() {
    this.writeUptime();
  }

  add(pid: number, process: FakeProcess): void {
    const dir = join(this.root, String(pid));
    mkdirSync(dir, { recursive: true });
    const comm = typeof process.comm === 'string' ? Buffer.from(process.comm) : Buffer.from(process.comm);
    // Boot-time ticks, whole ones, as the kernel counts a start (truncated).
    const startTicks = Math.floor(((process.startedNs ?? 0) + this.suspendedNs) / NS_PER_TICK);
    const fields = Array.from({ length: 50 }, () => '0'); // fields 3 to 52
    fields[0] = process.state ?? 'S';
    fields[4 - 3] = String(process.ppid ?? 1);
    fields[22 - 3] = String(startTicks);
    writeFileSync(join(dir, 'stat'), Buffer.concat([Buffer.from(`${pid} (`), comm, Buffer.from(`) ${fields.join(' ')}\n`)]));
    writeFileSync(join(dir, 'comm'), Buffer.concat([comm, Buffer.from('\n')]));
  }

  remove(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }

  /** Moves the clock on; boot time with it, plus `suspendedNs` more if the machine slept. */
  advance(ns: number, suspendedNs = 0): void {
    this.monotonicNs += ns;
    this.suspendedNs += suspendedNs;
    this.writeUptime();
  }

  destroy(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private writeUptime(): void {
    // The kernel prints hundredths, truncated.
    const centiseconds = Math.floor((this.monotonicNs + this.suspendedNs) / NS_PER_TICK);
    writeFileSync(join(this.root, 'uptime'), `${Math.floor(centiseconds / 100)}.${String(centiseconds % 100).padStart(2, '0')} 0.00\n`);
  }
}
