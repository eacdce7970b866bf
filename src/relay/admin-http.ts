/**
 * HTTP plumbing of the admin API: JSON replies and errors, a tiny route
 * matcher, and bounded JSON request bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TunnelError, type TunnelErrorCode } from '../shared/errors.js';
import { InvalidAgentNameError, StoreConflictError, StoreNotFoundError, StoreUnavailableError, StoreValidationError } from './store/store-errors.js';

/** Largest request body the admin API reads, in bytes. */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;

/** An admin request refused or failed, with the HTTP status it maps to. */
export class AdminRequestError extends TunnelError {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, code: TunnelErrorCode, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** Handles one matched route: path parameters in order, and the query. */
export type AdminHandler = (req: IncomingMessage, params: string[], query: URLSearchParams) => Promise<AdminReply> | AdminReply;

/** A JSON reply: status and body. */
export interface AdminReply {
  status: number;
  body: unknown;
}

/** A route: path segments (`:` marks a parameter) and a handler per method. */
export interface AdminRoute {
  segments: string[];
  methods: Partial<Record<string, AdminHandler>>;
}

/** A route from a pattern such as `api/agents/:/kick` (`:` is a parameter). */
export function adminRoute(pattern: string, methods: AdminRoute['methods']): AdminRoute {
  return { segments: pattern.split('/'), methods };
}

/** The parameters of `path` when it matches `pattern` (`:` segments), else undefined. */
export function matchRoute(pattern: string[], path: string[]): string[] | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const s = path[i] as string;
    if (p === ':') params.push(s);
    else if (p !== s) return undefined;
  }
  return params;
}

/** A path segment percent-decoded; 400 when it is malformed. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', `Invalid percent-encoding in the path (got: ${segment})`);
  }
}

/** 405 with an `Allow` header (HEAD added wherever GET is). */
export function methodNotAllowed(allowed: string[]): AdminRequestError {
  const list = allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed;
  return new AdminRequestError(405, 'ERR_ADMIN_METHOD_NOT_ALLOWED', `Method not allowed (allowed: ${list.join(', ')})`, { Allow: list.join(', ') });
}

/** A 200 reply. */
export function ok(body: unknown): AdminReply {
  return { status: 200, body };
}

/** The body as an object (`{}` when there was none); 400 otherwise. */
export function optionalObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', 'The body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** `body[field]` when it is a string, undefined when absent; 400 otherwise. */
export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', `${field} must be a string`);
  return value;
}

/** The JSON body of `req` (undefined when empty); 413 over `ADMIN_MAX_BODY_BYTES`, 415 for a non-JSON content type. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(type)) {
    throw new AdminRequestError(415, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', `The body must be application/json (got: ${type.slice(0, 100)})`);
  }
  const tooLarge = (): AdminRequestError =>
    new AdminRequestError(413, 'ERR_ADMIN_BODY_TOO_LARGE', `The body is larger than ${ADMIN_MAX_BODY_BYTES} bytes`, { Connection: 'close' });
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > ADMIN_MAX_BODY_BYTES) throw tooLarge();
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > ADMIN_MAX_BODY_BYTES) {
        // Stop reading but keep the socket: the 413 goes out, then the connection closes.
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', 'The body is not valid JSON');
  }
}

/** The HTTP status of a store error (404, 409, 400, 503 when the store is down), or undefined for anything else. */
export function mapStoreError(err: unknown): { status: number; code: TunnelErrorCode; message: string } | undefined {
  if (err instanceof StoreNotFoundError) return { status: 404, code: err.code, message: err.message };
  if (err instanceof StoreConflictError) return { status: 409, code: err.code, message: err.message };
  if (err instanceof StoreValidationError || err instanceof InvalidAgentNameError) return { status: 400, code: err.code, message: err.message };
  if (err instanceof StoreUnavailableError) return { status: 503, code: 'ERR_RELAY_STORE_UNAVAILABLE', message: 'The store cannot be reached; try again' };
  return undefined;
}

/** Sends `body` as JSON, not cached; does nothing once the response has started. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(payload);
}
