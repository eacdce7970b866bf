/**
 * The relay: an agent listener (`GET /tunnel/connect`), a public listener for
 * visitors (the agent listener serves both when no public listener is
 * configured), an optional admin listener, the token store (SQLite, or
 * PostgreSQL shared by a cluster's nodes), and a
 * graceful shutdown that lets in-flight requests and upgrades finish.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { MAX_HTTP_HEAD_BYTES } from '../http/index.js';
import { throwIfAborted } from '../shared/abort.js';
import { TunnelError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { requireInt } from '../shared/validate.js';
import { VisitorAccessChecker } from './access/index.js';
import { AdminApi } from './admin-api.js';
import { AGENT_CONNECT_PATH, AgentGateway } from './agent-gateway.js';
import { AgentRegistry, type AgentConnection } from './agent-registry.js';
import { InstanceConflicts } from './instance-conflicts.js';
import { relayStateFamilies } from './relay-state-metrics.js';
import { AuthRateLimiter } from './auth-rate-limiter.js';
import { DashboardServer } from './dashboard/dashboard-server.js';
import { VisitorActivity } from './dashboard/visitor-activity.js';
import { RelayMetrics } from './metrics.js';
import { PublicIngress } from './public-ingress.js';
import { answerClientError } from './visitor-client-error.js';
import { agentPublicUrlOf, resolveRelayConfig, type ListenAddress, type RelayConfig, type RelayOptions } from './relay-config.js';
import { ClusterDashboardSource } from './cluster/cluster-dashboard-source.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { createRelayStore, PostgresRelayStore, type AccessPolicyStore, type RelayStore, type TokenStore } from './store/index.js';

/** Where the relay's listeners are bound (`host:port`, IPv6 hosts in brackets), and the URLs to give out. */
export interface RelayAddresses {
  /** The agent listener. */
  agent: string;
  /** The public listener (equal to `agent` when the listener is shared). */
  public: string;
  /** The admin listener, when configured. */
  admin?: string;
  /** A cluster node's peer listener. */
  peer?: string;
  /** A cluster node's id. */
  nodeId?: string;
  /** What agents dial: `ws(s)://<agent>/tunnel/connect`. */
  agentUrl: string;
  /** Base URL of the public listener: `http(s)://<public>`. */
  publicUrl: string;
}

/** Options of `Relay.close`. */
export interface RelayCloseOptions {
  /** How long in-flight requests and upgrades may take to finish (ms, default 10000). */
  graceMs?: number;
}

/** Options of `Relay.drain`; defaults from the cluster options (`drainGraceMs`, `drainSpreadMs`). */
export interface RelayDrainOptions {
  /** How long agents may take to move and requests to finish before the relay closes (ms). */
  graceMs?: number;
  /** Over how long the agents are asked to move (ms). */
  spreadMs?: number;
  /** Jitter source, a number in [0, 1) (tests). */
  random?: () => number;
}

/** How often a drain looks whether the node holds anything still (ms). */
const DRAIN_CHECK_INTERVAL_MS = 100;

type AnyServer = HttpServer | HttpsServer;

/** Default shutdown grace, in milliseconds. */
export const DEFAULT_RELAY_CLOSE_GRACE_MS = 10_000;

/** A tunnel relay. Construct, `listen()`, and `close()` (idempotent). */
export class Relay {
  /** The validated configuration. */
  readonly config: Readonly<RelayConfig>;
  /** Agents and their tokens (the relay's own store connection). */
  readonly tokens: TokenStore;
  /** Visitor access policies and credentials. */
  readonly accessPolicies: AccessPolicyStore;
  /** Live agent sessions. */
  readonly registry: AgentRegistry;
  /** Prometheus metrics (served at `/metrics` on the admin listener). */
  readonly metrics: RelayMetrics;
  /** This relay's cluster membership, or null for a single relay. */
  readonly cluster: ClusterNode | null;
  /** Agents whose link two running instances take from each other. */
  readonly conflicts: InstanceConflicts;
  /** The store itself: its backend, health, and (PostgreSQL) change log. */
  readonly store: RelayStore;
  /** The operator dashboard of the admin listener; null without an admin listener or with `adminDashboard: false`. */
  readonly dashboard: DashboardServer | null;
  readonly #logger: Logger;
  readonly #gateway: AgentGateway;
  readonly #ingress: PublicIngress;
  readonly #agentServer: AnyServer;
  readonly #publicServer: AnyServer | null;
  readonly #adminServer: HttpServer | null;
  readonly #adminApi: AdminApi | null;
  #dashboard: DashboardServer | null = null;
  #listening: Promise<RelayAddresses> | undefined;
  #addresses: RelayAddresses | undefined;
  /** Port of the public listener once bound (for the agents' public URLs). */
  #publicPort: number | undefined;
  #closing: Promise<void> | undefined;
  #draining: { graceMs: number; spreadMs: number; done: Promise<void> } | undefined;
  #resolveClosed!: () => void;
  /** Resolves once the relay has closed, by `close()` or at the end of a drain (`POST /api/drain`, SIGTERM). */
  readonly closed: Promise<void> = new Promise<void>((resolve) => {
    this.#resolveClosed = resolve;
  });

  /**
   * Validates `options` (throws `ConfigError`) and creates the store: an
   * SQLite file is opened here (throws `StoreError`), a PostgreSQL store
   * connects in `listen()`. Binds nothing yet.
   */
  constructor(options: RelayOptions) {
    this.config = resolveRelayConfig(options);
    const { limits, logger, clock } = this.config;
    this.#logger = logger;
    this.store = createRelayStore(this.config.dbPath, { clock, logger: logger.child({ component: 'store' }) });
    this.tokens = this.store.tokens;
    this.accessPolicies = this.store.access;
    this.registry = new AgentRegistry({ replacedSessionGraceMs: limits.replacedSessionGraceMs, logger, clock });
    this.metrics = new RelayMetrics({ registry: this.registry, processMetrics: this.config.processMetrics });
    this.conflicts = new InstanceConflicts({ clock });
    const clusterConfig = this.config.cluster;
    if (clusterConfig !== null && !(this.store instanceof PostgresRelayStore)) throw new Error('a cluster node needs a PostgreSQL store');
    this.cluster =
      clusterConfig === null
        ? null
        : new ClusterNode({
            config: clusterConfig,
            store: this.store as PostgresRelayStore,
            registry: this.registry,
            limits,
            conflicts: this.conflicts,
            logger: logger.child({ component: 'cluster', nodeId: clusterConfig.nodeId }),
            clock,
          });
    // A single relay sees every takeover in its registry; a cluster node in the directory (all nodes').
    if (this.cluster === null) this.registry.on('connect', (c: AgentConnection) => this.conflicts.noteHolder(c.agentName, c.instanceId));
    this.metrics.addFamilies(...relayStateFamilies(this.store, this.conflicts, this.cluster));
    const hasDashboard = this.config.adminListen !== null && this.config.adminDashboard;
    const activity = hasDashboard ? new VisitorActivity({ clock }) : null;
    this.#gateway = new AgentGateway({
      ...(clusterConfig === null ? {} : { nodeId: clusterConfig.nodeId }),
      conflicts: this.conflicts,
      tokens: this.tokens,
      registry: this.registry,
      rateLimiter: new AuthRateLimiter(limits.authRateLimit, clock),
      limits,
      proxyTrust: this.config.proxyTrust,
      metrics: this.metrics,
      agentPublicUrl: (agentName) => (this.#publicPort === undefined ? undefined : agentPublicUrlOf(agentName, this.config, this.#publicPort)),
      logger: logger.child({ component: 'gateway' }),
      clock,
    });
    this.#ingress = new PublicIngress({
      baseDomain: this.config.baseDomain,
      allowPathRouting: this.config.allowPathRouting,
      tokens: this.tokens,
      policies: this.accessPolicies,
      accessChecker: new VisitorAccessChecker({ clock, logger: logger.child({ component: 'access' }) }),
      registry: this.registry,
      limits,
      proxyTrust: this.config.proxyTrust,
      isTls: this.config.tls !== null,
      ...(this.cluster === null ? {} : { remoteRouter: this.cluster }),
      metrics: this.metrics,
      ...(activity === null ? {} : { onRequestEnd: activity.record }),
      logger: logger.child({ component: 'ingress' }),
      clock,
    });

    const shared = this.config.publicListen === null;
    this.#agentServer = this.#createServer();
    this.#gateway.attach(this.#agentServer, { sharedWithVisitors: shared });
    if (shared) {
      this.#attachVisitors(this.#agentServer);
      this.#publicServer = null;
    } else {
      this.#agentServer.on('request', agentListenerRequest);
      this.#publicServer = this.#createServer();
      this.#attachVisitors(this.#publicServer);
    }
    this.#adminApi =
      this.config.adminListen === null
        ? null
        : new AdminApi({
            registry: this.registry,
            tokens: this.tokens,
            accessPolicies: this.accessPolicies,
            metrics: this.metrics,
            adminToken: this.config.adminToken,
            metricsPublic: this.config.adminMetricsPublic,
            isReady: () => this.#addresses !== undefined && this.#closing === undefined && this.#draining === undefined,
            isDraining: () => this.isDraining,
            drain: () => {
              const { graceMs, spreadMs } = this.#startDrain({});
              return { graceMs, spreadMs };
            },
            rateLimiter: new AuthRateLimiter(limits.authRateLimit, clock),
            storeHealth: () => this.store.health,
            conflicts: this.conflicts,
            cluster: this.cluster,
            logger: logger.child({ component: 'admin' }),
            clock,
            ...(activity === null ? {} : { pages: (api: AdminApi) => this.#createDashboard(api, activity) }),
          });
    this.dashboard = this.#dashboard;
    this.#adminServer =
      this.#adminApi === null ? null : createHttpServer({ headersTimeout: limits.headersTimeoutMs, requestTimeout: 60_000 }, this.#adminApi.handle);
  }

  #createDashboard(api: AdminApi, activity: VisitorActivity): DashboardServer {
    const { config } = this;
    this.#dashboard = new DashboardServer(api, {
      registry: this.registry,
      metrics: this.metrics,
      activity,
      adminToken: config.adminToken,
      sessionTtlMs: config.adminSessionTtlMs,
      proxyTrust: config.proxyTrust,
      cluster: config.dashboardCluster ?? (this.cluster === null ? undefined : new ClusterDashboardSource(this.cluster)),
      logger: config.logger.child({ component: 'dashboard' }),
      clock: config.clock,
    });
    return this.#dashboard;
  }

  /** The bound addresses, once `listen()` resolved. */
  get addresses(): RelayAddresses | undefined {
    return this.#addresses;
  }

  /** Visitor requests and upgrades in flight. */
  get inflightRequests(): number {
    return this.#ingress.inflightCount;
  }

  /** Binds every listener and starts watching revocations; resolves with the bound addresses. Idempotent. */
  listen(options: { signal?: AbortSignal } = {}): Promise<RelayAddresses> {
    throwIfAborted(options.signal);
    if (this.#closing !== undefined) return Promise.reject(new TunnelError('ERR_RELAY_SHUTTING_DOWN', 'The relay is closed'));
    this.#listening ??= this.#listen();
    return this.#listening;
  }

  async #listen(): Promise<RelayAddresses> {
    await this.store.open();
    const peer = this.cluster === null ? undefined : await this.cluster.start(null);
    const agent = await bind(this.#agentServer, this.config.agentListen);
    const pub = this.#publicServer === null ? agent : await bind(this.#publicServer, this.config.publicListen as ListenAddress);
    const admin = this.#adminServer === null ? undefined : await bind(this.#adminServer, this.config.adminListen as ListenAddress);
    this.#gateway.startRevocationWatch();
    const tls = this.config.tls !== null;
    this.#publicPort = Number(pub.slice(pub.lastIndexOf(':') + 1));
    this.#addresses = {
      agent,
      public: pub,
      ...(admin === undefined ? {} : { admin }),
      ...(peer === undefined || this.cluster === null ? {} : { peer, nodeId: this.cluster.config.nodeId }),
      agentUrl: `${tls ? 'wss' : 'ws'}://${agent}${AGENT_CONNECT_PATH}`,
      publicUrl: `${tls ? 'https' : 'http'}://${pub}`,
    };
    this.#logger.info('relay listening', { ...this.#addresses, baseDomain: this.config.baseDomain });
    if (admin !== undefined && this.config.adminToken === null) {
      this.#logger.warn('admin listener without an admin token: only /healthz and /readyz are served' + (this.config.adminMetricsPublic ? ' (and /metrics)' : ''));
    }
    return this.#addresses;
  }

  /**
   * Graceful shutdown: new visitors and agents are refused (503), every agent
   * gets GoAway, in-flight requests and upgrades may finish for up to
   * `graceMs`, then every connection is closed and the store released.
   * Idempotent: later calls return the same promise.
   */
  close(options: RelayCloseOptions = {}): Promise<void> {
    if (this.#closing === undefined) {
      const graceMs = requireInt('graceMs', options.graceMs ?? DEFAULT_RELAY_CLOSE_GRACE_MS, 0);
      this.#closing = this.#close(graceMs).finally(() => this.#resolveClosed());
    }
    return this.#closing;
  }

  /** True from the start of a drain until the relay has closed. */
  get isDraining(): boolean {
    return this.#draining !== undefined && this.#closing === undefined;
  }

  /**
   * Zero-downtime shutdown of a cluster node: `/readyz` answers 503 at once
   * and the node marks itself draining in the store; new agents are refused
   * (503 `ERR_RELAY_DRAINING`), but visitors keep being served; each agent
   * gets GoAway(normal), spread with jitter over `spreadMs`, and opens its
   * replacement link elsewhere before its session here ends (its streams
   * finish); once the node holds no agent session, no visitor request and
   * no stream forwarded from another node, or when `graceMs` has passed, it
   * closes. A single relay (no cluster) has nowhere to send its agents:
   * draining it is `close({ graceMs })`. Idempotent; resolves once closed.
   */
  drain(options: RelayDrainOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    return this.#startDrain(options).done;
  }

  #startDrain(options: RelayDrainOptions): { graceMs: number; spreadMs: number; done: Promise<void> } {
    if (this.#draining !== undefined) return this.#draining;
    const cluster = this.config.cluster;
    const graceMs = requireInt('graceMs', options.graceMs ?? cluster?.drainGraceMs ?? DEFAULT_RELAY_CLOSE_GRACE_MS, 0);
    const spreadMs = Math.min(requireInt('spreadMs', options.spreadMs ?? cluster?.drainSpreadMs ?? 0, 0), Math.floor(graceMs / 3));
    const state = { graceMs, spreadMs, done: Promise.resolve() };
    this.#draining = state;
    state.done = this.cluster === null || this.#closing !== undefined ? this.close({ graceMs }) : this.#drain(graceMs, spreadMs, options.random ?? Math.random);
    return state;
  }

  async #drain(graceMs: number, spreadMs: number, random: () => number): Promise<void> {
    const { clock } = this.config;
    const cluster = this.cluster as ClusterNode;
    const deadlineMs = clock.now() + graceMs;
    this.#logger.warn('relay draining', { graceMs, spreadMs, agents: this.registry.size, inflight: this.#ingress.inflightCount });
    if (this.#listening !== undefined) await this.#listening.catch(() => undefined);
    this.#gateway.startDraining();
    // The store may be down: the drain goes on, the other nodes learn it from the lease's end at worst.
    await cluster.nodes.setState('draining').catch((err: unknown) => {
      this.#logger.warn('could not mark this node draining in the store', { error: err instanceof Error ? err.message : String(err) });
    });
    const timers = this.registry.connections().map((c) =>
      clock.setTimeout(() => void c.session.close({ graceMs: Math.max(0, deadlineMs - clock.now()) }), Math.floor(random() * spreadMs)),
    );
    const spreadEndMs = clock.now() + spreadMs;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        const now = clock.now();
        const empty = this.registry.connections().length === 0 && this.#ingress.inflightCount === 0 && cluster.status().forwardedStreams === 0;
        if ((empty && now >= spreadEndMs) || now >= deadlineMs || this.#closing !== undefined) resolve();
        else clock.setTimeout(check, DRAIN_CHECK_INTERVAL_MS);
      };
      check();
    });
    for (const t of timers) clock.clearTimeout(t);
    this.#logger.info('relay drained', { agentsLeft: this.registry.connections().length, inflight: this.#ingress.inflightCount });
    await this.close({ graceMs: Math.max(0, deadlineMs - clock.now()) });
  }

  async #close(graceMs: number): Promise<void> {
    const { clock } = this.config;
    this.#logger.info('relay closing', { graceMs, agents: this.registry.size, inflight: this.#ingress.inflightCount });
    if (this.#listening !== undefined) await this.#listening.catch(() => undefined);
    this.#ingress.stopAccepting();
    this.#gateway.stopAccepting();
    // The admin listener stays up during the drain, so /readyz can report 503 to load balancers.
    const servers = this.#servers().filter((s) => s !== this.#adminServer);
    const serversClosed = servers.map(closeServer);
    for (const s of servers) s.closeIdleConnections();
    this.registry.close();
    // Leaving the cluster first removes this node's directory entries: the other nodes route elsewhere at once.
    const clusterStopped = this.cluster?.stop(graceMs) ?? Promise.resolve();

    const sessions = this.registry.connections().map((c) => c.session.close({ graceMs }));
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all([...sessions, this.#ingress.drained(), clusterStopped]), grace]);
    if (timer !== undefined) clock.clearTimeout(timer);

    for (const c of this.registry.connections()) c.session.destroy();
    this.#ingress.destroyUpgrades();
    await clusterStopped;
    await this.#gateway.close({ graceMs: 0 });
    for (const s of servers) s.closeAllConnections();
    await Promise.all(serversClosed);
    if (this.#adminServer !== null) {
      const adminClosed = closeServer(this.#adminServer);
      this.#adminServer.closeAllConnections();
      await adminClosed;
    }
    this.#adminApi?.close();
    this.metrics.close();
    await this.store.close();
    this.#logger.info('relay closed');
  }

  #servers(): AnyServer[] {
    const out: AnyServer[] = [this.#agentServer];
    if (this.#publicServer !== null) out.push(this.#publicServer);
    if (this.#adminServer !== null) out.push(this.#adminServer);
    return out;
  }

  #createServer(): AnyServer {
    const { limits, tls } = this.config;
    // No total request time limit (uploads and long polls may take hours); the head must arrive in time.
    // Node checks headersTimeout only every connectionsCheckingInterval (30 s by default): check often
    // enough that a slowloris head is cut close to headersTimeoutMs, not up to 30 s later.
    const options = {
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
      maxHeaderSize: MAX_HTTP_HEAD_BYTES,
    };
    const server = tls === null ? createHttpServer(options) : createHttpsServer({ ...options, cert: tls.cert, key: tls.key });
    server.on('clientError', answerClientError);
    return server;
  }

  #attachVisitors(server: AnyServer): void {
    server.on('request', this.#ingress.handleRequest);
    // With this listener Node does not answer `Expect: 100-continue` itself: the ingress decides (see forwardHttpExchange).
    server.on('checkContinue', this.#ingress.handleRequest);
    server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
      if (this.#gateway.handles(req) && server === this.#agentServer) return;
      this.#ingress.handleUpgrade(req, socket, head);
    });
  }
}

/** Plain HTTP requests on a dedicated agent listener: only WebSocket upgrades are served there. */
function agentListenerRequest(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === AGENT_CONNECT_PATH) {
    json(res, 426, { error: { code: 'upgrade_required', message: 'Agents connect with a WebSocket upgrade' } }, { Upgrade: 'websocket' });
    return;
  }
  json(res, 404, { error: { code: 'not_found' } });
}

function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload), 'Cache-Control': 'no-store', ...headers });
  res.end(payload);
}

function closeServer(server: AnyServer): Promise<void> {
  return new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

async function bind(server: AnyServer, address: ListenAddress): Promise<string> {
  server.listen(address.port, address.host);
  // once() rejects on 'error' (address in use ...).
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}
