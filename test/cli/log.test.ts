import { describe, expect, it } from 'vitest';
import { createLogger, type Level } from '../../src/log.js';

function capture(level: Level, format: 'json' | 'logfmt') {
  const lines: string[] = [];
  const logger = createLogger(level, format, (line) => lines.push(line));
  return { logger, lines };
}

const hostile = 'evil"\\\nname\r\t=x';

describe('json logs', () => {
  it('writes ts, level, msg and the fields', () => {
    const { logger, lines } = capture('info', 'json');
    logger.info('started', { port: 9740, tls: false });
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(record).slice(0, 3)).toEqual(['ts', 'level', 'msg']);
    expect(new Date(record.ts as string).toISOString()).toBe(record.ts);
    expect(record).toMatchObject({ level: 'info', msg: 'started', port: 9740, tls: false });
  });

  it('keeps hostile text on one line and round-trips it', () => {
    const { logger, lines } = capture('info', 'json');
    logger.warn(hostile, { comm: hostile });
    expect(lines[0]).not.toMatch(/[\r\n]/);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: hostile, comm: hostile });
  });

  it('does not let a field overwrite the record keys, and shows errors and bigints', () => {
    const { logger, lines } = capture('info', 'json');
    logger.error('failed', { msg: 'other', err: new Error('boom'), n: 10n });
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: 'failed', _msg: 'other', err: 'boom', n: '10' });
  });
});

describe('logfmt logs', () => {
  it('writes key=value pairs, quoting only where needed', () => {
    const { logger, lines } = capture('info', 'logfmt');
    logger.info('listening on', { address: ':9740', empty: '', eq: 'a=b', n: 3 });
    expect(lines[0]).toMatch(/^ts=\S+ level=info msg="listening on" address=:9740 empty="" eq="a=b" n=3$/);
  });

  it('escapes quotes, backslashes and newlines so a record is one line', () => {
    const { logger, lines } = capture('info', 'logfmt');
    logger.info(hostile, { comm: hostile, 'bad key': 1 });
    const line = lines[0] as string;
    expect(line).not.toMatch(/[\r\n]/);
    expect(line).toContain(' msg="evil\\"\\\\\\nname\\r\\t=x"');
    expect(line).toContain(' comm="evil\\"\\\\\\nname\\r\\t=x"');
    expect(line).toContain(' bad_key=1');
  });

  it('escapes other control characters and Unicode line separators', () => {
    const { logger, lines } = capture('info', 'logfmt');
    logger.info('x', { v: 'a\u0000b\u2028c\u0085' });
    expect(lines[0]).toContain(' v="a\\u0000b\\u2028c\\u0085"');
  });
});

describe('levels', () => {
  it('drops records below the level', () => {
    const { logger, lines } = capture('warn', 'json');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['w', 'e']);
  });

  it('writes everything at debug', () => {
    const { logger, lines } = capture('debug', 'logfmt');
    logger.debug('d');
    logger.error('e');
    expect(lines.map((l) => /level=(\w+)/.exec(l)?.[1])).toEqual(['debug', 'error']);
  });
});
