// Proves what forkwatch tells the kernel: strace, attached to the running process, records
// the proc connector control messages it sends (the unsubscribe on shutdown above all).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The proc connector control messages (op 1 = LISTEN, 2 = IGNORE) that strace saw sent to
 * the kernel (netlink port 0), with what each sendto returned. strace shows the netlink
 * header decoded and the rest (cn_msg, then the op) as bytes.
 */
export function controlMessagesSent(trace: string): { op: number; result: number }[] {
  const sent =
    /sendto\(\d+, \[\{nlmsg_len=40, [^}]*\}, "((?:\\x[0-9a-f]{2})+)"\], 40, 0, \{sa_family=AF_NETLINK, nl_pid=0, nl_groups=0+\}, \d+\) = (-?\d+)/g;
  return [...trace.matchAll(sent)]
    .map(([, hex, result]) => ({ cn: Buffer.from(hex!.replaceAll('\\x', ''), 'hex'), result: Number(result) }))
    .filter(({ cn }) => cn.length === 24 && cn.readUInt32LE(0) === 1 && cn.readUInt32LE(4) === 1 && cn.readUInt16LE(16) === 4)
    .map(({ cn, result }) => ({ op: cn.readUInt32LE(20), result }));
}

/** Traces a process's sendto calls (every thread) until it exits; `done` resolves with the trace. */
export async function traceSendto(pid: number): Promise<{ attached: Promise<void>; done: Promise<string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-strace-'));
  const file = join(dir, 'trace');
  const strace = spawn('strace', ['-f', '-p', String(pid), '-e', 'trace=sendto', '-xx', '-s', '64', '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const attached = new Promise<void>((resolve, reject) => {
    strace.once('error', (error) => reject(new Error(`strace did not start (${error.message}); install it with apt-get install strace`)));
    strace.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('attached')) resolve();
    });
  });
  const done = once(strace, 'exit').then(() => {
    const trace = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    return trace;
  });
  return { attached, done };
}
