/**
 * The relay's access log: one structured line per visitor request or upgrade
 * (`msg: 'visitor request'`), written through the injected logger (the CLI
 * turns it into a JSON line). The URL is logged with the values of `token` and
 * `access_token` query parameters replaced by `[redacted]`; headers, cookies
 * and credentials are never logged.
 */
import type { TunnelErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
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
  logger.info(ACCESS_LOG_MESSAGE, {
    ...(record.agent === undefined ? {} : { agent: record.agent }),
    method: record.method,
    // Visitor URLs may carry `?access_token=` or `?token=`: never log them as sent.
    path: redactUrl(record.url),
    remote: record.remoteAddress,
    status: record.status,
    outcome: record.outcome,
    ...(record.errorCode === undefined ? {} : { code: record.errorCode }),
    durationMs: record.durationMs,
    ...(record.responseHeadersMs === undefined ? {} : { responseHeadersMs: record.responseHeadersMs }),
    bytesIn: record.bytesToAgent,
    bytesOut: record.bytesFromAgent,
    ...(record.isUpgrade ? { upgrade: true } : {}),
    ...(record.error === undefined ? {} : { error: record.error }),
  });
}
