// The forkwatch command as users run it: the built dist/src/cli.js in a child process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';
import { CLI, nodeOptionsOf, runForkwatch, sleep, startForkwatch, type Exit, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { controlMessagesSent, traceSendto } from '../helpers/strace.js';

const packageVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

// Every flag SPEC.md names; --help must list each one.
const SPEC_FLAGS = [
  '--web.listen-address',
  '--web.telemetry-path',
  '--web.config.file',
  '--netlink.receive-buffer-bytes',
  '--parents.max-comms',
  '--parents.top',
  '--parents.window',
  '--log.level',
  '--log.format',
  '--kubernetes.kubeconfig',
  '--kubernetes.node-name',
  '--no-kubernetes',
  '--workloads.max',
  '--workloads.retention',
  '--help',
  '--version',
];

// The kernel's acknowledgement timeout is 5 s; a refusal must come well before this.
const REFUSAL_TIMEOUT_MS = 30_000;
const SHUTDOWN_BUDGET_MS = 5000;

interface LogRecord {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** forkwatch's JSON log (stderr), one record per line. */
function records(stderr: string): LogRecord[] {
  return lines(stderr).map((line) => JSON.parse(line) as LogRecord);
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

function errorRecords(exit: Exit): LogRecord[] {
  return records(exit.stderr).filter((record) => record.level === 'error');
}

/** Exited by itself (not killed by runForkwatch's timeout) with a failure status. */
function expectFailedOnItsOwn(exit: Exit): void {
  expect(exit.signal, `forkwatch was killed instead of exiting; stderr:\n${exit.stderr}`).toBeNull();
  expect(exit.code, exit.stderr).not.toBe(0);
}

async function waitForStderr(forkwatch: RunningForkwatch, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(forkwatch.stderr());
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`forkwatch never logged ${pattern}; stderr:\n${forkwatch.stderr()}`);
    await sleep(20);
  }
}

describe('forkwatch rejects bad command lines', () => {
  const cases: [what: string, args: string[], names: RegExp][] = [
    ['an unknown flag', ['--no.such-flag'], /unknown flag --no\.such-flag/],
    ['a value that is not a number', ['--parents.top', 'abc'], /--parents\.top: "abc" is not a whole number/],
    ['a listen address without a port', ['--web.listen-address', 'localhost'], /--web\.listen-address: "localhost" has no port/],
    ['a listen address with a port out of range', ['--web.listen-address', '127.0.0.1:70000'], /--web\.listen-address: .*out of range/],
    ['a positional argument', ['metrics'], /unexpected argument "metrics"/],
    // Detector signs that could never fire are refused, not run silently disabled.
    ['more chain parents than the detector follows', ['--forkbomb.chain-parents=500000'], /--forkbomb\.chain-parents: "500000" is out of range; use a whole number from 1 to 100000/],
    [
      "more chain processes than this kernel's pid_max lets live",
      [`--forkbomb.chain-processes=${Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1}`],
      /--forkbomb\.chain-processes: \d+ is more than the kernel's pid_max \(\d+\) lets live at once/,
    ],
  ];

  it.each(cases)('exits 2 with one line on stderr naming %s', async (_what, args, names) => {
    const exit = await runForkwatch(args);

    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(lines(exit.stderr)).toHaveLength(1);
    expect(exit.stderr).toMatch(names);
  });

  it('--help exits 0 and lists every flag of SPEC.md', async () => {
    const exit = await runForkwatch(['--help']);

    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    for (const flag of SPEC_FLAGS) expect(exit.stdout).toContain(flag);
  });

  it('--version prints "forkwatch <version from package.json>"', async () => {
    const exit = await runForkwatch(['--version']);

    expect(exit.code).toBe(0);
    expect(exit.stdout).toBe(`forkwatch ${packageVersion}\n`);
  });
});

describe('forkwatch starts with the same Node.js options however it is started', () => {
  // The command's first line (bin, and what the tests and the bench run) and npm start;
  // test/deploy/dockerfile.test.ts checks the container's ENTRYPOINT.
  it('in the source, the built command and package.json start', () => {
    const options = nodeOptionsOf(join(packageRoot, 'src', 'cli.ts'));
    const start = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;

    expect(options.length).toBeGreaterThan(0);
    expect(nodeOptionsOf(CLI)).toEqual(options);
    expect(start).toBe(['exec node', ...options, 'dist/src/cli.js'].join(' '));
  });
});

describe('forkwatch rejects a bad --web.config.file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-cli-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 2 with one line naming a missing file', async () => {
    const missing = join(dir, 'missing.yml');

    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0', '--web.config.file', missing]);

    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toHaveLength(1);
    expect(exit.stderr).toContain(missing);
  });

  it('exits 2 with one line naming an invalid file', async () => {
    const invalid = join(dir, 'invalid.yml');
    writeFileSync(invalid, 'tls_server_config:\n  cert_file: [unclosed\n');

    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0', '--web.config.file', invalid]);

    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toHaveLength(1);
    expect(exit.stderr).toContain(invalid);
  });
});

describe('forkwatch rejects a Kubernetes setting it cannot use', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-cli-kube-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 2 with one line naming a kubeconfig it cannot load', async () => {
    const missing = join(dir, 'missing.yaml');
    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0', '--kubernetes.kubeconfig', missing, '--kubernetes.node-name', 'node-a']);

    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toHaveLength(1);
    expect(errorRecords(exit)[0]?.msg).toMatch(/^--kubernetes\.kubeconfig: cannot load the kubeconfig .*missing\.yaml.*--no-kubernetes$/);
  });

  it('exits 2 with one line naming a kubeconfig without a current context', async () => {
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0', '--kubernetes.kubeconfig', empty, '--kubernetes.node-name', 'node-a']);

    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toHaveLength(1);
    expect(errorRecords(exit)[0]?.msg).toMatch(/has no current context/);
  });

  it('exits 2 with one line when NODE_NAME is not a node name', async () => {
    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0'], { env: { ...process.env, NODE_NAME: 'Node_A' } });

    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toEqual(['forkwatch: NODE_NAME (the default of --kubernetes.node-name): "Node_A" is not a node name; use a Kubernetes node name: lower-case letters, digits, "-" and ".", like node-7.example, or give --kubernetes.node-name']);
  });
});

describe('forkwatch refuses a port in use', () => {
  let holder: Server;
  afterEach(async () => {
    holder.close();
    await once(holder, 'close');
  });

  it('exits non-zero with one line saying the address is in use and naming --web.listen-address', async () => {
    holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as AddressInfo;

    const exit = await runForkwatch(['--web.listen-address', `127.0.0.1:${port}`]);

    expectFailedOnItsOwn(exit);
    const errors = errorRecords(exit);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/in use/);
    expect(errors[0]?.msg).toContain(`127.0.0.1:${port}`);
    expect(errors[0]?.msg).toContain('--web.listen-address');
  });
});

describeKernel('forkwatch refuses namespaces where the kernel will not serve it', () => {
  const listen = ['--web.listen-address', '127.0.0.1:0'];

  it(
    'outside the host network namespace: exits non-zero with one line asking for the host network (hostNetwork)',
    async () => {
      const exit = await runForkwatch(listen, { prefix: ['unshare', '--net'], timeoutMs: REFUSAL_TIMEOUT_MS });

      expectFailedOnItsOwn(exit);
      const errors = errorRecords(exit);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toMatch(/network namespace/);
      expect(errors[0]?.msg).toContain('hostNetwork');
    },
    REFUSAL_TIMEOUT_MS + 5000,
  );

  // The kernel ignores a subscription from these namespaces without a reply: forkwatch
  // gives up when its acknowledgement timeout (5 s) expires.
  const ignoredBy: [what: string, prefix: string[]][] = [
    // --kill-child: should runForkwatch's timeout kill unshare, forkwatch goes too.
    ['a private PID namespace', ['unshare', '--pid', '--fork', '--kill-child=SIGTERM']],
    ['a private user namespace', ['unshare', '--user', '--map-root-user']],
  ];

  it.each(ignoredBy)(
    'in %s: exits non-zero with one line asking for the host PID and user namespaces (hostPID)',
    async (_what, prefix) => {
      const exit = await runForkwatch(listen, { prefix, timeoutMs: REFUSAL_TIMEOUT_MS });

      expectFailedOnItsOwn(exit);
      const errors = errorRecords(exit);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toMatch(/PID and user namespaces/);
      expect(errors[0]?.msg).toContain('hostPID');
    },
    REFUSAL_TIMEOUT_MS + 5000,
  );
});

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

describeKernel('forkwatch stops cleanly on a signal', () => {
  it.each(SIGNALS)(`on %s: exits 0 within ${SHUTDOWN_BUDGET_MS / 1000} s and logs that it shut down`, async (signal) => {
    const forkwatch = await startForkwatch();

    const exit = await forkwatch.stop(signal);

    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.ms).toBeLessThan(SHUTDOWN_BUDGET_MS);
    const shutdown = records(exit.stderr).filter((record) => record.msg === 'shutting down');
    expect(shutdown).toHaveLength(1);
    expect(shutdown[0]?.signal).toBe(signal);
  });

  // The kernel counts listeners; a socket closed without PROC_CN_MCAST_IGNORE leaves the
  // count raised until reboot. (That the kernel honours the IGNORE forkwatch's connector
  // sends is proven in test/kernel/connector.test.ts.)
  it.each(SIGNALS)('on %s: sends PROC_CN_MCAST_IGNORE to the kernel before it exits', async (signal) => {
    const forkwatch = await startForkwatch();
    let trace: string;
    try {
      const tracing = await traceSendto(forkwatch.pid);
      await tracing.attached;
      await sleep(200); // strace attaches to the other threads just after
      const exit = await forkwatch.stop(signal);
      expect(exit.code, exit.stderr).toBe(0);
      trace = await tracing.done;
    } finally {
      await forkwatch.stop();
    }
    expect(controlMessagesSent(trace)).toEqual([{ op: 2, result: 40 }]);
  });
});

describeKernel('forkwatch logs a successful start-up', () => {
  it('logs the receive buffer the kernel granted, the same value /metrics shows', async () => {
    const forkwatch = await startForkwatch(['--netlink.receive-buffer-bytes', '4MiB']);
    try {
      await waitForStderr(forkwatch, /"msg":"subscribed to process events"/);
      const subscribed = records(forkwatch.stderr()).find((record) => record.msg === 'subscribed to process events');
      const granted = subscribed?.receive_buffer_bytes;

      expect(granted).toEqual(expect.any(Number));
      expect(granted).toBeGreaterThan(0);
      const gauge = parseSamples(await forkwatch.scrape()).find((s) => s.name === 'forkwatch_netlink_receive_buffer_bytes');
      expect(gauge?.value).toBe(granted);
    } finally {
      expect((await forkwatch.stop()).code).toBe(0);
    }
  });

  it('outside Kubernetes (no pod, no kubeconfig) says once that pods are named by uid, and asks no API', async () => {
    const env = { ...process.env, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' };
    const forkwatch = await startForkwatch([], { env });
    try {
      await waitForStderr(forkwatch, /"msg":"subscribed to process events"/);
      const kubernetes = records(forkwatch.stderr()).filter((record) => /Kubernetes|kubeconfig|pods are named/.test(record.msg));
      expect(kubernetes).toEqual([expect.objectContaining({ level: 'info', msg: 'not in a Kubernetes pod and no --kubernetes.kubeconfig given: pods are named by uid' })]);
      expect(parseSamples(await forkwatch.scrape()).find((s) => s.name === 'forkwatch_kubernetes_synced')?.value).toBe(0);
    } finally {
      expect((await forkwatch.stop()).code).toBe(0);
    }
  });

  it('writes logfmt lines with --log.format logfmt', async () => {
    // startForkwatch reads the JSON "listening" record, so this starts the command itself.
    const child = spawn(process.execPath, [...nodeOptionsOf(CLI), CLI, '--web.listen-address', '127.0.0.1:0', '--log.format', 'logfmt'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const deadline = Date.now() + 20_000;
      while (!/msg="subscribed to process events"/.test(stderr)) {
        if (child.exitCode !== null) throw new Error(`forkwatch exited at start:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`forkwatch did not subscribe in time:\n${stderr}`);
        await sleep(20);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    const [code] = await exited;

    expect(code, stderr).toBe(0);
    const logged = lines(stderr);
    expect(logged.length).toBeGreaterThanOrEqual(3); // listening, subscribed, shutting down
    for (const line of logged) {
      expect(line).toMatch(/^ts=\S+ level=(debug|info|warn|error) msg=("(?:[^"\\]|\\.)*"|\S+)( [A-Za-z0-9_.-]+=("(?:[^"\\]|\\.)*"|\S+))*$/);
    }
    expect(stderr).toMatch(/level=info msg=listening url=http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(stderr).toMatch(/level=info msg="subscribed to process events" receive_buffer_bytes=\d+/);
    expect(stderr).toMatch(/level=info msg="shutting down" signal=SIGTERM/);
  });
});
