/**
 * Where agents come in: `GET /tunnel/connect` upgraded to a WebSocket only
 * after the token (`?token=`, the Go client's way, or `Authorization:
 * Bearer`) is verified; a yamux server session over it, registered under the
 * token's agent name. Failed authentications are rate limited per address.
 * Revoking a token ends its live session within a second, whether the
 * revocation happened in this process or in another one (the CLI).
 */
import {
  AGENT_INSTANCE_HEADER,
  AGENT_PUBLIC_URL_HEADER,
  AGENT_LINK_HEADER,
  AGENT_VERSION_HEADER,
  CAPABILITIES_HEADER,
  INTERIM_RESPONSES_CAPABILITY,
  RELAY_NODE_HEADER,
  RELAY_VERSION_HEADER,
  parseCapabilities,
} from '../http/tunnel-headers.js';
import { packageVersion } from '../shared/package-version.js';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Session } from '../mux/index.js';
import type { ProxyTrust } from '../http/index.js';
import type { Clock } from '../shared/clock.js';
import type { TunnelErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { WebSocketListener, type UpgradeAuthResult, type WebSocketDuplex } from '../transport/index.js';
import { AgentConnection, type AgentRegistry } from './agent-registry.js';
import type { AuthRateLimiter } from './auth-rate-limiter.js';
import type { InstanceConflicts } from './instance-conflicts.js';
import { clientAddress } from './client-address.js';
import type { RelayMetrics } from './metrics.js';
import type { RelayLimits } from './relay-config.js';
import { StoreUnavailableError } from './store/store-errors.js';
import type { TokenRevocation, TokenStore, VerifiedAgentToken } from './store/token-store.js';

/** The path agents connect to. */
export const AGENT_CONNECT_PATH = '/tunnel/connect';

/** What this relay understands on a stream beyond the Go wire contract, announced on every `101`. */
export const RELAY_CAPABILITIES: readonly string[] = [INTERIM_RESPONSES_CAPABILITY];

/** Longest agent version string kept, in characters. */
const MAX_AGENT_VERSION_LENGTH = 64;

/** Who an accepted upgrade belongs to. */
export interface AgentAuthContext {
  agentName: string;
  tokenId: string;
  remoteAddress: string;
  agentVersion: string | undefined;
  /** `X-Tunnel-Agent-Instance`, when well-formed. */
  instanceId: string | undefined;
  /** `X-Tunnel-Link` (0 when absent or malformed). */
  linkIndex: number;
  /** The agent's `X-Tunnel-Capabilities` that this relay shares (none for a Go agent). */
  capabilities: ReadonlySet<string>;
}

/** What the gateway needs. */
export interface AgentGatewayOptions {
  tokens: TokenStore;
  registry: AgentRegistry;
  rateLimiter: AuthRateLimiter;
  limits: Pick<RelayLimits, 'keepAliveIntervalMs' | 'keepAliveTimeoutMs' | 'revocationPollIntervalMs'>;
  proxyTrust: ProxyTrust;
  /** Counts refused authentications (optional). */
  metrics?: RelayMetrics;
  /** In a cluster: this node's id, sent back on the 101 (`X-Tunnel-Node`). */
  nodeId?: string;
  /** Refuses the instance that lost a fight over an agent's link, while it lasts. */
  conflicts?: InstanceConflicts;
  /** The URL visitors reach an agent at, sent on its `101` as `X-Tunnel-Public-Url` (none when undefined). */
  agentPublicUrl?: (agentName: string) => string | undefined;
  logger: Logger;
  clock: Clock;
}

/** Options of `AgentGateway.attach`. */
export interface AgentGatewayAttachOptions {
  /** The server also serves visitors: leave other upgrade paths to the public ingress. */
  sharedWithVisitors: boolean;
}

/** The agent-facing side of the relay. */
export class AgentGateway {
  readonly #options: AgentGatewayOptions;
  readonly #logger: Logger;
  readonly #listeners: WebSocketListener<AgentAuthContext>[] = [];
  #accepting = true;
  /** Why new agents are refused once `#accepting` is false. */
  #refusal: { code: 'ERR_RELAY_SHUTTING_DOWN' | 'ERR_RELAY_DRAINING'; message: string } = { code: 'ERR_RELAY_SHUTTING_DOWN', message: 'The relay is shutting down' };
  #stopRevocations: (() => void) | undefined;
  #removeRevokedListener: (() => void) | undefined;
  readonly #upgradeHeaders: Record<string, string>;

  constructor(options: AgentGatewayOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#upgradeHeaders = {
      [RELAY_VERSION_HEADER]: relayVersion(),
      [CAPABILITIES_HEADER]: RELAY_CAPABILITIES.join(', '),
      ...(options.nodeId === undefined ? {} : { [RELAY_NODE_HEADER]: options.nodeId }),
    };
  }

  /** Serves `GET /tunnel/connect` upgrades on `server`. */
  attach(server: HttpServer | HttpsServer, { sharedWithVisitors }: AgentGatewayAttachOptions): void {
    this.#listeners.push(
      new WebSocketListener<AgentAuthContext>(server, {
        path: AGENT_CONNECT_PATH,
        authenticate: (req) => this.authenticate(req),
        upgradeHeaders: (_req, context) => this.#upgradeHeadersFor(context),
        onConnection: (duplex, _req, context) => this.#onConnection(duplex, context),
        otherPaths: sharedWithVisitors ? 'ignore' : 'reject',
        logger: this.#logger,
      }),
    );
  }

  /** The headers of an agent's `101`: ours for every agent, plus its public URL when known. */
  #upgradeHeadersFor(context: AgentAuthContext): Record<string, string> {
    const url = this.#options.agentPublicUrl?.(context.agentName);
    return url === undefined ? this.#upgradeHeaders : { ...this.#upgradeHeaders, [AGENT_PUBLIC_URL_HEADER]: url };
  }

  /** True when `req` is for the agent endpoint (so visitor handling must leave it alone). */
  handles(req: IncomingMessage): boolean {
    return pathOf(req.url) === AGENT_CONNECT_PATH;
  }

  /** Open agent WebSockets, over every attached server. */
  get connectionCount(): number {
    return this.#listeners.reduce((n, l) => n + l.connectionCount, 0);
  }

  /**
   * Starts ending sessions whose token gets revoked: at once for revocations
   * made through this store, and by polling the store's revocation log every
   * `revocationPollIntervalMs` for those made by other processes.
   */
  startRevocationWatch(): void {
    if (this.#stopRevocations !== undefined) return;
    const { tokens, limits } = this.#options;
    this.#removeRevokedListener = tokens.onRevoked((r) => this.#onRevoked(r));
    this.#stopRevocations = tokens.watchRevocations({ intervalMs: limits.revocationPollIntervalMs });
  }

  /**
   * Decides on an upgrade before it happens: 503 while shutting down, 429
   * for an address over its failure budget, 401 for a missing, unknown or
   * revoked token, 503 when a networked store is down and the token is not
   * known to this node. A valid token is accepted even from a limited
   * address, so one broken agent behind a shared NAT or proxy cannot lock
   * out the others.
   */
  async authenticate(req: IncomingMessage): Promise<UpgradeAuthResult<AgentAuthContext>> {
    const remoteAddress = clientAddress(req, this.#options.proxyTrust);
    if (!this.#accepting) return rejection(503, this.#refusal.code, this.#refusal.message, { 'Retry-After': this.#refusal.code === 'ERR_RELAY_DRAINING' ? '1' : '5' });
    const token = tokenOf(req);
    let verified: VerifiedAgentToken | null = null;
    if (token !== undefined) {
      try {
        verified = await this.#options.tokens.verifyToken(token);
      } catch (err) {
        if (err instanceof StoreUnavailableError) {
          this.#logger.warn('agent refused: the store is unavailable', { remote: remoteAddress });
          return rejection(503, 'ERR_RELAY_STORE_UNAVAILABLE', 'The relay cannot check this token now', { 'Retry-After': '5' });
        }
        this.#logger.error('token verification failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    if (verified !== null) {
      const instanceId = instanceOf(req);
      if (this.#options.conflicts?.shouldRefuse(verified.agentName, instanceId) === true) {
        this.#logger.warn('agent refused: another running instance holds its link', { agent: verified.agentName, remote: remoteAddress, instanceId });
        return rejection(409, 'ERR_RELAY_AGENT_CONFLICT', 'Another running instance of this agent holds its link (is one token used on two devices?)', {
          'Retry-After': '30',
        });
      }
      const linkIndex = linkOf(req);
      const held = this.#options.registry.get(verified.agentName);
      if (held !== undefined && instanceId !== undefined && held.instanceId === instanceId && held.linkIndex !== linkIndex) {
        // Two links of one agent on one node protect against nothing: the agent must find another node.
        this.#logger.info('agent link refused: another link of this agent is on this node', { agent: verified.agentName, link: linkIndex, heldLink: held.linkIndex });
        return rejection(503, 'ERR_RELAY_LINK_ON_THIS_NODE', `Link ${held.linkIndex} of this agent is on this node already; connect this link to another node`, {
          'Retry-After': '1',
        });
      }
      return {
        ok: true,
        context: {
          agentName: verified.agentName,
          tokenId: verified.tokenId,
          remoteAddress,
          agentVersion: versionOf(req),
          instanceId,
          linkIndex,
          capabilities: sharedCapabilities(req),
        },
      };
    }
    const { rateLimiter } = this.#options;
    const retryAfterMs = rateLimiter.retryAfterMs(remoteAddress);
    if (retryAfterMs > 0) {
      this.#options.metrics?.recordAuthFailure('agent_rate_limited');
      this.#logger.warn('agent rejected', { remote: remoteAddress, status: 429, reason: 'too many failed attempts' });
      return rejection(429, 'ERR_RELAY_RATE_LIMITED', 'Too many failed authentication attempts', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
      });
    }
    rateLimiter.recordFailure(remoteAddress);
    const reason = token === undefined ? 'missing token' : 'unknown or revoked token';
    this.#options.metrics?.recordAuthFailure(token === undefined ? 'agent_token_missing' : 'agent_token_invalid');
    this.#logger.warn('agent rejected', { remote: remoteAddress, status: 401, reason });
    return token === undefined
      ? rejection(401, 'ERR_RELAY_TOKEN_MISSING', 'An agent token is required (?token= or Authorization: Bearer)')
      : rejection(401, 'ERR_RELAY_TOKEN_INVALID', 'The agent token is unknown or revoked');
  }

  /** Refuses new agents from now on (503); sessions already up are not touched. */
  stopAccepting(): void {
    this.#accepting = false;
    this.#stopRevocationWatch();
  }

  /**
   * Refuses new agents with 503 `ERR_RELAY_DRAINING` (and `Retry-After: 1`,
   * so a load balancer's L7 retry or the agent itself goes elsewhere) while
   * the sessions already up keep working and revocations keep applying.
   */
  startDraining(): void {
    if (!this.#accepting) return;
    this.#refusal = { code: 'ERR_RELAY_DRAINING', message: 'This relay node is draining; connect to another node' };
    this.#accepting = false;
  }

  /**
   * Stops accepting, then closes the WebSocket endpoints: sockets still open
   * get close 1001 and are terminated after `graceMs`. Sessions should have
   * been closed (drained) before. Idempotent.
   */
  async close({ graceMs = 1000 }: { graceMs?: number } = {}): Promise<void> {
    this.stopAccepting();
    await Promise.all(this.#listeners.map((l) => l.close({ graceMs })));
  }

  #onConnection(duplex: WebSocketDuplex, context: AgentAuthContext): void {
    const { limits, clock } = this.#options;
    const logger = this.#logger.child({ agent: context.agentName });
    const session = new Session(duplex, {
      role: 'server',
      keepAliveIntervalMs: limits.keepAliveIntervalMs,
      keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
      logger,
      clock,
    });
    // Agents never open streams (wire contract): reset any that arrive.
    session.on('stream', (stream) => {
      logger.warn('agent opened a stream; resetting it', { streamId: stream.id });
      stream.destroy();
    });
    void this.#admit(session, context, logger);
  }

  /** Registers the session unless the relay shut down or the token was revoked while the upgrade was completing. */
  async #admit(session: Session, context: AgentAuthContext, logger: Logger): Promise<void> {
    const { registry, tokens, clock } = this.#options;
    let active: boolean;
    try {
      active = await tokens.isTokenActive(context.tokenId);
    } catch {
      // The store is unreachable: the token was verified a moment ago.
      active = true;
    }
    if (!this.#accepting || !active || session.isClosed) {
      void session.close({ graceMs: 0 });
      return;
    }
    const connection = new AgentConnection({ ...context, session, connectedAtMs: clock.now() });
    session.once('close', (err: Error | undefined) => {
      logger.info('agent disconnected', {
        connectionId: connection.id,
        remote: context.remoteAddress,
        reason: err === undefined ? 'closed by relay' : err.message,
        ...(err !== undefined && 'code' in err ? { code: (err as { code: unknown }).code } : {}),
      });
    });
    registry.register(connection);
    logger.info('agent connected', {
      connectionId: connection.id,
      remote: context.remoteAddress,
      ...(context.agentVersion === undefined ? {} : { agentVersion: context.agentVersion }),
      ...(context.capabilities.size === 0 ? {} : { capabilities: [...context.capabilities].join(',') }),
    });
  }

  #onRevoked(revocation: TokenRevocation): void {
    for (const connection of this.#options.registry.connections()) {
      if (connection.tokenId !== revocation.tokenId) continue;
      this.#logger.info('agent token revoked; closing its session', {
        agent: connection.agentName,
        connectionId: connection.id,
        tokenId: revocation.tokenId,
      });
      this.#options.registry.unregister(connection);
      void connection.session.close({ graceMs: 0 });
    }
  }

  #stopRevocationWatch(): void {
    this.#stopRevocations?.();
    this.#removeRevokedListener?.();
    this.#stopRevocations = undefined;
    this.#removeRevokedListener = undefined;
  }
}

function rejection(
  status: number,
  code: TunnelErrorCode,
  message: string,
  headers?: Record<string, string>,
): UpgradeAuthResult<AgentAuthContext> {
  return { ok: false, status, body: { error: { code, message } }, headers: { ...headers, [RELAY_VERSION_HEADER]: relayVersion() } };
}

/** `visiona-tunnel/0.1.0`: tells our agent, on every answer to its connect request, that the relay is ours. */
function relayVersion(): string {
  return `visiona-tunnel/${packageVersion()}`;
}

/** The token from `Authorization: Bearer` (preferred) or the `token` query parameter. */
function tokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
    if (m !== null) return m[1];
  }
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const value = new URLSearchParams(url.slice(q + 1)).get('token');
  return value === null || value === '' ? undefined : value;
}

function versionOf(req: IncomingMessage): string | undefined {
  const value = req.headers[AGENT_VERSION_HEADER.toLowerCase()];
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim().slice(0, MAX_AGENT_VERSION_LENGTH);
  return /^[\x20-\x7e]+$/.test(trimmed) ? trimmed : undefined;
}

/** The capabilities the agent announced that this relay has too. */
function sharedCapabilities(req: IncomingMessage): ReadonlySet<string> {
  const announced = parseCapabilities(req.headers[CAPABILITIES_HEADER.toLowerCase()]);
  return new Set(RELAY_CAPABILITIES.filter((c) => announced.has(c)));
}

/** The agent's instance id: 8-64 characters of [A-Za-z0-9_-], else undefined. */
function instanceOf(req: IncomingMessage): string | undefined {
  const value = req.headers[AGENT_INSTANCE_HEADER.toLowerCase()];
  return typeof value === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(value) ? value : undefined;
}

/** The link index: 0-63, else 0. */
function linkOf(req: IncomingMessage): number {
  const value = req.headers[AGENT_LINK_HEADER.toLowerCase()];
  if (typeof value !== 'string' || !/^\d{1,2}$/.test(value)) return 0;
  const n = Number(value);
  return n < 64 ? n : 0;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
