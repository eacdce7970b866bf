/**
 * Error responses a visitor can see: `X-Tunnel-Error: <code>` plus a JSON
 * body when the visitor asks for JSON, a small self-contained HTML page
 * otherwise. Works on a `ServerResponse` and on a raw socket (errors during
 * upgrades, after Node's parser let go of the socket).
 */
import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelErrorCode } from '../shared/errors.js';
import { writeRawResponse } from './raw-response.js';

/** The response header that names the error code. */
export const TUNNEL_ERROR_HEADER = 'X-Tunnel-Error';

/** One visitor-facing error. */
export interface TunnelErrorInfo {
  /** HTTP status, 4xx or 5xx. */
  status: number;
  /** Stable code, sent in `X-Tunnel-Error` and in the body. */
  code: TunnelErrorCode;
  /** A short human sentence; shown to the visitor, so never put secrets in it. */
  message: string;
  /** Seconds, sent as `Retry-After` (rounded up) when set. */
  retryAfterS?: number;
}

/** The body formats a visitor can get. */
export type TunnelErrorFormat = 'json' | 'html';

/** A rendered error response: status, headers and body bytes. */
export interface RenderedTunnelError {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface AcceptEntry {
  type: string;
  q: number;
  index: number;
}

function parseAccept(accept: string): AcceptEntry[] {
  const entries: AcceptEntry[] = [];
  accept.split(',').forEach((part, index) => {
    const [rawType, ...params] = part.split(';');
    const type = (rawType ?? '').trim().toLowerCase();
    if (type.length === 0) return;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) q = Math.min(1, Math.max(0, Number(m[1]) || 0));
    }
    entries.push({ type, q, index });
  });
  return entries;
}

function best(entries: readonly AcceptEntry[], match: (type: string) => boolean): AcceptEntry | undefined {
  let found: AcceptEntry | undefined;
  for (const e of entries) {
    if (match(e.type) && (found === undefined || e.q > found.q)) found = e;
  }
  return found;
}

/**
 * `json` when `Accept` lists `application/json` (or a `+json` type) with a
 * quality above zero and does not prefer `text/html` (higher q, or the same q
 * listed first); `html` otherwise, including when `Accept` is absent.
 */
export function preferredErrorFormat(accept: string | readonly string[] | undefined): TunnelErrorFormat {
  if (accept === undefined) return 'html';
  const entries = parseAccept(typeof accept === 'string' ? accept : accept.join(','));
  const json = best(entries, (t) => t === 'application/json' || /^application\/[^/]+\+json$/.test(t));
  if (json === undefined || json.q <= 0) return 'html';
  const html = best(entries, (t) => t === 'text/html');
  if (html === undefined || json.q > html.q) return 'json';
  return json.q === html.q && json.index < html.index ? 'json' : 'html';
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlPage(info: TunnelErrorInfo): string {
  const title = `${info.status} ${STATUS_CODES[info.status] ?? 'Error'}`;
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;margin:0;padding:3rem 1.5rem;color:#222;background:#fafafa}' +
    'main{max-width:36rem;margin:0 auto}h1{font-size:1.5rem;margin:0 0 1rem}' +
    'code{font-size:.85rem;color:#666}</style></head><body><main>' +
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(info.message)}</p>` +
    `<p><code>${escapeHtml(info.code)}</code></p></main></body></html>\n`
  );
}

/** Renders `info` for a visitor whose `Accept` header is `accept`. */
export function renderTunnelError(info: TunnelErrorInfo, accept?: string | readonly string[]): RenderedTunnelError {
  const format = preferredErrorFormat(accept);
  const headers: Record<string, string> = {
    [TUNNEL_ERROR_HEADER]: info.code,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  let body: Buffer;
  if (format === 'json') {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    body = Buffer.from(JSON.stringify({ error: { code: info.code, message: info.message } }), 'utf8');
  } else {
    headers['Content-Type'] = 'text/html; charset=utf-8';
    headers['Content-Security-Policy'] = "default-src 'none'; style-src 'unsafe-inline'";
    body = Buffer.from(htmlPage(info), 'utf8');
  }
  if (info.retryAfterS !== undefined && Number.isFinite(info.retryAfterS)) {
    headers['Retry-After'] = String(Math.max(0, Math.ceil(info.retryAfterS)));
  }
  headers['Content-Length'] = String(body.length);
  return { status: info.status, headers, body };
}

/**
 * Sends `info` to the visitor on `target`, rendered for `accept`, with the
 * `extra` headers (such as `WWW-Authenticate` or `Set-Cookie`) added:
 * - a `ServerResponse`: the response is written and ended; if its headers
 *   were already sent, the response is destroyed instead (a cut response must
 *   never look complete) and false is returned;
 * - a raw socket (`Duplex`): a full HTTP/1.1 response with
 *   `Connection: close` is written, then the socket is ended; a socket on
 *   which it cannot be written (an `extra` value with CR or LF) is destroyed.
 * Returns true when the error response was written.
 */
export function sendTunnelError(
  target: ServerResponse | Duplex,
  info: TunnelErrorInfo,
  accept?: string | readonly string[],
  extra: Readonly<Record<string, string>> = {},
): boolean {
  const rendered = renderTunnelError(info, accept);
  const headers: Record<string, string> = { ...rendered.headers, ...extra };
  if (target instanceof ServerResponse) {
    if (target.headersSent) {
      target.destroy();
      return false;
    }
    if (target.destroyed) return false;
    // Headers set earlier (a Content-Encoding, say) must not describe this body.
    for (const name of target.getHeaderNames()) target.removeHeader(name);
    target.writeHead(rendered.status, headers);
    target.end(rendered.body);
    return true;
  }
  try {
    return writeRawResponse(target, { status: rendered.status, headers, body: rendered.body });
  } catch {
    target.destroy();
    return false;
  }
}
