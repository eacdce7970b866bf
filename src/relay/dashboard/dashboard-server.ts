/**
 * The operator dashboard, served by the admin listener (never the public
 * one): the page at `/`, its files under `/dashboard/assets/`, and its API
 * under `/dashboard/api/`:
 *
 * - `GET session` (`{authenticated, csrfToken?, expiresAt?}`; 200 either way),
 *   `POST login` (`{"token": "<admin token>"}` -> session cookie),
 *   `POST logout`;
 * - `GET events`: Server-Sent Events of the fleet (`FleetEventStream`);
 * - `GET agents/:name`: an agent's detail (sessions, tokens, access, recent
 *   requests, traffic);
 * - `POST agents/:name/kick[?graceMs=N]`, `POST agents/:name/access` (the
 *   policy as the body), `POST tokens/:id/revoke`: run through the admin
 *   API's own routes, so validation, errors and logs are the API's.
 *
 * Everything but `session` and `login` needs a session cookie (401
 * `ERR_ADMIN_SESSION_REQUIRED`); every POST must be same-origin and, but
 * `login`, carry the session's CSRF token (403 `ERR_ADMIN_CSRF_REJECTED`).
 * A wrong admin token at login is counted and rate limited like one sent to
 * the API. Every response has a strict Content-Security-Policy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyTrust } from '../../http/index.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { packageVersion } from '../../shared/package-version.js';
import type { Secret } from '../../shared/secret.js';
import type { AdminAgentView, AdminApi, AdminPages } from '../admin-api.js';
import { AdminRequestError, decodeSegment, methodNotAllowed, optionalObject, readJsonBody, sendJson, type AdminReply } from '../admin-http.js';
import type { AgentRegistry } from '../agent-registry.js';
import type { RelayMetrics } from '../metrics.js';
import { DASHBOARD_PAGE, DashboardAssets } from './dashboard-assets.js';
import type { AgentSessionView, DashboardClusterSource } from './dashboard-cluster.js';
import { CSRF_HEADER, isOverTls, isSameOriginRequest, sessionCookie, sessionCookieOf } from './dashboard-request.js';
import { DashboardSessionStore, type DashboardSession } from './dashboard-session-store.js';
import { DEFAULT_FLEET_EVENT_STREAM_LIMITS, FleetEventStream, type FleetEventStreamLimits } from './fleet-event-stream.js';
import { FleetModel } from './fleet-model.js';
import type { VisitorActivity } from './visitor-activity.js';

/** Content-Security-Policy of every dashboard response: own scripts and styles only, nothing inline, no framing. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Default most event streams open at once. */
export const DEFAULT_MAX_DASHBOARD_STREAMS = 32;

/** What the dashboard needs. */
export interface DashboardServerOptions {
  registry: AgentRegistry;
  metrics: RelayMetrics;
  activity: VisitorActivity;
  /** The admin token to log in with; null: login answers 403 `ERR_ADMIN_DISABLED`. */
  adminToken: Secret | null;
  /** Session lifetime from login, in ms. */
  sessionTtlMs: number;
  /** Proxies believed for `X-Forwarded-Proto` / `-Host` (Secure cookie, same-origin check). */
  proxyTrust: ProxyTrust;
  cluster?: DashboardClusterSource | undefined;
  /** Event streams open at most (503 `ERR_ADMIN_BUSY` beyond). */
  maxEventStreams?: number;
  streamLimits?: Partial<FleetEventStreamLimits>;
  sampleIntervalMs?: number;
  storeRefreshIntervalMs?: number;
  logger: Logger;
  clock: Clock;
}

interface OpenStream {
  stream: FleetEventStream;
  sessionId: string;
  expiry: TimerHandle;
}

const ASSETS_PREFIX = '/dashboard/assets/';
const API_PREFIX = '/dashboard/api/';
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The dashboard: an `AdminPages` of the admin API. */
export class DashboardServer implements AdminPages {
  readonly model: FleetModel;
  readonly #o: DashboardServerOptions;
  readonly #api: AdminApi;
  readonly #assets = new DashboardAssets();
  readonly #sessions: DashboardSessionStore | null;
  readonly #streams = new Set<OpenStream>();
  readonly #streamLimits: FleetEventStreamLimits;
  readonly #maxStreams: number;
  readonly #startedAt: string;
  /** Streams admitted but still waiting for their first store read. */
  #opening = 0;
  #closed = false;

  constructor(api: AdminApi, options: DashboardServerOptions) {
    this.#o = options;
    this.#api = api;
    this.#startedAt = new Date(options.clock.now()).toISOString();
    this.#sessions =
      options.adminToken === null
        ? null
        : new DashboardSessionStore({
            adminToken: options.adminToken,
            ttlMs: options.sessionTtlMs,
            clock: options.clock,
            logger: options.logger,
          });
    this.#streamLimits = { ...DEFAULT_FLEET_EVENT_STREAM_LIMITS, ...options.streamLimits };
    this.#maxStreams = options.maxEventStreams ?? DEFAULT_MAX_DASHBOARD_STREAMS;
    this.model = new FleetModel({
      registry: options.registry,
      loadAgents: () => api.agents(),
      activity: options.activity,
      metrics: options.metrics,
      cluster: options.cluster,
      clock: options.clock,
      logger: options.logger,
      ...(options.sampleIntervalMs === undefined ? {} : { sampleIntervalMs: options.sampleIntervalMs }),
      ...(options.storeRefreshIntervalMs === undefined ? {} : { storeRefreshIntervalMs: options.storeRefreshIntervalMs }),
    });
  }

  /** Event streams open now. */
  get eventStreamCount(): number {
    return this.#streams.size;
  }

  handles(path: string): boolean {
    return path === '/' || path === `/${DASHBOARD_PAGE}` || path.startsWith('/dashboard/');
  }

  async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/' || path === `/${DASHBOARD_PAGE}`) return this.#asset(req, res, method, DASHBOARD_PAGE);
    if (path.startsWith(ASSETS_PREFIX)) return this.#asset(req, res, method, path.slice(ASSETS_PREFIX.length));
    if (!path.startsWith(API_PREFIX)) throw notFound(method, path);
    const segments = path.slice(API_PREFIX.length).split('/').map(decodeSegment);
    const route = segments.join('/');

    if (route === 'session') {
      requireMethod(method, ['GET', 'HEAD']);
      const session = await this.#sessionOf(req);
      return sendJson(res, 200, session === undefined ? { authenticated: false } : sessionBody(session));
    }
    if (route === 'login') {
      requireMethod(method, ['POST']);
      return this.#login(req, res);
    }
    const session = await this.#requireSession(req);
    if (route === 'logout') {
      requireMethod(method, ['POST']);
      this.#requireSameOriginAction(req, session);
      return this.#logout(req, res, session);
    }
    if (route === 'events') {
      requireMethod(method, ['GET']);
      return this.#events(req, res, session);
    }
    const [kind, id, action, ...rest] = segments as [string, string | undefined, string | undefined, ...string[]];
    if (id === undefined || id === '' || rest.length > 0) throw notFound(method, path);
    if (kind === 'agents' && action === undefined) {
      requireMethod(method, ['GET', 'HEAD']);
      return sendJson(res, 200, await this.#detail(req, id));
    }
    const call = actionOf(kind, id, action);
    if (call === undefined) throw notFound(method, path);
    requireMethod(method, ['POST']);
    this.#requireSameOriginAction(req, session);
    const reply = await this.#api.callAuthorized(req, call.method, call.path, url.searchParams);
    sendJson(res, reply.status, reply.body);
  }

  storeChanged(): void {
    this.model.refreshSoon();
  }

  /** Ends every event stream and stops the model. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const open of [...this.#streams]) this.#endStream(open, 'closed');
    this.model.close();
  }

  #asset(req: IncomingMessage, res: ServerResponse, method: string, name: string): void {
    requireMethod(method, ['GET', 'HEAD']);
    const asset = this.#assets.get(name);
    if (asset === undefined) throw notFound(method, req.url ?? name);
    const headers: Record<string, string | number> = { 'Content-Type': asset.contentType, 'Cache-Control': 'no-cache', ETag: asset.etag, Vary: 'Accept-Encoding' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = asset.gzipped !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? (asset.gzipped as Buffer) : asset.body;
    res.writeHead(200, { ...headers, ...(gzip ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
  }

  async #sessionOf(req: IncomingMessage): Promise<DashboardSession | undefined> {
    return this.#sessions === null ? undefined : this.#sessions.verify(sessionCookieOf(req));
  }

  async #requireSession(req: IncomingMessage): Promise<DashboardSession> {
    const session = await this.#sessionOf(req);
    if (session === undefined) throw new AdminRequestError(401, 'ERR_ADMIN_SESSION_REQUIRED', 'Log in to the dashboard first (no valid session)');
    return session;
  }

  #requireSameOriginAction(req: IncomingMessage, session: DashboardSession | undefined): void {
    if (!isSameOriginRequest(req, this.#o.proxyTrust)) {
      this.#o.logger.warn('dashboard request from another site refused', { remote: req.socket.remoteAddress, path: req.url });
      throw new AdminRequestError(403, 'ERR_ADMIN_CSRF_REJECTED', 'Cross-site request refused');
    }
    if (session === undefined) return;
    const header = req.headers[CSRF_HEADER.toLowerCase()];
    if (!(this.#sessions as DashboardSessionStore).csrfMatches(session, typeof header === 'string' ? header : undefined)) {
      this.#o.logger.warn('dashboard request without its CSRF token refused', { remote: req.socket.remoteAddress, path: req.url });
      throw new AdminRequestError(403, 'ERR_ADMIN_CSRF_REJECTED', `The ${CSRF_HEADER} header is missing or wrong`);
    }
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#requireSameOriginAction(req, undefined);
    const type = req.headers['content-type'];
    if (type === undefined) throw new AdminRequestError(415, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', 'The body must be application/json: {"token": "..."}');
    const body = optionalObject(await readJsonBody(req));
    const token = typeof body.token === 'string' && body.token.length > 0 ? body.token : undefined;
    this.#api.checkToken(req, token);
    const { session, cookieValue } = await (this.#sessions as DashboardSessionStore).create();
    const maxAgeSec = (session.expiresAtMs - this.#o.clock.now()) / 1000;
    res.setHeader('Set-Cookie', sessionCookie(cookieValue, maxAgeSec, isOverTls(req, this.#o.proxyTrust)));
    this.#o.logger.info('dashboard login', { remote: req.socket.remoteAddress, expiresAt: new Date(session.expiresAtMs).toISOString() });
    sendJson(res, 200, sessionBody(session));
  }

  #logout(req: IncomingMessage, res: ServerResponse, session: DashboardSession): void {
    (this.#sessions as DashboardSessionStore).end(session);
    for (const open of [...this.#streams]) if (open.sessionId === session.id) this.#endStream(open, 'logged-out');
    res.setHeader('Set-Cookie', sessionCookie('', 0, isOverTls(req, this.#o.proxyTrust)));
    this.#o.logger.info('dashboard logout', { remote: req.socket.remoteAddress });
    sendJson(res, 200, { authenticated: false });
  }

  async #events(req: IncomingMessage, res: ServerResponse, session: DashboardSession): Promise<void> {
    if (this.#streams.size + this.#opening >= this.#maxStreams) {
      throw new AdminRequestError(503, 'ERR_ADMIN_BUSY', `Too many dashboard event streams open (limit: ${this.#maxStreams})`, { 'Retry-After': '5' });
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    // Agents made by another process (the CLI) show up within the refresh interval; a page (re)opening reads now.
    this.#opening += 1;
    await this.model.refreshNow().finally(() => (this.#opening -= 1));
    if (res.destroyed || this.#closed) return;
    const { clock } = this.#o;
    const stream = new FleetEventStream(
      res,
      this.model,
      { relay: { version: packageVersion(), startedAt: this.#startedAt }, sessionExpiresAt: new Date(session.expiresAtMs).toISOString() },
      clock,
      this.#streamLimits,
    );
    const expiry = clock.setTimeout(() => this.#endStream(open, 'expired'), Math.max(0, session.expiresAtMs - clock.now()));
    expiry.unref?.();
    const open: OpenStream = { stream, sessionId: session.id, expiry };
    this.#streams.add(open);
    res.once('close', () => this.#endStream(open, 'closed'));
  }

  #endStream(open: OpenStream, reason: 'logged-out' | 'expired' | 'closed'): void {
    if (!this.#streams.delete(open)) return;
    this.#o.clock.clearTimeout(open.expiry);
    open.stream.close(reason);
  }

  async #detail(req: IncomingMessage, name: string): Promise<Record<string, unknown>> {
    const api = this.#api;
    const agent = (await api.callAuthorized(req, 'GET', `/api/agents/${encodeURIComponent(name)}`)).body as AdminAgentView;
    const ifRegistered = async (path: string): Promise<AdminReply['body'] | null> => {
      if (!agent.registered) return null;
      return (await api.callAuthorized(req, 'GET', path)).body;
    };
    const tokens = (await ifRegistered(`/api/agents/${encodeURIComponent(name)}/tokens`)) as { tokens: unknown[] } | null;
    const access = await ifRegistered(`/api/agents/${encodeURIComponent(name)}/access`);
    return {
      agent,
      sessions: await this.#sessionsOf(name),
      tokens: tokens?.tokens ?? [],
      access,
      recentRequests: this.#o.activity.recentRequests(name),
      traffic: this.#o.activity.agentTraffic(name),
    };
  }

  async #sessionsOf(name: string): Promise<AgentSessionView[]> {
    const cluster = this.#o.cluster;
    const local: AgentSessionView[] = this.model.connectionsOf(name).map((c) => ({
      ...(cluster === undefined ? {} : { node: cluster.localNodeId }),
      connectionId: c.id,
      since: new Date(c.connectedAtMs).toISOString(),
      remoteAddress: c.remoteAddress,
      version: c.agentVersion ?? null,
      rttMs: c.rttMs ?? null,
      streams: c.activeStreams,
      requests: c.requestsForwarded,
      draining: !c.isUsable,
    }));
    if (cluster?.remoteSessions === undefined) return local;
    try {
      return [...local, ...(await cluster.remoteSessions(name))];
    } catch (err) {
      this.#o.logger.warn('dashboard could not read the sessions of other nodes', { agent: name, error: err instanceof Error ? err.message : String(err) });
      return local;
    }
  }
}

function sessionBody(session: DashboardSession): Record<string, unknown> {
  return { authenticated: true, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAtMs).toISOString() };
}

function requireMethod(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw methodNotAllowed(allowed);
}

function notFound(method: string, path: string): AdminRequestError {
  return new AdminRequestError(404, 'ERR_ADMIN_NOT_FOUND', `No such dashboard path (got: ${method} ${path})`);
}

/** The admin API route behind a dashboard action. */
function actionOf(kind: string, id: string, action: string | undefined): { method: string; path: string } | undefined {
  const target = encodeURIComponent(id);
  if (kind === 'agents' && action === 'kick') return { method: 'POST', path: `/api/agents/${target}/kick` };
  if (kind === 'agents' && action === 'access') return { method: 'PUT', path: `/api/agents/${target}/access` };
  if (kind === 'tokens' && action === 'revoke') return { method: 'DELETE', path: `/api/tokens/${target}` };
  return undefined;
}

