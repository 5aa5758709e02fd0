import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCertificateAccepted, loadWebConfig, type WebConfig } from '../../src/http/web-config.js';

let dir: string;
let certPem: string;
let keyPem: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forkwatch-web-config-'));
  mkdirSync(join(dir, 'tls'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost'],
    { cwd: join(dir, 'tls'), stdio: 'ignore' },
  );
  certPem = readFileSync(join(dir, 'tls', 'cert.pem'), 'utf8');
  keyPem = readFileSync(join(dir, 'tls', 'key.pem'), 'utf8');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function configFile(yaml: string): string {
  const path = join(dir, `web-${++fileCount}.yml`);
  writeFileSync(path, yaml);
  return path;
}

function loadError(yaml: string): string {
  const path = configFile(yaml);
  try {
    loadWebConfig(path);
  } catch (e) {
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain(path);
    return message;
  }
  throw new Error('expected loadWebConfig to throw');
}

describe('loadWebConfig: TLS', () => {
  it('reads cert and key files relative to the config file, with TLS 1.2 as the floor', () => {
    const config = loadWebConfig(configFile('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n'));
    expect(config.https).toMatchObject({
      cert: certPem,
      key: keyPem,
      requestCert: false,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
    });
    expect(config.clientAuthType).toBe('NoClientCert');
  });

  it('maps client_auth_type, client_ca_file and versions to Node options', () => {
    const config = loadWebConfig(
      configFile(
        [
          'tls_server_config:',
          `  cert_file: ${join(dir, 'tls', 'cert.pem')}`,
          '  key_file: tls/key.pem',
          '  client_ca_file: tls/cert.pem',
          '  client_auth_type: RequireAndVerifyClientCert',
          '  min_version: TLS13',
          '  max_version: TLS13',
        ].join('\n'),
      ),
    );
    expect(config.https).toMatchObject({ ca: certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(config.clientAuthType).toBe('RequireAndVerifyClientCert');
  });

  it('accepts inline PEM', () => {
    const indent = (pem: string) => pem.trim().replace(/\n/g, '\n    ');
    const config = loadWebConfig(configFile(`tls_server_config:\n  cert: |\n    ${indent(certPem)}\n  key: |\n    ${indent(keyPem)}\n`));
    expect(config.https?.cert).toBe(certPem);
  });

  it('gives options an HTTPS server can serve with', async () => {
    const config = loadWebConfig(configFile('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n'));
    const server = createServer(config.https ?? {}, (_req, res) => res.end('ok'));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((done, fail) => {
        request({ host: '127.0.0.1', port, servername: 'localhost', ca: certPem }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => done(text));
        })
          .on('error', fail)
          .end();
      });
      expect(body).toBe('ok');
    } finally {
      await new Promise((done) => server.close(done));
    }
  });

  it('names a missing certificate file', () => {
    const message = loadError('tls_server_config:\n  cert_file: nowhere/cert.pem\n  key_file: tls/key.pem\n');
    expect(message).toContain(join(dir, 'nowhere', 'cert.pem'));
    expect(message).toContain('cert_file');
  });

  it('rejects a key that does not belong to the certificate', () => {
    execFileSync('openssl', ['genrsa', '-out', 'other.pem', '2048'], { cwd: join(dir, 'tls'), stdio: 'ignore' });
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/other.pem\n')).toMatch(/cannot be used/);
  });

  it('rejects a missing key, an unknown client_auth_type and a bad version', () => {
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n')).toMatch(/needs key_file/);
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  client_auth_type: Maybe\n')).toMatch(
      /client_auth_type "Maybe" is not valid; use one of NoClientCert, /,
    );
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  min_version: TLS14\n')).toMatch(/min_version "TLS14"/);
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  min_version: TLS13\n  max_version: TLS12\n')).toMatch(
      /min_version TLS13 is above max_version TLS12/,
    );
  });

  it('refuses a verifying client_auth_type without a client CA, which would trust the public roots', () => {
    for (const type of ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']) {
      expect(loadError(`tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  client_auth_type: ${type}\n`)).toMatch(
        new RegExp(`client_auth_type ${type} needs client_ca_file \\(or client_ca\\); add the CA that signs your clients' certificates$`),
      );
    }
  });

  it('trusts no CA at all for the policies that do not verify, where no client CA is given', () => {
    for (const type of ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert']) {
      const config = loadWebConfig(configFile(`tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  client_auth_type: ${type}\n`));
      // An empty list, not an absent one: Node loads its public roots only when `ca` is absent.
      expect(config.https?.ca, type).toEqual([]);
    }
  });

  it('rejects a client CA without a client auth policy', () => {
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  client_ca_file: tls/cert.pem\n')).toMatch(
      /client_auth_type is NoClientCert/,
    );
  });
});

describe('loadWebConfig: the rest of the file', () => {
  it('treats an empty file as no TLS, no users and no headers', () => {
    const config = loadWebConfig(configFile(''));
    expect(config.https).toBeUndefined();
    expect(config.basicAuthUsers.size).toBe(0);
    expect(config.headers).toEqual({});
  });

  it('reads headers the toolkit allows and skips blank ones', () => {
    const config = loadWebConfig(
      configFile('http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: "default-src \'self\'"\n    X-XSS-Protection: ""\n'),
    );
    expect(config.headers).toEqual({ 'X-Frame-Options': 'deny', 'Content-Security-Policy': "default-src 'self'" });
  });

  it('refuses a header value with a control character or outside Latin-1, which Node would refuse on every response', () => {
    expect(loadError('http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \'self\'\\r\\nSet-Cookie: a=b"\n')).toMatch(
      /http_server_config\.headers\.Content-Security-Policy holds a control character or a character outside Latin-1; remove it/,
    );
    expect(loadError('http_server_config:\n  headers:\n    Strict-Transport-Security: "max-age=1\\0"\n')).toMatch(/Strict-Transport-Security holds a control character/);
    expect(loadError('http_server_config:\n  headers:\n    X-XSS-Protection: "0 \u20ac"\n')).toMatch(/X-XSS-Protection holds a control character/);
    // A tab and Latin-1 are allowed, as Node allows them.
    expect(loadWebConfig(configFile('http_server_config:\n  headers:\n    X-XSS-Protection: "1;\\tmode=block \u00e9"\n')).headers['X-XSS-Protection']).toBe('1;\tmode=block \u00e9');
  });

  it('rejects headers and values the toolkit does not allow', () => {
    expect(loadError('http_server_config:\n  headers:\n    Content-Type: foo\n')).toMatch(/headers\.Content-Type cannot be configured/);
    expect(loadError('http_server_config:\n  headers:\n    X-Frame-Options: allow\n')).toMatch(/use deny or sameorigin/);
  });

  it('names an unknown or unsupported key', () => {
    expect(loadError('basic_auth_user:\n  alice: x\n')).toMatch(/: basic_auth_user is not a known setting/);
    expect(loadError('tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n')).toMatch(
      /tls_server_config\.cipher_suites is not supported/,
    );
    expect(loadError('http_server_config:\n  http2: false\n')).toMatch(/http_server_config\.http2 is not supported/);
    expect(loadError('rate_limit:\n  burst: 1\n')).toMatch(/rate_limit is not supported/);
  });

  it('reports invalid YAML in one line', () => {
    expect(loadError('tls_server_config:\n  cert_file: [unclosed\n  key_file: x\n')).toMatch(/is not valid YAML \(.+ at line 3, column 3\); fix the syntax there$/);
    expect(loadError('- a list\n- not a mapping\n')).toMatch(/is not a mapping/);
  });

  it('reports a missing config file', () => {
    expect(() => loadWebConfig(join(dir, 'absent.yml'))).toThrow(/absent\.yml: cannot be read \(ENOENT\)/);
  });

  it('rejects a password that is not a bcrypt hash', () => {
    expect(loadError('basic_auth_users:\n  alice: secret\n')).toMatch(/basic_auth_users\.alice is not a bcrypt hash/);
    expect(loadError('basic_auth_users:\n  alice: 12\n')).toMatch(/basic_auth_users\.alice is not a bcrypt hash/);
  });

  it('accepts bcrypt costs 4 to 31 and refuses the others, which would fail every request', () => {
    // A valid hash at cost 4, with its cost field rewritten: bcryptjs reads the cost from it.
    const hash = bcrypt.hashSync('pw', 4);
    const withCost = (cost: string) => `basic_auth_users:\n  alice: '${hash.replace(/^\$2b\$04\$/, `$2b$${cost}$`)}'\n`;
    for (const cost of ['04', '10', '31']) expect(loadWebConfig(configFile(withCost(cost))).basicAuthUsers.get('alice')).toContain(`$${cost}$`);
    expect(loadError(withCost('03'))).toMatch(/basic_auth_users\.alice has bcrypt cost 3, outside 4 to 31; hash the password again/);
    expect(loadError(withCost('32'))).toMatch(/basic_auth_users\.alice has bcrypt cost 32, outside 4 to 31/);
    expect(loadError(withCost('00'))).toMatch(/has bcrypt cost 0/);
    // What the refused costs would have done: bcryptjs throws on them at compare time.
    expect(() => bcrypt.compareSync('pw', hash.replace(/^\$2b\$04\$/, '$2b$03$'))).toThrow();
  });
});

describe('clientCertificateAccepted', () => {
  const socket = (cert: object, authorized: boolean) => ({ getPeerCertificate: () => cert, authorized }) as unknown as TLSSocket;
  const withType = (clientAuthType: WebConfig['clientAuthType']): WebConfig => ({ clientAuthType, basicAuthUsers: new Map(), headers: {} });
  const someCert = { subject: { CN: 'client' } };

  it('requires a certificate for RequireAnyClientCert, verified or not', () => {
    expect(clientCertificateAccepted(withType('RequireAnyClientCert'), socket({}, false))).toBe(false);
    expect(clientCertificateAccepted(withType('RequireAnyClientCert'), socket(someCert, false))).toBe(true);
  });

  it('verifies a certificate only when given for VerifyClientCertIfGiven', () => {
    expect(clientCertificateAccepted(withType('VerifyClientCertIfGiven'), socket({}, false))).toBe(true);
    expect(clientCertificateAccepted(withType('VerifyClientCertIfGiven'), socket(someCert, false))).toBe(false);
    expect(clientCertificateAccepted(withType('VerifyClientCertIfGiven'), socket(someCert, true))).toBe(true);
  });

  it('leaves the other policies to Node', () => {
    expect(clientCertificateAccepted(withType('RequestClientCert'), socket({}, false))).toBe(true);
  });
});
