/**
 * The relay's access log: one structured line per visitor request or upgrade
 * (`msg: 'visitor request'`), written through the injected logger (the CLI
 * turns it into a JSON line). The URL is logged with the values of `token` and
 * `access_token` query parameters replaced by `[redacted]`; headers, cookies
 * and credentials are never logged.
 */
import type { TunnelErrorCode } from '../shared/errors.js';
import type { LogFields, Logger } from '../shared/logger.js';
import { redactUrl } from '../transport/index.js';
import type { ExchangeOutcome } from './http-forwarder.js';

/** The `msg` of every access log line. */
export const ACCESS_LOG_MESSAGE = 'visitor request';

/** How a visitor request ended, as logged: an exchange outcome, or the relay answered it itself. */
export type VisitorRequestOutcome = ExchangeOutcome | 'refused';

/** One visitor request or upgrade, once it is over: what the access log and the metrics record. */
export interface VisitorRequestRecord {
  /** The agent the route named, only once it is known to the token store (else undefined). */
  agent: string | undefined;
  method: string | undefined;
  /** The request target as the visitor sent it (redacted when logged). */
  url: string;
  /** The visitor's address (after trusted-proxy resolution). */
  remoteAddress: string;
  /** Status sent to the visitor; undefined when none was (visitor gone, response cut before headers). */
  status: number | undefined;
  outcome: VisitorRequestOutcome;
  /** `X-Tunnel-Error` code of a response the relay produced itself; undefined for the agent's own responses. */
  errorCode: TunnelErrorCode | undefined;
  /** From the request's arrival to its end, in ms. */
  durationMs: number;
  /** From the request's arrival to the agent's response headers, in ms; undefined when the agent sent none. */
  responseHeadersMs: number | undefined;
  /** Body (or upgrade) bytes sent to the agent. */
  bytesToAgent: number;
  /** Body (or upgrade) bytes received from the agent. */
  bytesFromAgent: number;
  /** True for an upgrade (WebSocket and others): `durationMs` is the connection's lifetime. */
  isUpgrade: boolean;
  /** What went wrong, for operators (never shown to the visitor, never a credential). */
  error?: string | undefined;
}

/** Writes `record` as one `info` line through `logger`. */
export function logVisitorRequest(logger: Logger, record: VisitorRequestRecord): void {
  // Built field by field (no spreads): this runs once per visitor request.
  const fields: LogFields = {};
  if (record.agent !== undefined) fields.agent = record.agent;
  fields.method = record.method;
  // Visitor URLs may carry `?access_token=` or `?token=`: never log them as sent.
  fields.path = redactUrl(record.url);
  fields.remote = record.remoteAddress;
  fields.status = record.status;
  fields.outcome = record.outcome;
  if (record.errorCode !== undefined) fields.code = record.errorCode;
  fields.durationMs = record.durationMs;
  if (record.responseHeadersMs !== undefined) fields.responseHeadersMs = record.responseHeadersMs;
  fields.bytesIn = record.bytesToAgent;
  fields.bytesOut = record.bytesFromAgent;
  if (record.isUpgrade) fields.upgrade = true;
  if (record.error !== undefined) fields.error = record.error;
  logger.info(ACCESS_LOG_MESSAGE, fields);
}
