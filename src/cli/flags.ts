// Command-line flags: one table drives parsing, defaults, validation messages and --help.
import { isIPv6 } from 'node:net';
import { MAX_RECENT_FORKERS } from '../detect/forkbomb.js';
import { MAX_PROCESSES } from '../processes/table.js';
import { isNodeName } from '../workloads/labels.js';

export interface Options {
  listenHost: string; // '' when the address was ':9740' (all interfaces)
  listenPort: number; // 0..65535 (0 = any free port)
  telemetryPath: string;
  webConfigFile: string | undefined;
  receiveBufferBytes: number;
  parentsMaxComms: number;
  parentsTop: number;
  parentsWindowSeconds: number;
  forkbombChainDepth: number;
  forkbombChainParents: number;
  forkbombChainProcesses: number;
  forkbombClearAfterSeconds: number;
  kubernetesKubeconfig: string | undefined;
  /** undefined when neither the flag nor NODE_NAME gives one. */
  kubernetesNodeName: string | undefined;
  noKubernetes: boolean;
  workloadsMax: number;
  workloadsRetentionSeconds: number;
  cgroupfsPath: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  logFormat: 'json' | 'logfmt';
}

export type ParseResult =
  | { kind: 'run'; options: Options }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | { kind: 'error'; message: string };

/** Thrown by a flag's parse function; the parser adds the flag name and what it accepts. */
class BadValue extends Error {}

interface ValueFlag {
  name: string;
  default: string; // '' means "none"; it is parsed like any other value
  /** An environment variable whose value, when set and not empty, replaces the default. */
  env?: string;
  meaning: string;
  accepts: string; // ends every error message about this flag: "...; use <accepts>"
  parse(value: string): Partial<Options>;
}

interface SwitchFlag {
  name: string;
  alias?: string;
  meaning: string;
  action: 'help' | 'version';
}

/** A flag without a value that turns something on (or off): `off` when absent, `on` when given. */
interface BooleanFlag {
  name: string;
  meaning: string;
  off: Partial<Options>;
  on: Partial<Options>;
}

type Flag = ValueFlag | SwitchFlag | BooleanFlag;

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const FORMATS = ['json', 'logfmt'] as const;
// Paths the HTTP app serves itself, so the metrics page cannot take them.
const RESERVED_PATHS = ['/', '/-/healthy', '/-/ready'];

const FLAGS: readonly Flag[] = [
  { name: 'help', alias: 'h', meaning: 'show this help and exit', action: 'help' },
  { name: 'version', meaning: 'print the version and exit', action: 'version' },
  {
    name: 'web.listen-address',
    default: ':9740',
    meaning: 'host:port to serve on',
    accepts: 'host:port, :port or [ipv6]:port with a port from 0 to 65535, like :9740',
    parse: (v) => {
      const { host, port } = parseListenAddress(v);
      return { listenHost: host, listenPort: port };
    },
  },
  {
    name: 'web.telemetry-path',
    default: '/metrics',
    meaning: 'path of the metrics page',
    accepts: 'a path that starts with / and is not /, /-/healthy or /-/ready, like /metrics',
    parse: (v) => ({ telemetryPath: parseTelemetryPath(v) }),
  },
  {
    name: 'web.config.file',
    default: '',
    meaning: 'TLS and basic-auth settings, in the Prometheus exporter-toolkit web-config format',
    accepts: 'the path of a YAML file',
    // Empty means "no web config", as in the Prometheus exporters.
    parse: (v) => ({ webConfigFile: v === '' ? undefined : v }),
  },
  {
    name: 'netlink.receive-buffer-bytes',
    default: '33554432',
    meaning: 'socket receive buffer to ask the kernel for (forced where permitted)',
    accepts: 'bytes from 4096 to 2147483647, plain or with a unit, like 33554432, 64KiB, 32MiB or 1GiB',
    parse: (v) => ({ receiveBufferBytes: parseBytes(v, 4096, 2 ** 31 - 1) }),
  },
  {
    name: 'parents.max-comms',
    default: '500',
    meaning: 'most distinct parent command names kept as label values',
    accepts: 'a whole number from 1 to 100000',
    parse: (v) => ({ parentsMaxComms: parseWholeNumber(v, 1, 100_000) }),
  },
  {
    name: 'parents.top',
    default: '10',
    meaning: 'how many busiest parent processes forkwatch_top_parent_forks shows',
    accepts: 'a whole number from 1 to 1000',
    parse: (v) => ({ parentsTop: parseWholeNumber(v, 1, 1000) }),
  },
  {
    name: 'parents.window',
    default: '60s',
    meaning: 'the trailing window behind forkwatch_top_parent_forks',
    accepts: 'a duration in whole seconds from 1s to 1h, like 60s, 5m or 1m30s',
    parse: (v) => ({ parentsWindowSeconds: parseDurationSeconds(v, 1, 3600) }),
  },
  {
    name: 'forkbomb.chain-depth',
    default: '3',
    meaning: 'forks without exec in a row that put a process in a chain, which the fork-bomb detector watches',
    accepts: 'a whole number from 2 to 1000',
    parse: (v) => ({ forkbombChainDepth: parseWholeNumber(v, 2, 1000) }),
  },
  {
    name: 'forkbomb.chain-parents',
    default: '20',
    meaning: 'suspect a fork bomb when this many processes of one name, in chains, forked twice within 5 s, and so did a child and a grandchild of theirs',
    // The detector follows at most MAX_RECENT_FORKERS forkers: more could never be seen.
    accepts: `a whole number from 1 to ${MAX_RECENT_FORKERS}`,
    parse: (v) => ({ forkbombChainParents: parseWholeNumber(v, 1, MAX_RECENT_FORKERS) }),
  },
  {
    name: 'forkbomb.chain-processes',
    default: '32',
    meaning: 'suspect a fork bomb when this many processes of one name live at chain depth',
    // The process table holds at most MAX_PROCESSES (and pid_max: see checkAgainstKernel).
    accepts: `a whole number from 1 to ${MAX_PROCESSES}`,
    parse: (v) => ({ forkbombChainProcesses: parseWholeNumber(v, 1, MAX_PROCESSES) }),
  },
  {
    name: 'forkbomb.clear-after',
    default: '60s',
    meaning: 'a suspicion clears after this long without either sign',
    accepts: 'a duration in whole seconds from 1s to 1h, like 60s or 5m',
    parse: (v) => ({ forkbombClearAfterSeconds: parseDurationSeconds(v, 1, 3600) }),
  },
  {
    name: 'kubernetes.kubeconfig',
    default: '',
    meaning: 'kubeconfig to reach the API server from outside a cluster; inside one, the pod\'s service account is used',
    accepts: 'the path of a kubeconfig file',
    parse: (v) => ({ kubernetesKubeconfig: v === '' ? undefined : v }),
  },
  {
    name: 'kubernetes.node-name',
    default: '',
    env: 'NODE_NAME',
    meaning: 'the node whose pods are watched',
    accepts: 'a Kubernetes node name: lower-case letters, digits, "-" and ".", like node-7.example',
    parse: (v) => {
      if (v !== '' && !isNodeName(v)) throw new BadValue(`${q(v)} is not a node name`);
      return { kubernetesNodeName: v === '' ? undefined : v };
    },
  },
  {
    name: 'no-kubernetes',
    meaning: 'never call the Kubernetes API; pods stay named by uid',
    off: { noKubernetes: false },
    on: { noKubernetes: true },
  },
  {
    name: 'workloads.max',
    default: '1000',
    meaning: 'most distinct workloads kept as label sets; past it, new ones count under unit="__other__"',
    accepts: 'a whole number from 1 to 100000',
    parse: (v) => ({ workloadsMax: parseWholeNumber(v, 1, 100_000) }),
  },
  {
    name: 'workloads.retention',
    default: '10m',
    meaning: 'a workload with no live process and no fork for this long loses its series',
    accepts: 'a duration in whole seconds from 1s to 24h, like 10m or 1h',
    parse: (v) => ({ workloadsRetentionSeconds: parseDurationSeconds(v, 1, 86_400) }),
  },
  {
    name: 'path.cgroupfs',
    default: '/sys/fs/cgroup',
    meaning: 'where the host\'s cgroup file system is mounted, to read pods\' PIDs and limits (in a container: the host\'s /sys/fs/cgroup, mounted read-only)',
    accepts: 'an absolute path, like /host/sys/fs/cgroup',
    parse: (v) => {
      if (!v.startsWith('/')) throw new BadValue(`${q(v)} is not an absolute path`);
      return { cgroupfsPath: v };
    },
  },
  {
    name: 'log.level',
    default: 'info',
    meaning: 'least severe records logged: debug, info, warn or error',
    accepts: 'debug, info, warn or error',
    parse: (v) => ({ logLevel: oneOf(v, LEVELS, 'a log level') }),
  },
  {
    name: 'log.format',
    default: 'json',
    meaning: 'log record format: json or logfmt',
    accepts: 'json or logfmt',
    parse: (v) => ({ logFormat: oneOf(v, FORMATS, 'a log format') }),
  },
];

export function parseFlags(argv: string[], version: string): ParseResult {
  let options: Options;
  try {
    options = defaultOptions();
  } catch (e) {
    if (!(e instanceof BadDefault)) throw e;
    return error(e.message);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      return error(`unexpected argument ${JSON.stringify(arg)}; forkwatch takes only flags, see forkwatch --help`);
    }
    const eq = arg.indexOf('=');
    const spelled = eq === -1 ? arg : arg.slice(0, eq);
    const flag = FLAGS.find((f) => spelled === `--${f.name}` || ('alias' in f && spelled === `-${f.alias}`));
    if (flag === undefined) return error(`unknown flag ${spelled}; see forkwatch --help`);

    if ('action' in flag) {
      if (eq !== -1) return error(`${spelled} takes no value; see forkwatch --help`);
      if (flag.action === 'help') return { kind: 'help', text: helpText() };
      return { kind: 'version', text: `forkwatch ${version}` };
    }
    if ('on' in flag) {
      if (eq !== -1) return error(`${spelled} takes no value; see forkwatch --help`);
      Object.assign(options, flag.on);
      continue;
    }

    let value: string;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      // "--parents.top --log.level=debug" is a forgotten value, not the value "--log.level=debug".
      if (next === undefined || next.startsWith('--')) {
        return error(`--${flag.name} needs a value; use ${flag.accepts}`);
      }
      value = next;
      i++;
    }
    try {
      Object.assign(options, flag.parse(value)); // a flag given twice: the last wins
    } catch (e) {
      if (!(e instanceof BadValue)) throw e;
      return error(`--${flag.name}: ${e.message}; use ${flag.accepts}`);
    }
  }
  return { kind: 'run', options };
}

/**
 * The flags that this kernel makes meaningless: more live processes in chains than pid_max
 * lets exist could never be counted, so that sign of a fork bomb would never fire.
 * Returns the one-line error, or undefined.
 */
export function checkAgainstKernel(options: Options, pidMax: number | undefined): string | undefined {
  if (pidMax !== undefined && options.forkbombChainProcesses > pidMax) {
    return `--forkbomb.chain-processes: ${options.forkbombChainProcesses} is more than the kernel's pid_max (${pidMax}) lets live at once, so that sign could never fire; use at most ${pidMax}`;
  }
  return undefined;
}

/** A default taken from the environment that its flag refuses. */
class BadDefault extends Error {}

function defaultOptions(): Options {
  const options: Partial<Options> = {};
  for (const flag of FLAGS) {
    if ('off' in flag) Object.assign(options, flag.off);
    if (!('parse' in flag)) continue;
    const fromEnv = flag.env === undefined ? undefined : process.env[flag.env];
    if (fromEnv === undefined || fromEnv === '') {
      Object.assign(options, flag.parse(flag.default));
      continue;
    }
    try {
      Object.assign(options, flag.parse(fromEnv));
    } catch (e) {
      if (!(e instanceof BadValue)) throw e;
      throw new BadDefault(`${flag.env} (the default of --${flag.name}): ${e.message}; use ${flag.accepts}, or give --${flag.name}`);
    }
  }
  // Every Options key belongs to exactly one flag, and each default parses (a test checks both).
  return options as Options;
}

function helpText(): string {
  const rows = FLAGS.map((f) => {
    const names = 'alias' in f && f.alias !== undefined ? `-${f.alias}, --${f.name}` : `    --${f.name}`;
    const meaning = !('parse' in f) ? f.meaning : `${f.meaning} (default: ${f.env !== undefined ? `$${f.env}` : f.default === '' ? 'none' : f.default})`;
    return [names, meaning] as const;
  });
  const width = Math.max(...rows.map(([names]) => names.length));
  return [
    'usage: forkwatch [flags]',
    '',
    'Prometheus exporter for Linux process creation.',
    '',
    'Flags:',
    ...rows.map(([names, meaning]) => `  ${names.padEnd(width)}  ${meaning}`),
    '',
  ].join('\n');
}

function error(message: string): ParseResult {
  return { kind: 'error', message };
}

/** Quoted for messages: JSON escaping keeps a value with a newline on one line. */
function q(value: string): string {
  return JSON.stringify(value);
}

function parseWholeNumber(value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new BadValue(`${q(value)} is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new BadValue(`${q(value)} is out of range`);
  return n;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };

function parseBytes(value: string, min: number, max: number): number {
  const m = /^(\d+)([a-z]*)$/i.exec(value);
  const multiplier = m === null ? undefined : BYTE_UNITS[(m[2] as string).toLowerCase()];
  if (m === null || multiplier === undefined) throw new BadValue(`${q(value)} is not a byte size`);
  const n = Number(m[1]) * multiplier;
  if (n < min || n > max) throw new BadValue(`${q(value)} is out of range`);
  return n;
}

// Prometheus duration syntax: units from largest to smallest, each at most once.
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNIT_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

function parseDurationSeconds(value: string, min: number, max: number): number {
  const m = value === '' ? null : DURATION.exec(value);
  if (m === null) throw new BadValue(`${q(value)} is not a duration`);
  let ms = 0;
  DURATION_UNIT_MS.forEach((unit, i) => {
    ms += Number(m[i + 1] ?? 0) * unit;
  });
  if (ms % 1000 !== 0) throw new BadValue(`${q(value)} is not a whole number of seconds`);
  const seconds = ms / 1000;
  if (seconds < min || seconds > max) throw new BadValue(`${q(value)} is out of range`);
  return seconds;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new BadValue(`${q(value)} is not ${what}`);
  return found;
}

function parseTelemetryPath(value: string): string {
  if (!value.startsWith('/')) throw new BadValue(`${q(value)} does not start with /`);
  if (RESERVED_PATHS.includes(value)) throw new BadValue(`${q(value)} is served by forkwatch itself`);
  // Plain path characters only: "?" or "#" would never match a request, ":" and "*" are route patterns.
  if (!/^[A-Za-z0-9._~/-]+$/.test(value)) throw new BadValue(`${q(value)} has characters a metrics path cannot use`);
  return value;
}

function parseListenAddress(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  if (colon === -1) throw new BadValue(`${q(value)} has no port`);
  let host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw new BadValue(`${q(value)} has no valid IPv6 address between the brackets`);
  } else if (host.includes(':')) {
    throw new BadValue(`${q(value)} needs brackets around an IPv6 address`);
  } else if (!/^[A-Za-z0-9.-]*$/.test(host)) {
    throw new BadValue(`${q(value)} has no valid host name`);
  }
  if (port === '') throw new BadValue(`${q(value)} has no port`);
  if (!/^\d+$/.test(port)) throw new BadValue(`${q(value)} has no valid port`);
  if (Number(port) > 65535) throw new BadValue(`${q(value)} has port ${port}, out of range`);
  return { host, port: Number(port) };
}
