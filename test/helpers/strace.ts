// What forkwatch said to the kernel, as strace saw it: the proc connector control
// messages (PROC_CN_MCAST_LISTEN and _IGNORE) it sent.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LISTEN = 1;
export const IGNORE = 2;

/**
 * The proc connector control messages (op 1 = LISTEN, 2 = IGNORE) that strace saw sent to
 * the kernel (netlink port 0), with what each sendto returned. strace shows the netlink
 * header decoded and the rest (cn_msg, then the op) as bytes.
 */
export function controlMessagesSent(trace: string): { op: number; result: number }[] {
  trace = joinInterrupted(trace);
  const sent =
    /sendto\(\d+, \[\{nlmsg_len=40, [^}]*\}, "((?:\\x[0-9a-f]{2})+)"\], 40, 0, \{sa_family=AF_NETLINK, nl_pid=0, nl_groups=0+\}, \d+\) += (-?\d+)/g;
  return [...trace.matchAll(sent)]
    .map(([, hex, result]) => ({ cn: Buffer.from(hex!.replaceAll('\\x', ''), 'hex'), result: Number(result) }))
    .filter(({ cn }) => cn.length === 24 && cn.readUInt32LE(0) === 1 && cn.readUInt32LE(4) === 1 && cn.readUInt16LE(16) === 4)
    .map(({ cn, result }) => ({ op: cn.readUInt32LE(20), result }));
}

/**
 * With -f, a call that another thread's call interrupts is printed in two parts, "PID
 * call(args <unfinished ...>" and later "PID <... call resumed>) = result": put back together.
 */
function joinInterrupted(trace: string): string {
  const started = new Map<string, string>();
  const lines: string[] = [];
  for (const line of trace.split('\n')) {
    const unfinished = /^(\d+) (.*?) ?<unfinished \.\.\.>$/.exec(line);
    if (unfinished) {
      started.set(unfinished[1]!, unfinished[2]!);
      continue;
    }
    const resumed = /^(\d+) <\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed && started.has(resumed[1]!)) {
      lines.push(`${resumed[1]} ${started.get(resumed[1]!)}${resumed[2]}`);
      started.delete(resumed[1]!);
      continue;
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** Traces forkwatch's sendto calls (every thread) until it exits; resolves with the trace. */
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

/**
 * Words to put before a command so that strace traces its sendto calls (every thread)
 * from the start into a file; `read()` gives the trace once the command has exited.
 */
export function straceFromStart(): { prefix: string[]; read(): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-strace-'));
  const file = join(dir, 'trace');
  return {
    prefix: ['strace', '-f', '-e', 'trace=sendto', '-xx', '-s', '64', '-o', file, '--'],
    read: () => readFileSync(file, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
