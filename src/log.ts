// A tiny structured logger: one record, one line, whatever the fields hold.
// Process names are hostile input, so every value is escaped before it reaches the line.

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

const SEVERITY: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const RESERVED = new Set(['ts', 'level', 'msg']);

export function createLogger(
  level: Level,
  format: 'json' | 'logfmt',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const render = format === 'json' ? renderJson : renderLogfmt;
  const log = (recordLevel: Level) => (msg: string, fields: Fields = {}) => {
    if (SEVERITY[recordLevel] < SEVERITY[level]) return;
    const record: Fields = { ts: new Date().toISOString(), level: recordLevel, msg };
    for (const [key, value] of Object.entries(fields)) {
      // A field may not overwrite the record's own keys; it keeps its value under "_key".
      record[RESERVED.has(key) ? `_${key}` : key] = plain(value);
    }
    write(render(record));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Values JSON and logfmt can both show: an Error by its message, a bigint as a string. */
function plain(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function renderJson(record: Fields): string {
  // JSON.stringify escapes control characters, so the record stays on one line.
  return JSON.stringify(record, (_key, value: unknown) => plain(value));
}

function renderLogfmt(record: Fields): string {
  return Object.entries(record)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${logfmtKey(key)}=${logfmtValue(value)}`)
    .join(' ');
}

function logfmtKey(key: string): string {
  const clean = key.replace(/[^A-Za-z0-9_.-]/g, '_');
  return clean === '' ? '_' : clean;
}

function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value, (_k, v: unknown) => plain(v)) ?? String(value));
  // Quote anything a logfmt reader could split or misread: spaces, quotes, "=", escapes, controls.
  if (text !== '' && !/[\s"=\\\p{Cc}\u2028\u2029]/u.test(text)) return text;
  return `"${text.replace(/[\\"\p{Cc}\u2028\u2029]/gu, escapeChar)}"`;
}

function escapeChar(c: string): string {
  switch (c) {
    case '\\':
      return '\\\\';
    case '"':
      return '\\"';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}
