/**
 * The relay's admin listener: `/healthz` and `/readyz` for anyone, `/metrics`
 * for Prometheus, and a JSON API to list and kick agents, and to manage agent
 * tokens, access policies and visitor credentials.
 *
 * Every route but `/healthz` and `/readyz` requires `Authorization: Bearer
 * <admin token>` (compared in constant time; failures are rate limited per
 * address like agent authentications). `/metrics` is open only when
 * `metricsPublic` is set. Without an admin token configured, the protected
 * routes answer 403 `ERR_ADMIN_DISABLED`. Request bodies are JSON of at most
 * `ADMIN_MAX_BODY_BYTES`. Secrets (new tokens) appear once, in the response
 * that creates them, and are never logged.
 *
 * Routes (agent names are `:name`, token ids `:id`):
 * - `GET /api/agents`, `GET /api/agents/:name`, `DELETE /api/agents/:name`
 * - `POST /api/agents/:name/kick[?graceMs=N]` (GoAway, then the session closes; the agent redials)
 * - `GET /api/tokens[?agent=NAME]`, `GET|POST /api/agents/:name/tokens`, `DELETE /api/tokens/:id`
 * - `GET|PUT /api/agents/:name/access`
 * - `PUT|DELETE /api/agents/:name/access/users/:username` (`{"password": "..."}`)
 * - `POST /api/agents/:name/access/tokens`, `DELETE /api/agents/:name/access/tokens/:id`
 * - `GET /api/conflicts` (agents whose link two running instances fight over)
 * - `GET /api/cluster` (a cluster node: the nodes, peer links and directory as it sees them)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Secret } from '../shared/secret.js';
import { redactUrl } from '../transport/index.js';
import { redactAccessPolicy } from './access/index.js';
import {
  AdminRequestError,
  adminRoute as route,
  decodeSegment,
  mapStoreError,
  matchRoute,
  methodNotAllowed,
  ok,
  optionalObject,
  optionalString,
  readJsonBody,
  sendJson,
  type AdminReply as Reply,
  type AdminRoute as Route,
} from './admin-http.js';
import { liveAgentState, type AgentLiveState } from './agent-live-state.js';
import type { AgentConnection, AgentRegistry } from './agent-registry.js';
import type { AuthRateLimiter } from './auth-rate-limiter.js';
import type { AuthFailureReason, RelayMetrics } from './metrics.js';
import type { AccessPolicyStore } from './store/access-policy-store.js';
import { StoreNotFoundError } from './store/store-errors.js';
import type { AgentInfo, AgentTokenInfo, TokenStore } from './store/token-store.js';
import type { StoreHealth } from './store/relay-store.js';
import type { ClusterNode } from './cluster/cluster-node.js';
import type { AgentConflict, InstanceConflicts } from './instance-conflicts.js';

/** Longest kick grace accepted, in ms. */
export const ADMIN_MAX_KICK_GRACE_MS = 60_000;

/** What the admin API needs. */
export interface AdminApiOptions {
  registry: AgentRegistry;
  tokens: TokenStore;
  accessPolicies: AccessPolicyStore;
  metrics: RelayMetrics;
  /** Bearer token of the API; null disables every protected route (403). */
  adminToken: Secret | null;
  /** Serve `/metrics` without the admin token. */
  metricsPublic: boolean;
  /** True while the relay is listening and not shutting down (`/readyz`). */
  isReady: () => boolean;
  /** True while the relay drains (`/readyz` says `draining`). */
  isDraining?: () => boolean;
  /** Starts a drain (`POST /api/drain`); resolves at once with the drain's settings, not when it ends. */
  drain?: () => { graceMs: number; spreadMs: number };
  /** Failed admin authentications per address. */
  rateLimiter: AuthRateLimiter;
  /** The store's health, shown by `/readyz` (a store outage degrades the relay, it does not stop it). */
  storeHealth?: () => StoreHealth;
  /** Agents whose link two running instances fight over. */
  conflicts?: InstanceConflicts;
  /** A cluster node's view of the cluster. */
  cluster?: ClusterNode | null;
  logger: Logger;
  clock: Clock;
  /** Pages served on the same listener besides the API (the dashboard), made with this API. */
  pages?: (api: AdminApi) => AdminPages;
}

/** An agent link as the admin API shows it (a cluster's directory). */
export interface AdminLinkView {
  node: string;
  link: number;
  epoch: number;
  /** Held by the node answering. */
  local: boolean;
}

/** Pages served on the admin listener besides the JSON API (the operator dashboard). */
export interface AdminPages {
  /** True for the paths (no trailing `/`, `/` for the root) it serves. */
  handles(path: string): boolean;
  /** Serves one request; an `AdminRequestError` or store error thrown is answered as the API answers it. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** The API changed the store (agents, tokens, access): what the pages show may be stale. */
  storeChanged(): void;
  /** Stops its timers and ends its streams. Idempotent. */
  close(): void;
}

/** An agent as the admin API lists it: its live state here plus the store's view. Times are ISO 8601. */
export interface AdminAgentView extends AgentLiveState {
  name: string;
  /** Known to the token store (false for a live session whose agent was deleted meanwhile). */
  registered: boolean;
  accessMode: string | null;
  activeTokens: number;
  createdAt: string | null;
  lastTokenUseAt: string | null;
  /** The instance id the agent announced (our agents; null for the Go agent). */
  instanceId: string | null;
  /** Set while two running instances fight over the agent's link. */
  conflict: AgentConflict | null;
  /** In a cluster: every link of the agent in the directory, on any node (empty for a single relay). */
  links: AdminLinkView[];
}

const TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;
const BEARER_PATTERN = /^\s*bearer\s+(\S+)\s*$/i;

/** Serves the admin listener; `handle` is its 'request' listener. */
export class AdminApi {
  readonly #o: AdminApiOptions;
  readonly #tokenDigest: Buffer | null;
  readonly #routes: Route[];
  readonly #pages: AdminPages | undefined;
  readonly #offlineSinceMs = new Map<string, number>();
  readonly #onDisconnect = (connection: AgentConnection): void => {
    this.#offlineSinceMs.set(connection.agentName, this.#o.clock.now());
  };

  constructor(options: AdminApiOptions) {
    this.#o = options;
    this.#tokenDigest = options.adminToken === null ? null : digest(options.adminToken.reveal());
    options.registry.on('disconnect', this.#onDisconnect);
    this.#routes = [
      route('api/agents', { GET: async () => ok(await this.#listAgents()) }),
      route('api/agents/:', { GET: async (_r, [name]) => ok(await this.#agentView(name as string)), DELETE: (_r, [name]) => this.#deleteAgent(name as string) }),
      route('api/agents/:/kick', { POST: (_r, [name], q) => this.#kick(name as string, q) }),
      route('api/agents/:/tokens', {
        GET: async (_r, [name]) => ok({ tokens: await this.#tokensOf(name as string) }),
        POST: (req, [name]) => this.#createToken(req, name as string),
      }),
      route('api/tokens', { GET: async (_r, _p, q) => ok({ tokens: await this.#listTokens(q.get('agent') ?? undefined) }) }),
      route('api/tokens/:', { DELETE: (_r, [id]) => this.#revokeToken(id as string) }),
      route('api/agents/:/access', {
        GET: async (_r, [name]) => ok(await this.#accessView(name as string)),
        PUT: (req, [name]) => this.#setPolicy(req, name as string),
      }),
      route('api/agents/:/access/users/:', {
        PUT: (req, [name, user]) => this.#setBasicUser(req, name as string, user as string),
        DELETE: async (_r, [name, user]) => {
          await this.#o.accessPolicies.removeBasicUser(name as string, user as string);
          return ok({ agent: name, username: user, removed: true });
        },
      }),
      route('api/agents/:/access/tokens', { POST: (req, [name]) => this.#createVisitorToken(req, name as string) }),
      route('api/conflicts', { GET: () => ok({ conflicts: (this.#o.conflicts?.conflicts() ?? []).map(conflictView) }) }),
      route('api/cluster', { GET: () => ok({ cluster: this.#o.cluster?.status() ?? null }) }),
      route('api/drain', { POST: () => this.#drain() }),
      route('api/agents/:/access/tokens/:', {
        DELETE: async (_r, [name, id]) => {
          await this.#o.accessPolicies.removeVisitorToken(name as string, id as string);
          return ok({ agent: name, tokenId: id, removed: true });
        },
      }),
    ];
    this.#pages = options.pages?.(this);
  }

  /** Stops following the agent registry, and closes the pages. Idempotent. */
  close(): void {
    this.#o.registry.off('disconnect', this.#onDisconnect);
    this.#pages?.close();
  }

  /** The 'request' listener of the admin listener. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const startedMs = this.#o.clock.now();
    res.once('finish', () => {
      this.#o.logger.info('admin request', {
        method: req.method,
        path: redactUrl(req.url ?? ''),
        status: res.statusCode,
        durationMs: this.#o.clock.now() - startedMs,
        remote: req.socket.remoteAddress,
      });
    });
    void this.#serve(req, res).catch((err: unknown) => {
      if (err instanceof AdminRequestError) {
        sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
        return;
      }
      const mapped = mapStoreError(err);
      if (mapped !== undefined) {
        sendJson(res, mapped.status, { error: { code: mapped.code, message: mapped.message } });
        return;
      }
      this.#o.logger.error('admin request failed', { error: err instanceof Error ? err.message : String(err) });
      sendJson(res, 500, { error: { code: 'ERR_ADMIN_INTERNAL', message: 'Internal error' } });
    });
  };

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const isRead = method === 'GET' || method === 'HEAD';

    if (this.#pages?.handles(path) === true) return this.#pages.serve(req, res, url);
    if (path === '/healthz' || path === '/readyz') {
      if (!isRead) throw methodNotAllowed(['GET', 'HEAD']);
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
      const ready = this.#o.isReady();
      const cluster = this.#o.cluster;
      return sendJson(res, ready ? 200 : 503, {
        status: ready ? 'ready' : this.#o.isDraining?.() === true ? 'draining' : 'not ready',
        agents: this.#o.registry.size,
        // A store outage is reported, not failed on: the relay keeps serving what it holds in memory.
        store: this.#o.storeHealth?.() ?? 'up',
        ...(cluster === null || cluster === undefined ? {} : { node: cluster.config.nodeId, nodeState: cluster.nodes.state }),
      });
    }
    if (path === '/metrics') {
      if (!this.#o.metricsPublic) this.#authorize(req);
      if (!isRead) throw methodNotAllowed(['GET', 'HEAD']);
      const text = await this.#o.metrics.text();
      res.writeHead(200, { 'Content-Type': this.#o.metrics.contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }

    // Unknown paths are 404 for anyone (the routes are documented: nothing to hide), the rest needs the token.
    const reply = await this.#dispatch(req, method, path, url.searchParams, () => this.#authorize(req));
    sendJson(res, reply.status, reply.body);
  }

  /** `POST /api/drain`: 202 with the drain's settings; the relay exits once drained (the CLI). Again while draining: the same answer. */
  #drain(): Reply {
    const drain = this.#o.drain;
    if (drain === undefined) throw new AdminRequestError(501, 'ERR_ADMIN_DRAIN_UNSUPPORTED', 'This relay cannot drain');
    const settings = drain();
    this.#o.logger.warn('drain requested through the admin API', settings);
    return { status: 202, body: { draining: true, ...settings } };
  }

  /** Every agent, as `GET /api/agents` lists it. */
  async agents(): Promise<AdminAgentView[]> {
    return (await this.#listAgents()).agents;
  }

  /**
   * Runs the API route of `method` and `path` (`/api/...`) for a caller that
   * authenticated the operator itself (the dashboard's session and CSRF
   * checks): the same handlers, validation and errors as over HTTP, without
   * the bearer token. `req` supplies the JSON body where the route reads one.
   */
  callAuthorized(req: IncomingMessage, method: string, path: string, query: URLSearchParams = new URLSearchParams()): Promise<Reply> {
    return this.#dispatch(req, method, path, query, () => {});
  }

  async #dispatch(req: IncomingMessage, method: string, path: string, query: URLSearchParams, authorize: () => void): Promise<Reply> {
    const segments = path.split('/').slice(1).map(decodeSegment);
    for (const r of this.#routes) {
      const params = matchRoute(r.segments, segments);
      if (params === undefined) continue;
      authorize();
      const handler = r.methods[method === 'HEAD' ? 'GET' : method];
      if (handler === undefined) throw methodNotAllowed(Object.keys(r.methods));
      const reply = await handler(req, params, query);
      if (method !== 'GET' && method !== 'HEAD') this.#pages?.storeChanged();
      return reply;
    }
    throw new AdminRequestError(404, 'ERR_ADMIN_NOT_FOUND', `No such admin route (got: ${method} ${path})`);
  }

  /** Throws unless `req` carries the admin token as `Authorization: Bearer`. */
  #authorize(req: IncomingMessage): void {
    const header = req.headers.authorization;
    this.checkToken(req, typeof header === 'string' ? BEARER_PATTERN.exec(header)?.[1] : undefined);
  }

  /**
   * Throws unless `presented` is the admin token (compared in constant time):
   * 403 without a configured token, 429 from an address over the failure
   * limit, else 401, each failure counted, logged and rate limited per
   * address. A valid token passes even from a rate-limited address.
   */
  checkToken(req: IncomingMessage, presented: string | undefined): void {
    if (this.#tokenDigest === null) {
      throw new AdminRequestError(403, 'ERR_ADMIN_DISABLED', 'The admin API is disabled: no admin token is configured (--admin-token-file or VISIONA_TUNNEL_ADMIN_TOKEN)');
    }
    if (presented !== undefined && timingSafeEqual(digest(presented), this.#tokenDigest)) return;

    const address = req.socket.remoteAddress ?? '';
    const { rateLimiter, metrics } = this.#o;
    const retryAfterMs = rateLimiter.retryAfterMs(address);
    if (retryAfterMs > 0) {
      metrics.recordAuthFailure('admin_rate_limited');
      throw new AdminRequestError(429, 'ERR_RELAY_RATE_LIMITED', 'Too many failed authentication attempts', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
      });
    }
    rateLimiter.recordFailure(address);
    const reason: AuthFailureReason = presented === undefined ? 'admin_token_missing' : 'admin_token_invalid';
    metrics.recordAuthFailure(reason);
    this.#o.logger.warn('admin request rejected', { remote: address, reason });
    throw new AdminRequestError(
      401,
      'ERR_ADMIN_UNAUTHORIZED',
      presented === undefined ? 'The admin token is required (Authorization: Bearer)' : 'The admin token is not valid',
      { 'WWW-Authenticate': 'Bearer realm="visiona-tunnel admin"' },
    );
  }

  async #listAgents(): Promise<{ agents: AdminAgentView[] }> {
    const { tokens, registry } = this.#o;
    const infos = new Map((await tokens.listAgents()).map((a) => [a.name, a]));
    const names = new Set(infos.keys());
    for (const c of registry.connections()) names.add(c.agentName);
    const byName = groupConnections(registry.connections());
    const agents = [...names].sort().map((name) => this.#view(name, infos.get(name), byName.get(name) ?? []));
    return { agents };
  }

  async #agentView(name: string): Promise<AdminAgentView> {
    const info = await this.#o.tokens.getAgent(name);
    const connections = this.#o.registry.connections().filter((c) => c.agentName === name);
    if (info === undefined && connections.length === 0) throw new StoreNotFoundError('agent', name);
    return this.#view(name, info, connections);
  }

  #view(name: string, info: AgentInfo | undefined, connections: AgentConnection[]): AdminAgentView {
    const current = connections.find((c) => !c.isReplaced && !c.session.isClosed);
    const cluster = this.#o.cluster;
    const links: AdminLinkView[] =
      cluster === null || cluster === undefined
        ? []
        : cluster.directory
            .linksOf(name)
            .filter((l) => cluster.nodes.isServing(l.nodeId))
            .map((l) => ({ node: l.nodeId, link: l.linkIndex, epoch: l.epoch, local: l.nodeId === cluster.config.nodeId }));
    const conflict = this.#o.conflicts?.conflictOf(name);
    const live = liveAgentState(connections, this.#offlineSinceMs.get(name));
    return {
      name,
      registered: info !== undefined,
      ...live,
      // In a cluster, an agent with a link on another node is online too.
      online: live.online || links.length > 0,
      accessMode: info?.accessMode ?? null,
      activeTokens: info?.activeTokenCount ?? 0,
      createdAt: info === undefined ? null : iso(info.createdAtMs),
      lastTokenUseAt: info === undefined || info.lastUsedAtMs === null ? null : iso(info.lastUsedAtMs),
      instanceId: current?.instanceId ?? null,
      conflict: conflict === undefined ? null : conflictView(conflict),
      links,
    };
  }

  async #deleteAgent(name: string): Promise<Reply> {
    const result = await this.#o.tokens.deleteAgent(name);
    this.#o.logger.info('agent deleted by admin', { agent: name, revokedTokens: result.revokedTokenIds.length });
    return ok({ agent: name, deleted: true, revokedTokenIds: result.revokedTokenIds });
  }

  async #kick(name: string, query: URLSearchParams): Promise<Reply> {
    const graceMs = parseGraceMs(query.get('graceMs'));
    const { registry, tokens, logger } = this.#o;
    const connections = registry.connections().filter((c) => c.agentName === name);
    if (connections.length === 0) {
      if ((await tokens.getAgent(name)) === undefined) throw new StoreNotFoundError('agent', name);
      throw new AdminRequestError(409, 'ERR_RELAY_AGENT_OFFLINE', `The agent is not connected (got: ${JSON.stringify(name)})`);
    }
    for (const c of connections) {
      registry.unregister(c);
      void c.session.close({ graceMs });
    }
    const connectionIds = connections.map((c) => c.id);
    logger.warn('agent kicked by admin', { agent: name, connectionIds, graceMs });
    return ok({ agent: name, kicked: connections.length, connectionIds });
  }

  async #tokensOf(name: string): Promise<ReturnType<typeof tokenView>[]> {
    if ((await this.#o.tokens.getAgent(name)) === undefined) throw new StoreNotFoundError('agent', name);
    return this.#listTokens(name);
  }

  async #listTokens(agent: string | undefined): Promise<ReturnType<typeof tokenView>[]> {
    return (await this.#o.tokens.listTokens(agent)).map(tokenView);
  }

  async #createToken(req: IncomingMessage, name: string): Promise<Reply> {
    const body = optionalObject(await readJsonBody(req));
    const label = optionalString(body, 'label');
    const { tokens } = this.#o;
    await tokens.ensureAgent(name);
    const created = await tokens.createToken(name, label === undefined ? {} : { label });
    // The only copy of the secret: in this response, never in a log.
    return { status: 201, body: { agent: name, tokenId: created.tokenId, token: created.token.reveal() } };
  }

  async #revokeToken(id: string): Promise<Reply> {
    const { tokens } = this.#o;
    // Only token ids here: `revokeToken` would also take an agent name and revoke all of its tokens.
    if (!TOKEN_ID_PATTERN.test(id) || !(await tokens.listTokens()).some((t) => t.tokenId === id)) throw new StoreNotFoundError('token', id);
    const result = await tokens.revokeToken(id);
    return ok({ tokenId: id, revoked: true, revokedTokenIds: result.revokedTokenIds });
  }

  async #accessView(name: string): Promise<Record<string, unknown>> {
    const { accessPolicies } = this.#o;
    const policy = await accessPolicies.getPolicyConfig(name);
    if (policy === undefined) throw new StoreNotFoundError('agent', name);
    const users = await accessPolicies.listBasicUsers(name);
    const visitorTokens = await accessPolicies.listVisitorTokens(name);
    return {
      agent: name,
      policy: redactAccessPolicy(policy),
      basicUsers: users.map((u) => ({ username: u.username, createdAt: iso(u.createdAtMs), updatedAt: iso(u.updatedAtMs) })),
      visitorTokens: visitorTokens.map((t) => ({ tokenId: t.tokenId, label: t.label, createdAt: iso(t.createdAtMs) })),
    };
  }

  async #setPolicy(req: IncomingMessage, name: string): Promise<Reply> {
    const body = await readJsonBody(req);
    if (body === undefined) throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', 'A JSON access policy is required, e.g. {"mode":"public"}');
    if ((await this.#o.tokens.getAgent(name)) === undefined) throw new StoreNotFoundError('agent', name);
    const policy = await this.#o.accessPolicies.setPolicy(name, body as Parameters<AccessPolicyStore['setPolicy']>[1]);
    return ok({ agent: name, policy: redactAccessPolicy(policy) });
  }

  async #setBasicUser(req: IncomingMessage, name: string, username: string): Promise<Reply> {
    const body = optionalObject(await readJsonBody(req));
    const password = optionalString(body, 'password');
    if (password === undefined) throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', 'A JSON body {"password": "..."} is required');
    await this.#o.accessPolicies.addBasicUser(name, username, password, { replace: true });
    return ok({ agent: name, username, set: true });
  }

  async #createVisitorToken(req: IncomingMessage, name: string): Promise<Reply> {
    const body = optionalObject(await readJsonBody(req));
    const label = optionalString(body, 'label');
    const created = await this.#o.accessPolicies.addVisitorToken(name, label === undefined ? {} : { label });
    return { status: 201, body: { agent: name, tokenId: created.tokenId, token: created.token.reveal() } };
  }
}

function conflictView(c: AgentConflict): AgentConflict & { first: string; last: string } {
  return { ...c, first: iso(c.firstAtMs), last: iso(c.lastAtMs) };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function tokenView(t: AgentTokenInfo): Record<string, unknown> {
  return {
    tokenId: t.tokenId,
    agent: t.agentName,
    label: t.label,
    active: t.isActive,
    createdAt: iso(t.createdAtMs),
    lastUsedAt: t.lastUsedAtMs === null ? null : iso(t.lastUsedAtMs),
    revokedAt: t.revokedAtMs === null ? null : iso(t.revokedAtMs),
  };
}

function groupConnections(connections: AgentConnection[]): Map<string, AgentConnection[]> {
  const out = new Map<string, AgentConnection[]>();
  for (const c of connections) {
    const list = out.get(c.agentName);
    if (list === undefined) out.set(c.agentName, [c]);
    else list.push(c);
  }
  return out;
}

function parseGraceMs(value: string | null): number {
  if (value === null) return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > ADMIN_MAX_KICK_GRACE_MS) {
    throw new AdminRequestError(400, 'ERR_ADMIN_BAD_REQUEST', `graceMs must be an integer from 0 to ${ADMIN_MAX_KICK_GRACE_MS} (got: ${value})`);
  }
  return n;
}

