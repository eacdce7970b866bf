/**
 * Where the CLI's log lines go: one JSON object per line on stderr (for
 * journald, Docker and log shippers), or a short human line on a terminal.
 * Every line passes through `redactLogFields`, so a token can never be
 * printed even if a caller put one in a field or a URL.
 */
import { createSinkLogger, type LogRecord, type Logger } from '../shared/logger.js';

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

/** Returns a copy of `fields` with secret-looking keys masked and secrets in strings redacted. */
export function redactLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k) && !/^tokenId$|Ms$|Count$|Id$/.test(k)) out[k] = '[redacted]';
    else if (typeof v === 'string') out[k] = redactText(v);
    else if (v instanceof Error) out[k] = redactText(v.message);
    else out[k] = v;
  }
  return out;
}

/** Log levels, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
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
  const min = LOG_LEVELS.indexOf(options.level ?? 'info');
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  return createSinkLogger((record: LogRecord) => {
    if (LOG_LEVELS.indexOf(record.level) < min) return;
    const fields = redactLogFields(record.fields);
    const msg = redactText(record.msg);
    if (format === 'json') {
      write(JSON.stringify({ time: new Date().toISOString(), level: record.level, msg, ...fields }));
    } else {
      const extra = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${new Date().toISOString().slice(11, 19)} ${record.level.padEnd(5)} ${msg}${extra ? ' ' + extra : ''}`);
    }
  });
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
