import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkAgainstKernel, parseFlags, type Options } from '../../src/cli/flags.js';

function run(...argv: string[]): Options {
  const result = parseFlags(argv, '1.2.3');
  if (result.kind !== 'run') throw new Error(`expected options, got ${JSON.stringify(result)}`);
  return result.options;
}

function fail(...argv: string[]): string {
  const result = parseFlags(argv, '1.2.3');
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.message;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('parseFlags', () => {
  it('uses the documented defaults', () => {
    vi.stubEnv('NODE_NAME', '');
    expect(run()).toEqual({
      listenHost: '',
      listenPort: 9740,
      telemetryPath: '/metrics',
      webConfigFile: undefined,
      receiveBufferBytes: 33554432,
      parentsMaxComms: 500,
      parentsTop: 10,
      parentsWindowSeconds: 60,
      forkbombChainDepth: 3,
      forkbombChainParents: 20,
      forkbombChainProcesses: 32,
      forkbombClearAfterSeconds: 60,
      kubernetesKubeconfig: undefined,
      kubernetesNodeName: undefined,
      noKubernetes: false,
      workloadsMax: 1000,
      workloadsRetentionSeconds: 600,
      cgroupfsPath: '/sys/fs/cgroup',
      logLevel: 'info',
      logFormat: 'json',
    } satisfies Options);
  });

  const cases: [flag: string, value: string, expected: Partial<Options>][] = [
    ['--web.listen-address', '127.0.0.1:0', { listenHost: '127.0.0.1', listenPort: 0 }],
    ['--web.telemetry-path', '/prom', { telemetryPath: '/prom' }],
    ['--web.config.file', 'web.yml', { webConfigFile: 'web.yml' }],
    ['--netlink.receive-buffer-bytes', '64KiB', { receiveBufferBytes: 65536 }],
    ['--parents.max-comms', '2000', { parentsMaxComms: 2000 }],
    ['--parents.top', '25', { parentsTop: 25 }],
    ['--parents.window', '5m', { parentsWindowSeconds: 300 }],
    ['--forkbomb.chain-depth', '12', { forkbombChainDepth: 12 }],
    ['--forkbomb.chain-parents', '100', { forkbombChainParents: 100 }],
    ['--forkbomb.chain-processes', '200', { forkbombChainProcesses: 200 }],
    ['--forkbomb.clear-after', '2m', { forkbombClearAfterSeconds: 120 }],
    ['--log.level', 'debug', { logLevel: 'debug' }],
    ['--log.format', 'logfmt', { logFormat: 'logfmt' }],
    ['--kubernetes.kubeconfig', '/etc/kubernetes/forkwatch.conf', { kubernetesKubeconfig: '/etc/kubernetes/forkwatch.conf' }],
    ['--kubernetes.node-name', 'node-7.example', { kubernetesNodeName: 'node-7.example' }],
    ['--workloads.max', '50', { workloadsMax: 50 }],
    ['--workloads.retention', '1h', { workloadsRetentionSeconds: 3600 }],
    ['--path.cgroupfs', '/host/sys/fs/cgroup', { cgroupfsPath: '/host/sys/fs/cgroup' }],
  ];
  for (const [flag, value, expected] of cases) {
    it(`accepts ${flag}=${value}`, () => {
      expect(run(`${flag}=${value}`)).toMatchObject(expected);
    });
    it(`accepts ${flag} ${value}`, () => {
      expect(run(flag, value)).toMatchObject(expected);
    });
  }

  it('lets the last of a repeated flag win', () => {
    expect(run('--parents.top=3', '--parents.top', '7').parentsTop).toBe(7);
  });

  it('treats an empty --web.config.file as none', () => {
    expect(run('--web.config.file=').webConfigFile).toBeUndefined();
  });

  const bad: [flag: string, value: string][] = [
    ['--web.listen-address', 'localhost'],
    ['--web.listen-address', ':99999'],
    ['--web.listen-address', ':'],
    ['--web.listen-address', '::1:9740'],
    ['--web.listen-address', '[nothost]:9740'],
    ['--web.listen-address', 'host:abc'],
    ['--web.telemetry-path', 'metrics'],
    ['--web.telemetry-path', '/'],
    ['--web.telemetry-path', '/-/healthy'],
    ['--web.telemetry-path', '/-/ready'],
    ['--web.telemetry-path', '/metrics?x=1'],
    ['--netlink.receive-buffer-bytes', '1024'],
    ['--netlink.receive-buffer-bytes', '2GiB'],
    ['--netlink.receive-buffer-bytes', '32MB'],
    ['--netlink.receive-buffer-bytes', '1.5MiB'],
    ['--parents.max-comms', '0'],
    ['--parents.max-comms', '100001'],
    ['--parents.top', 'abc'],
    ['--parents.top', '1001'],
    ['--parents.top', '-1'],
    ['--parents.top', '2.5'],
    ['--parents.top', ''],
    ['--parents.window', '0s'],
    ['--parents.window', '-1s'],
    ['--parents.window', '1.5s'],
    ['--parents.window', '500ms'],
    ['--parents.window', '2h'],
    ['--parents.window', 'abc'],
    ['--parents.window', ''],
    ['--log.level', 'verbose'],
    ['--log.format', 'text'],
    ['--log.level', 'bad\nvalue'],
    ['--forkbomb.chain-parents', '100001'],
    ['--forkbomb.chain-processes', '262145'],
    ['--kubernetes.node-name', 'Node_7'],
    ['--kubernetes.node-name', 'node-7.'],
    ['--workloads.max', '0'],
    ['--workloads.max', '100001'],
    ['--workloads.retention', '0s'],
    ['--workloads.retention', '2d'],
    ['--path.cgroupfs', 'sys/fs/cgroup'],
  ];
  for (const [flag, value] of bad) {
    it(`rejects ${flag}=${JSON.stringify(value)} in one line naming the flag, the value and what is accepted`, () => {
      const message = fail(`${flag}=${value}`);
      expect(message).not.toContain('\n');
      expect(message.startsWith(`${flag}: ${JSON.stringify(value)} `)).toBe(true);
      expect(message).toMatch(/; use .+/);
    });
  }

  it('words a bad number the way users read it', () => {
    expect(fail('--parents.top=abc')).toBe('--parents.top: "abc" is not a whole number; use a whole number from 1 to 1000');
  });

  it('reports a flag whose value is missing', () => {
    expect(fail('--parents.top')).toBe('--parents.top needs a value; use a whole number from 1 to 1000');
    expect(fail('--parents.top', '--log.level=debug')).toMatch(/^--parents\.top needs a value/);
  });

  it('rejects an unknown flag', () => {
    expect(fail('--foo')).toBe('unknown flag --foo; see forkwatch --help');
    expect(fail('--foo=bar')).toBe('unknown flag --foo; see forkwatch --help');
  });

  it('rejects positional arguments', () => {
    expect(fail('serve')).toMatch(/^unexpected argument "serve"/);
    expect(fail('--parents.top', '5', 'extra')).toMatch(/^unexpected argument "extra"/);
  });

  describe('durations', () => {
    it.each([
      ['60s', 60],
      ['5m', 300],
      ['1m30s', 90],
      ['1h', 3600],
      ['2000ms', 2],
    ])('%s is %i seconds', (value, seconds) => {
      expect(run(`--parents.window=${value}`).parentsWindowSeconds).toBe(seconds);
    });
  });

  describe('byte sizes', () => {
    it.each([
      ['33554432', 33554432],
      ['4096', 4096],
      ['64KiB', 65536],
      ['32MiB', 33554432],
      ['1GiB', 1073741824],
      ['2147483647', 2147483647],
    ])('%s is %i bytes', (value, bytes) => {
      expect(run(`--netlink.receive-buffer-bytes=${value}`).receiveBufferBytes).toBe(bytes);
    });
  });

  describe('listen addresses', () => {
    it.each([
      [':9740', '', 9740],
      ['127.0.0.1:0', '127.0.0.1', 0],
      ['[::1]:9740', '::1', 9740],
      ['localhost:8080', 'localhost', 8080],
    ])('%s', (address, host, port) => {
      expect(run('--web.listen-address', address)).toMatchObject({ listenHost: host, listenPort: port });
    });
  });

  it('prints help that lists every flag with its default', () => {
    const result = parseFlags(['--help'], '1.2.3');
    expect(result.kind).toBe('help');
    const text = result.kind === 'help' ? result.text : '';
    for (const [flag, shown] of [
      ['--web.listen-address', ':9740'],
      ['--web.telemetry-path', '/metrics'],
      ['--web.config.file', 'none'],
      ['--netlink.receive-buffer-bytes', '33554432'],
      ['--parents.max-comms', '500'],
      ['--parents.top', '10'],
      ['--parents.window', '60s'],
      ['--log.level', 'info'],
      ['--log.format', 'json'],
      ['--kubernetes.kubeconfig', 'none'],
      ['--kubernetes.node-name', '$NODE_NAME'],
      ['--workloads.max', '1000'],
      ['--workloads.retention', '10m'],
      ['--path.cgroupfs', '/sys/fs/cgroup'],
    ] as const) {
      const line = text.split('\n').find((l) => l.trimStart().startsWith(flag));
      expect(line, flag).toContain(`(default: ${shown})`);
    }
    expect(text).toContain('--version');
    expect(text).toMatch(/^ +--no-kubernetes +never call the Kubernetes API; pods stay named by uid$/m);
    expect(parseFlags(['-h'], '1.2.3').kind).toBe('help');
  });

  it('prints the version', () => {
    expect(parseFlags(['--version'], '1.2.3')).toEqual({ kind: 'version', text: 'forkwatch 1.2.3' });
  });

  it('rejects a value given to a switch', () => {
    expect(fail('--version=yes')).toBe('--version takes no value; see forkwatch --help');
    expect(fail('--no-kubernetes=true')).toBe('--no-kubernetes takes no value; see forkwatch --help');
  });

  it('turns the Kubernetes API off with --no-kubernetes', () => {
    expect(run('--no-kubernetes').noKubernetes).toBe(true);
    expect(run('--no-kubernetes', '--workloads.max', '5')).toMatchObject({ noKubernetes: true, workloadsMax: 5 });
  });

  it('takes the node name from NODE_NAME, which the flag overrides', () => {
    vi.stubEnv('NODE_NAME', 'node-a');
    expect(run().kubernetesNodeName).toBe('node-a');
    expect(run('--kubernetes.node-name=node-b').kubernetesNodeName).toBe('node-b');
  });

  it('refuses a NODE_NAME that is not a node name, in one line naming the variable and the flag', () => {
    vi.stubEnv('NODE_NAME', 'Not A Node');
    expect(fail()).toBe(
      'NODE_NAME (the default of --kubernetes.node-name): "Not A Node" is not a node name; use a Kubernetes node name: lower-case letters, digits, "-" and ".", like node-7.example, or give --kubernetes.node-name',
    );
  });
});

describe('checkAgainstKernel', () => {
  const options = (chainProcesses: number): Options => ({ ...run(), forkbombChainProcesses: chainProcesses });

  it("refuses more processes in chains than the kernel's pid_max lets live, in one line", () => {
    expect(checkAgainstKernel(options(40_000), 32_768)).toBe(
      "--forkbomb.chain-processes: 40000 is more than the kernel's pid_max (32768) lets live at once, so that sign could never fire; use at most 32768",
    );
  });

  it('accepts what pid_max allows, and anything where pid_max cannot be read', () => {
    expect(checkAgainstKernel(options(32_768), 32_768)).toBeUndefined();
    expect(checkAgainstKernel(options(200_000), undefined)).toBeUndefined();
  });
});
