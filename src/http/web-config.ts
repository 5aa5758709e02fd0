// The Prometheus exporter-toolkit web configuration file (--web.config.file):
// TLS, basic auth and extra response headers, read the way exporter-toolkit reads it.
// Settings the toolkit knows but forkwatch does not implement are errors, never ignored:
// a user who wrote them believes they are in force.
import { readFileSync } from 'node:fs';
import { validateHeaderValue } from 'node:http';
import type { ServerOptions } from 'node:https';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureVersion, type TLSSocket } from 'node:tls';
import { parseDocument } from 'yaml';

export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

export interface WebConfig {
  https?: ServerOptions; // key, cert, ca, requestCert, rejectUnauthorized, minVersion, maxVersion
  /**
   * Two policies Node's TLS options cannot express (RequireAnyClientCert, VerifyClientCertIfGiven)
   * are finished per connection by clientCertificateAccepted().
   */
  clientAuthType: ClientAuthType;
  basicAuthUsers: Map<string, string>; // user -> bcrypt hash
  headers: Record<string, string>;
}

type Yaml = Record<string, unknown>;

// Exporter-toolkit keys forkwatch does not implement, with what to do instead.
const UNSUPPORTED: Record<string, string> = {
  rate_limit: 'remove it',
  client_allowed_sans: 'remove it, or use RequireAndVerifyClientCert with a client_ca_file that signs only the allowed clients',
  cipher_suites: "remove it (forkwatch uses Node.js's default cipher suites)",
  curve_preferences: "remove it (forkwatch uses Node.js's default curves)",
  prefer_server_cipher_suites: 'remove it',
  http2: 'remove it (forkwatch serves HTTP/1.1)',
};

const CLIENT_AUTH_TYPES: readonly ClientAuthType[] = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
];

const TLS_VERSIONS: Record<string, SecureVersion> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

// The toolkit allows only these headers, and pins the values of two of them.
const HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

// bcrypt hashes as htpasswd and bcryptjs write them: $2a$, $2b$ or $2y$, a cost, 53 characters.
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
// The costs bcrypt defines (exporter-toolkit's Go bcrypt accepts the same); bcryptjs would
// throw on every request for a hash outside them.
const BCRYPT_MIN_COST = 4;
const BCRYPT_MAX_COST = 31;

/** Thrown while reading the file; loadWebConfig adds the file name. */
class Problem extends Error {}

export function loadWebConfig(path: string): WebConfig {
  try {
    return readWebConfig(path);
  } catch (e) {
    const reason = e instanceof Problem ? e.message : `cannot be read (${errorCode(e)}); check the --web.config.file path`;
    throw new Error(`web config file ${path}: ${oneLine(reason)}`, { cause: e });
  }
}

function readWebConfig(path: string): WebConfig {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    // The yaml library's messages carry a multi-line excerpt; the first line says what and where.
    const what = (yamlError.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new Problem(`is not valid YAML (${what}); fix the syntax there`);
  }
  // An empty file is a valid configuration that changes nothing, as in exporter-toolkit.
  const root = mapping(doc.toJS() ?? {}, 'the file');
  checkKeys(root, ['tls_server_config', 'http_server_config', 'basic_auth_users'], '');

  // Relative paths are relative to the config file, as exporter-toolkit resolves them.
  const dir = dirname(resolve(path));
  // An empty tls_server_config means plain HTTP, as in exporter-toolkit.
  const tls = root.tls_server_config == null ? undefined : tlsOptions(mapping(root.tls_server_config, 'tls_server_config'), dir);
  return {
    ...(tls !== undefined ? { https: tls.options } : {}),
    clientAuthType: tls?.clientAuthType ?? 'NoClientCert',
    basicAuthUsers: basicAuthUsers(root.basic_auth_users),
    headers: headers(root.http_server_config),
  };
}

function tlsOptions(c: Yaml, dir: string): { options: ServerOptions; clientAuthType: ClientAuthType } {
  checkKeys(c, ['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_ca_file', 'client_auth_type', 'min_version', 'max_version'], 'tls_server_config.');
  const cert = pem(c, 'cert', dir);
  const key = pem(c, 'key', dir);
  const ca = pem(c, 'client_ca', dir);
  if (cert === undefined) throw new Problem('tls_server_config needs cert_file (or cert); add the server certificate');
  if (key === undefined) throw new Problem('tls_server_config needs key_file (or key); add the server private key');

  const clientAuthType = oneOf(c, 'client_auth_type', CLIENT_AUTH_TYPES, 'NoClientCert');
  if (ca !== undefined && clientAuthType === 'NoClientCert') {
    throw new Problem('tls_server_config has client_ca_file but client_auth_type is NoClientCert; set client_auth_type, e.g. to RequireAndVerifyClientCert');
  }
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Problem('tls_server_config client CA holds no PEM certificate; give a PEM file of CA certificates');
  }
  // Without a client CA, Node (like Go, and so exporter-toolkit) would verify client
  // certificates against the public roots: anyone holding a certificate from a public CA
  // would pass. A policy that verifies needs a CA to verify against.
  if (ca === undefined && (clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert')) {
    throw new Problem(`tls_server_config client_auth_type ${clientAuthType} needs client_ca_file (or client_ca); add the CA that signs your clients' certificates`);
  }
  const versions = Object.keys(TLS_VERSIONS); // oldest first
  const minKey = oneOf(c, 'min_version', versions, 'TLS12');
  const maxKey = oneOf(c, 'max_version', versions, 'TLS13');
  if (versions.indexOf(minKey) > versions.indexOf(maxKey)) throw new Problem(`tls_server_config min_version ${minKey} is above max_version ${maxKey}; lower min_version or raise max_version`);

  const options: ServerOptions = {
    cert,
    key,
    // An empty CA list trusts nothing (Node loads its public roots only when `ca` is absent);
    // the policies without a CA do not verify, and so must not trust anyone either.
    ca: ca ?? [],
    requestCert: clientAuthType !== 'NoClientCert',
    // Only this policy can be left to Node; the others are checked per connection.
    rejectUnauthorized: clientAuthType === 'RequireAndVerifyClientCert',
    minVersion: TLS_VERSIONS[minKey],
    maxVersion: TLS_VERSIONS[maxKey],
  };
  try {
    // Fail at start-up, not at the first handshake, on a bad key, certificate or CA.
    createSecureContext(options);
  } catch (e) {
    throw new Problem(`tls_server_config certificate, key or client CA cannot be used (${(e as Error).message}); give a matching PEM certificate and key`);
  }
  return { options, clientAuthType };
}

/**
 * Whether a TLS connection satisfies the client_auth_type that Node cannot enforce alone.
 * Call it on the server's 'secureConnection' event and destroy the socket when it is false.
 */
export function clientCertificateAccepted(config: WebConfig, socket: TLSSocket): boolean {
  const presented = Object.keys(socket.getPeerCertificate()).length > 0;
  switch (config.clientAuthType) {
    case 'RequireAnyClientCert':
      return presented;
    case 'VerifyClientCertIfGiven':
      return !presented || socket.authorized;
    default:
      return true;
  }
}

/** PEM text given inline (`cert`) or as a file (`cert_file`); one of the two, not both. */
function pem(c: Yaml, name: string, dir: string): string | undefined {
  const fileKey = `${name}_file`;
  const inline = optionalString(c, name, 'tls_server_config.');
  const file = optionalString(c, fileKey, 'tls_server_config.');
  if (inline !== undefined && file !== undefined) {
    throw new Problem(`tls_server_config has both ${name} and ${fileKey}; keep one`);
  }
  if (file === undefined) return inline;
  const full = resolve(dir, file);
  try {
    return readFileSync(full, 'utf8');
  } catch (e) {
    throw new Problem(`tls_server_config.${fileKey} ${full} cannot be read (${errorCode(e)}); fix the path, which is relative to the config file`);
  }
}

function basicAuthUsers(value: unknown): Map<string, string> {
  const users = new Map<string, string>();
  if (value === undefined || value === null) return users;
  for (const [user, hash] of Object.entries(mapping(value, 'basic_auth_users'))) {
    const match = typeof hash === 'string' ? BCRYPT_HASH.exec(hash) : null;
    if (match === null) {
      throw new Problem(`basic_auth_users.${user} is not a bcrypt hash; give one made by e.g. htpasswd -nBC 10 "" | tr -d ':\\n'`);
    }
    const cost = Number(match[1]);
    if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) {
      throw new Problem(`basic_auth_users.${user} has bcrypt cost ${cost}, outside ${BCRYPT_MIN_COST} to ${BCRYPT_MAX_COST}; hash the password again, e.g. with htpasswd -nBC 10 "" | tr -d ':\\n'`);
    }
    users.set(user, hash as string);
  }
  return users;
}

function headers(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (value === undefined || value === null) return result;
  const http = mapping(value, 'http_server_config');
  checkKeys(http, ['headers'], 'http_server_config.');
  if (http.headers === undefined || http.headers === null) return result;
  for (const [name, headerValue] of Object.entries(mapping(http.headers, 'http_server_config.headers'))) {
    if (!(name in HEADERS)) {
      throw new Problem(`http_server_config.headers.${name} cannot be configured; use only ${Object.keys(HEADERS).join(', ')}`);
    }
    if (typeof headerValue !== 'string') throw new Problem(`http_server_config.headers.${name} is not a string; quote the value`);
    if (headerValue === '') continue; // blank means unset, as documented by the toolkit
    try {
      // Node refuses such a value on every response; refuse it once, at start.
      validateHeaderValue(name, headerValue);
    } catch {
      throw new Problem(`http_server_config.headers.${name} holds a control character or a character outside Latin-1; remove it`);
    }
    const allowed = HEADERS[name];
    if (allowed !== undefined && !allowed.includes(headerValue)) {
      throw new Problem(`http_server_config.headers.${name} is ${JSON.stringify(headerValue)}; use ${allowed.join(' or ')}`);
    }
    result[name] = headerValue;
  }
  return result;
}

function mapping(value: unknown, where: string): Yaml {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Problem(`${where} is not a mapping; write it as key: value lines`);
  }
  return value as Yaml;
}

function checkKeys(c: Yaml, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(c)) {
    if (known.includes(key)) continue;
    const advice = UNSUPPORTED[key];
    if (advice !== undefined) throw new Problem(`${prefix}${key} is not supported by forkwatch; ${advice}`);
    throw new Problem(`${prefix}${key} is not a known setting; remove it or fix its spelling (known: ${known.join(', ')})`);
  }
}

function optionalString(c: Yaml, key: string, prefix: string): string | undefined {
  const value = c[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Problem(`${prefix}${key} is not a string; quote the value`);
  return value;
}

function oneOf<T extends string>(c: Yaml, key: string, allowed: readonly T[], fallback: T): T {
  const value = optionalString(c, key, 'tls_server_config.');
  if (value === undefined) return fallback;
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Problem(`tls_server_config.${key} ${JSON.stringify(value)} is not valid; use one of ${allowed.join(', ')}`);
  return found;
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}
