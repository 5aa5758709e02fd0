// --web.config.file end to end: the real command serving HTTPS with basic auth on loopback,
// and the Kubernetes probes of components/web-config sent to it as the kubelet sends them.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IContainer, IHTTPGetAction } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package.js';
import { find, kubectlMissing, renderWithComponent } from '../deploy/manifests.js';
import { runForkwatch, sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { describeKernel } from '../helpers/kernel.js';

const USER = 'prometheus';
const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

/** One HTTPS GET that trusts only `ca`, on a fresh connection. */
function httpsGet(url: string, ca: string, credentials?: { user: string; password: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (credentials) {
      headers.authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
    }
    const req = httpsRequest(url, { ca, headers, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One plain-HTTP GET; resolves with the status if the server answered in HTTP at all. */
function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

describeKernel('forkwatch with a web config of TLS and basic auth', () => {
  let dir: string;
  let cert: string;
  let forkwatch: RunningForkwatch;
  let metricsUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-https-'));
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const hash = bcrypt.hashSync(PASSWORD, 4);
    const config = join(dir, 'web.yml');
    // Relative certificate paths: the toolkit resolves them against the config file's folder.
    writeFileSync(
      config,
      ['tls_server_config:', '  cert_file: cert.pem', '  key_file: key.pem', 'basic_auth_users:', `  ${USER}: '${hash}'`, ''].join('\n'),
    );

    // startForkwatch's own readiness check cannot pass TLS with this CA nor the basic auth.
    forkwatch = await startForkwatch(['--web.config.file', config], { waitReady: false });
    metricsUrl = `${forkwatch.url}/metrics`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = await httpsGet(`${forkwatch.url}/-/ready`, cert, { user: USER, password: PASSWORD }).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`forkwatch was not ready in time:\n${forkwatch.stderr()}`);
      await sleep(50);
    }
  });

  afterAll(async () => {
    try {
      if (forkwatch) expect((await forkwatch.stop()).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs an https URL for the metrics page', () => {
    expect(forkwatch.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves the configured certificate', async () => {
    const answer = await httpsGet(metricsUrl, cert, { user: USER, password: PASSWORD });

    expect(answer.fingerprint).toBe(new X509Certificate(cert).fingerprint256);
  });

  it('answers /metrics without credentials with 401 and a Basic challenge', async () => {
    const answer = await httpsGet(metricsUrl, cert);

    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(/^Basic\b/);
    expect(answer.body).not.toContain('forkwatch_build_info');
  });

  it('answers /metrics with a wrong password with 401', async () => {
    const answer = await httpsGet(metricsUrl, cert, { user: USER, password: 'wrong' });

    expect(answer.status).toBe(401);
    expect(answer.body).not.toContain('forkwatch_build_info');
  });

  it('answers /metrics with an unknown user with 401', async () => {
    const answer = await httpsGet(metricsUrl, cert, { user: 'nobody', password: PASSWORD });

    expect(answer.status).toBe(401);
  });

  it('serves /metrics with the right credentials', async () => {
    const answer = await httpsGet(metricsUrl, cert, { user: USER, password: PASSWORD });

    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^forkwatch_build_info\{.*\} 1$/m);
  });

  it('gives plain HTTP on the same port no HTTP answer', async () => {
    const plain = metricsUrl.replace(/^https:/, 'http:');

    await expect(httpGet(plain)).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});

// ---- refused at start ----

describe('forkwatch refuses a web config that would fail every request', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'forkwatch-refused-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['a bcrypt cost below 4', `basic_auth_users:\n  prometheus: '${bcrypt.hashSync(PASSWORD, 4).replace(/^\$2b\$04\$/, '$2b$03$')}'\n`, /has bcrypt cost 3, outside 4 to 31/],
    ['a password that is not a bcrypt hash', 'basic_auth_users:\n  prometheus: plain-text\n', /is not a bcrypt hash/],
    ['a header with a line break', 'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: b"\n', /holds a control character/],
  ])('exits 2 with one line naming %s', async (_what, yaml, reason) => {
    const file = join(dir, `web-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(file, yaml);

    const exit = await runForkwatch(['--web.listen-address', '127.0.0.1:0', '--web.config.file', file]);

    expect(exit.code).toBe(2);
    const lines = exit.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as { level: string; msg: string };
    expect(record.level).toBe('error');
    expect(record.msg.startsWith(`--web.config.file: web config file ${file}: `)).toBe(true);
    expect(record.msg).toMatch(reason);
  });
});

// ---- the Kubernetes probes of components/web-config, against a real forkwatch ----

/** The web.yml the README tells a user to put in the Secret, with `hash` for the user's. */
function readmeWebConfig(hash: string): string {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  const block = /^cat > web\.yml <<EOF\n([^]*?)^EOF$/m.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no "cat > web.yml <<EOF" block');
  if (!block.includes("'$HASH'")) throw new Error('the README\'s web.yml has no \'$HASH\'');
  return block.replace("'$HASH'", `'${hash}'`);
}

interface ProbeAnswer {
  status: number;
  body: string;
}

/**
 * One probe as the kubelet sends it: to the pod's address, on a new connection that is
 * closed after, with the kubelet's User-Agent and Accept and the probe's own headers,
 * over TLS without verifying the certificate nor sending a name for an IP address.
 */
function kubeletProbe(httpGet: IHTTPGetAction, port: number): Promise<ProbeAnswer> {
  const scheme = httpGet.scheme ?? 'HTTP';
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.32', accept: '*/*', connection: 'close' };
  for (const { name, value } of httpGet.httpHeaders ?? []) headers[name.toLowerCase()] = value;
  const options = { host: '127.0.0.1', port, path: httpGet.path ?? '/', headers, agent: false as const, timeout: 5000 };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = scheme === 'HTTPS' ? httpsRequest({ ...options, rejectUnauthorized: false, servername: '' }, onResponse) : httpRequest(options, onResponse);
    req.on('timeout', () => req.destroy(new Error('no answer within the probe timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The kubelet counts 200 to 399 as success. */
const probeSucceeded = (answer: ProbeAnswer): boolean => answer.status >= 200 && answer.status < 400;

describeKernel('the Kubernetes probes of components/web-config, against forkwatch started with its web config', () => {
  describe.skipIf(kubectlMissing)(kubectlMissing ? 'skipped: kubectl is not installed' : 'kubectl kustomize', () => {
    let dir: string;
    let forkwatch: RunningForkwatch;
    let container: IContainer;
    let port: number;

    beforeAll(async () => {
      const rendered = renderWithComponent('web-config');
      const pod = find<IDaemonSet>(rendered, 'DaemonSet').spec!.template.spec!;
      container = pod.containers.find((c) => c.name === 'forkwatch')!;

      // The Secret's files, where the DaemonSet mounts it: a temporary folder stands for it.
      const fileFlag = container.args!.find((arg) => arg.startsWith('--web.config.file='))!;
      const mount = container.volumeMounts!.find((m) => fileFlag.startsWith(`--web.config.file=${m.mountPath}/`))!;
      expect(pod.volumes!.find((v) => v.name === mount.name)?.secret?.secretName).toBe('forkwatch-web-config');
      dir = mkdtempSync(join(tmpdir(), 'forkwatch-probes-'));
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
          '-subj', '/CN=forkwatch.forkwatch.svc', '-addext', 'subjectAltName=DNS:forkwatch.forkwatch.svc', '-keyout', 'tls.key', '-out', 'tls.crt'],
        { cwd: dir, stdio: 'ignore' },
      );
      writeFileSync(join(dir, 'web.yml'), readmeWebConfig(bcrypt.hashSync(PASSWORD, 10)));

      // The container's args, but on a free loopback port and with the folder for the mount.
      const args = container.args!
        .filter((arg) => !arg.startsWith('--web.listen-address='))
        .map((arg) => (arg === fileFlag ? `--web.config.file=${dir}${fileFlag.slice(`--web.config.file=${mount.mountPath}`.length)}` : arg));
      forkwatch = await startForkwatch(args, { waitReady: false });
      port = Number(new URL(forkwatch.url).port);
    });

    afterAll(async () => {
      try {
        if (forkwatch) expect((await forkwatch.stop()).code).toBe(0);
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    });

    /** The container port a probe names, as the kubelet resolves it; forkwatch listens on `port` instead. */
    function probePort(httpGet: IHTTPGetAction): number {
      const declared = typeof httpGet.port === 'number' ? httpGet.port : container.ports!.find((p) => p.name === httpGet.port)!.containerPort;
      expect(declared).toBe(9740);
      return port;
    }

    it('passes the startup, liveness and readiness probes within the startup probe\'s budget, over HTTPS and without credentials', async () => {
      const probes = { startupProbe: container.startupProbe!, livenessProbe: container.livenessProbe!, readinessProbe: container.readinessProbe! };
      const startup = probes.startupProbe;
      const deadline = Date.now() + startup.periodSeconds! * startup.failureThreshold! * 1000;
      const passed = new Set<string>();
      const last: Record<string, string> = {};
      while (passed.size < 3 && Date.now() < deadline) {
        for (const [name, probe] of Object.entries(probes)) {
          if (passed.has(name)) continue;
          expect(probe.httpGet?.scheme, name).toBe('HTTPS');
          const answer = await kubeletProbe(probe.httpGet!, probePort(probe.httpGet!)).catch((error: Error) => ({ status: 0, body: error.message }));
          last[name] = `${answer.status} ${answer.body.trim()}`;
          if (probeSucceeded(answer)) passed.add(name);
        }
        if (passed.size < 3) await sleep(200);
      }
      expect([...passed].sort(), JSON.stringify(last)).toEqual(['livenessProbe', 'readinessProbe', 'startupProbe']);
    });

    it('serves nothing else to a probe\'s request: the metrics ask for credentials', async () => {
      const answer = await kubeletProbe({ path: '/metrics', port: 'metrics', scheme: 'HTTPS' }, port);
      expect(answer.status).toBe(401);
      expect(answer.body).not.toContain('forkwatch_');
    });

    it('would fail the base\'s plain HTTP probes, which is why the component switches them to HTTPS', async () => {
      const { scheme: _, ...plain } = container.livenessProbe!.httpGet!;
      await expect(kubeletProbe(plain, port)).rejects.toThrow(/socket hang up|ECONNRESET/);
    });
  });
});
