/**
 * Fixtures for dashboard tests: a relay with an admin listener (and so the
 * dashboard), logging in over HTTP, calling the dashboard's API with the
 * session cookie and CSRF token, and reading its event stream.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { SseReader, type SseEvent } from '../agent/status-fixtures.js';
import { ADMIN_TOKEN, admin, type AdminResponse } from './admin-fixtures.js';
import type { RelayAddresses } from '../../src/relay/index.js';
import type { Scope } from './relay-fixtures.js';

/** A logged-in dashboard session, as a browser holds it. */
export interface DashboardLogin {
  /** `vt_dashboard_session=...` for a `Cookie` header. */
  cookie: string;
  /** The whole `Set-Cookie` of the login. */
  setCookie: string;
  csrfToken: string;
  response: AdminResponse;
}

/** Options of `dashboardCall`. */
export interface DashboardCallOptions {
  login?: DashboardLogin;
  /** Sent as `X-CSRF-Token` (the login's by default for POST; null for none). */
  csrfToken?: string | null;
  body?: unknown;
  headers?: OutgoingHttpHeaders;
}

/** Sends one request to `/dashboard/api/<path>` with the session's cookie (and CSRF token for POST). */
export function dashboardCall(addresses: RelayAddresses, method: string, path: string, options: DashboardCallOptions = {}): Promise<AdminResponse> {
  const { login } = options;
  const csrf = options.csrfToken === undefined ? (method === 'POST' ? login?.csrfToken : undefined) : options.csrfToken;
  return admin(addresses, method, `/dashboard/api/${path}`, {
    token: null,
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: {
      ...(login === undefined ? {} : { cookie: login.cookie }),
      ...(csrf === undefined || csrf === null ? {} : { 'x-csrf-token': csrf }),
      ...options.headers,
    },
  });
}

/** Logs in with `token` (the admin token by default); throws unless it succeeded. */
export async function loginDashboard(addresses: RelayAddresses, token = ADMIN_TOKEN): Promise<DashboardLogin> {
  const response = await dashboardCall(addresses, 'POST', 'login', { body: { token } });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${response.text}`);
  const setCookie = String(response.headers['set-cookie']?.[0] ?? '');
  return { cookie: setCookie.split(';')[0] as string, setCookie, csrfToken: response.json.csrfToken as string, response };
}

/** Opens the dashboard's event stream with `login`'s cookie. */
export function openDashboardEvents(t: Scope, addresses: RelayAddresses, login: DashboardLogin | undefined): Promise<SseReader> {
  return SseReader.open(t, addresses.admin as string, login === undefined ? {} : { cookie: login.cookie }, '/dashboard/api/events');
}

/** A row of a `rows` event as an object, by the field names of the stream's `reset`. */
export function rowsOf(event: SseEvent, fields: readonly string[]): Array<Record<string, unknown>> {
  const data = JSON.parse(event.data) as { upsert: unknown[][] };
  return data.upsert.map((tuple) => Object.fromEntries(fields.map((f, i) => [f, tuple[i]])));
}

export { ADMIN_TOKEN, SseReader, type SseEvent };
