// --web.config.file end to end: the real command serving HTTPS with basic auth on loopback.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
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
