/**
 * Where the CLI's log lines go: one JSON object per line on stderr (for
 * journald, Docker and log shippers), or a short human line on a terminal.
 * Every line passes through `redactLogFields`, so a token can never be
 * printed even if a caller put one in a field or a URL.
 */
import { LOG_LEVEL_ORDER, createSinkLogger, type LogRecord, type Logger } from '../shared/logger.js';

const SECRET_KEY = /token|authorization|password|secret|cookie|credential/i;
const SECRET_IN_TEXT = /([?&](?:token|access_token)=)[^&\s"#]*/gi;
const BEARER_IN_TEXT = /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

/** Cheap pre-check: text without these cannot hold a secret the two patterns below mask. */
const SECRET_HINT = /token=|bearer/i;

/** Masks secrets in text: `?token=...`, `access_token=...`, `Bearer ...`. */
export function redactText(text: string): string {
  if (!SECRET_HINT.test(text)) return text;
  return text.replace(SECRET_IN_TEXT, '$1[redacted]').replace(BEARER_IN_TEXT, '$1[redacted]');
}

/** Field names whose value is always masked (`tokenId`, `...Ms`, `...Count`, `...Id` are not secrets). */
function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !/^tokenId$|Ms$|Count$|Id$/.test(key);
}

// Field names come from code, so there are few of them: remember each verdict.
const secretKeyCache = new Map<string, boolean>();
const MAX_CACHED_KEYS = 1024;

function isSecretKeyCached(key: string): boolean {
  let secret = secretKeyCache.get(key);
  if (secret === undefined) {
    secret = isSecretKey(key);
    if (secretKeyCache.size < MAX_CACHED_KEYS) secretKeyCache.set(key, secret);
  }
  return secret;
}

/** Copies `fields` into `out` with secret-looking keys masked and secrets in strings redacted; returns `out`. */
function redactInto(out: Record<string, unknown>, fields: Record<string, unknown>): Record<string, unknown> {
  for (const k in fields) {
    if (!Object.hasOwn(fields, k)) continue;
    const v = fields[k];
    if (isSecretKeyCached(k)) out[k] = '[redacted]';
    else if (typeof v === 'string') out[k] = redactText(v);
    else if (v instanceof Error) out[k] = redactText(v.message);
    else out[k] = v;
  }
  return out;
}

/** Returns a copy of `fields` with secret-looking keys masked and secrets in strings redacted. */
export function redactLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redactInto({}, fields);
}

/** Log levels, lowest first. */
export const LOG_LEVELS = LOG_LEVEL_ORDER;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of `createCliLogger`. */
export interface CliLoggerOptions {
  level?: LogLevel;
  /** 'json' for JSON lines, 'pretty' for a human line; default: pretty on a TTY. */
  format?: 'json' | 'pretty';
  write?: (line: string) => void;
}

/** The CLI's logger: JSON lines (or pretty on a TTY) on stderr, secrets redacted. */
export function createCliLogger(options: CliLoggerOptions = {}): Logger {
  const minLevel = options.level ?? 'info';
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  // Many lines share a millisecond under load: format each millisecond once.
  let stampMs = -1;
  let stamp = '';
  const isoNow = (): string => {
    const now = Date.now();
    if (now !== stampMs) {
      stampMs = now;
      stamp = new Date(now).toISOString();
    }
    return stamp;
  };
  return createSinkLogger(
    (record: LogRecord) => {
      const msg = redactText(record.msg);
      if (format === 'json') {
        write(JSON.stringify(redactInto({ time: isoNow(), level: record.level, msg }, record.fields)));
      } else {
        const extra = Object.entries(redactLogFields(record.fields))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        write(`${isoNow().slice(11, 19)} ${record.level.padEnd(5)} ${msg}${extra ? ' ' + extra : ''}`);
      }
    },
    {},
    { minLevel },
  );
}

/**
 * Collects the lines written in one event-loop turn and hands them to
 * `write` as one string at the end of the turn (one system call instead of
 * one per line under load); `flush()` writes what is pending at once (on
 * exit). Order is kept.
 */
export function createLineBatcher(write: (text: string) => void): { push(line: string): void; flush(): void } {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('\n') + '\n';
    pending = [];
    write(text);
  };
  return {
    push(line: string): void {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
