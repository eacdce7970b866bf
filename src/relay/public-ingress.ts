/**
 * The visitor-facing side of the relay. For each request or upgrade: one
 * `parseRoute()` picks the agent (the same name is used for access control,
 * forwarding and logs), the agent must be known to the token store (else
 * 404), the visitor must pass the agent's access policy (credentials meant
 * for the relay are stripped), then a yamux stream is opened on the agent's
 * session, waiting up to `offlineGraceMs` for an agent that is reconnecting
 * (else 502), with a per-agent stream limit (503 with Retry-After).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  applyForwardedHeaders,
  expectsContinue,
  isRouteError,
  parseRoute,
  removeHopByHopHeaders,
  type ProxyTrust,
  type Route,
  type TunnelErrorInfo,
} from '../http/index.js';
import { INTERIM_RESPONSES_CAPABILITY } from '../http/tunnel-headers.js';
import type { MuxStream } from '../mux/index.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { logVisitorRequest, type VisitorRequestRecord } from './access-log.js';
import { removeQueryParam, removeRelaySetCookies, stripVisitorCredentials } from './access/index.js';
import type { VisitorAccessChecker, VisitorAccessDenialCode, VisitorAccessGranted } from './access/index.js';
import { AgentConnection, type AgentRegistry } from './agent-registry.js';
import type { RemoteAgentRouter } from './remote-agent-router.js';
import { clientAddress } from './client-address.js';
import { forwardHttpExchange } from './http-forwarder.js';
import { openAgentStream } from './open-agent-stream.js';
import type { RelayMetrics } from './metrics.js';
import type { RelayLimits } from './relay-config.js';
import type { AccessPolicyStore } from './store/access-policy-store.js';
import type { TokenStore } from './store/token-store.js';
import { forwardUpgrade } from './upgrade-forwarder.js';
import { sendVisitorError, sendVisitorRedirect, type ExtraHeaders } from './visitor-response.js';

/** What the ingress needs. */
export interface PublicIngressOptions {
  baseDomain: string;
  /** Serve access-controlled agents at `/a/<agent>/` as well (else only public ones; see `RelayOptions.allowPathRouting`). */
  allowPathRouting: boolean;
  tokens: TokenStore;
  policies: AccessPolicyStore;
  accessChecker: VisitorAccessChecker;
  registry: AgentRegistry;
  limits: Pick<RelayLimits, 'maxStreamsPerAgent' | 'offlineGraceMs' | 'responseHeaderTimeoutMs' | 'idleTimeoutMs'>;
  proxyTrust: ProxyTrust;
  /** The public listener terminates TLS (X-Forwarded-Proto https, Secure cookies). */
  isTls: boolean;
  /** Counts every visitor request (optional). */
  metrics?: RelayMetrics;
  /** Reaches agents connected to other nodes of a cluster (absent for a single relay). */
  remoteRouter?: RemoteAgentRouter;
  /** Called with every finished visitor request or upgrade, after the access log line (the dashboard's activity). */
  onRequestEnd?: (record: VisitorRequestRecord) => void;
  logger: Logger;
  clock: Clock;
}

/** After a complete exchange, how long the agent gets to send its FIN before the stream is reset. */
const STREAM_LINGER_MS = 30_000;
/** After a refused upgrade's response, how long the visitor may keep its side of the connection open. */
const UPGRADE_REFUSAL_LINGER_MS = 5_000;

/** Messages shown for each access refusal. */
const ACCESS_MESSAGES: Readonly<Record<VisitorAccessDenialCode, string>> = {
  ERR_ACCESS_DENIED: 'This device is private',
  ERR_ACCESS_CREDENTIALS_REQUIRED: 'Credentials are required to reach this device',
  ERR_ACCESS_BAD_CREDENTIALS: 'The credentials were not accepted',
  ERR_ACCESS_TOKEN_EXPIRED: 'The access token has expired',
  ERR_ACCESS_WRONG_AGENT: 'The access token is for another device',
  ERR_ACCESS_POLICY_INVALID: 'The access policy of this device cannot be used',
};

/** A visitor request the relay answers itself. */
type Refusal =
  | { kind: 'error'; info: TunnelErrorInfo; headers?: ExtraHeaders }
  | { kind: 'redirect'; status: 303 | 308; location: string; headers?: ExtraHeaders }
  | { kind: 'gone' };

/** What a request's end is recorded with (the access log line and the metrics). */
type RequestEnd = Pick<VisitorRequestRecord, 'status' | 'outcome' | 'bytesToAgent' | 'bytesFromAgent'> &
  Partial<Pick<VisitorRequestRecord, 'errorCode' | 'error'>> & { responseHeadersAtMs?: number | undefined };

/** Filled in by `#admit`: the agent once the route named one known to the store. */
interface AdmissionTrace {
  agent: string | undefined;
}

/** Where a forwarded exchange's byte counts go: the agent's session here, or a throwaway for one on another node. */
interface StreamAccount {
  bytesToAgent: number;
  bytesFromAgent: number;
}

/**
 * The agent's session here announced `interim-responses`. An agent on another
 * node is treated as if it had not: the session directory does not carry its
 * capabilities, so this node says `100` itself, and Node's HTTP client reads
 * past any 1xx the agent may still send on the stream.
 */
function passesInterimResponses(account: StreamAccount): boolean {
  return account instanceof AgentConnection && account.capabilities.has(INTERIM_RESPONSES_CAPABILITY);
}

/** A visitor request cleared for forwarding, with its stream open. */
interface Admission {
  kind: 'forward';
  route: Route;
  decision: VisitorAccessGranted;
  account: StreamAccount;
  stream: MuxStream;
  /** Target for the agent: prefix stripped, relay credentials removed from the query. */
  path: string;
}

/** Routes, checks and forwards visitor requests and upgrades. */
export class PublicIngress {
  readonly #o: PublicIngressOptions;
  readonly #logger: Logger;
  readonly #upgraded = new Set<Duplex>();
  #accepting = true;
  #inflight = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: PublicIngressOptions) {
    this.#o = options;
    this.#logger = options.logger;
  }

  /** Requests and upgrades being handled (waiting for an agent or forwarding). */
  get inflightCount(): number {
    return this.#inflight;
  }

  /** Refuses new visitors from now on (503, `ERR_RELAY_SHUTTING_DOWN`). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Resolves once no request or upgrade is in flight. */
  drained(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Destroys every visitor connection still in an upgrade (end of a shutdown grace). */
  destroyUpgrades(): void {
    for (const socket of this.#upgraded) socket.destroy();
    this.#upgraded.clear();
  }

  /** The 'request' handler of a public listener. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.#begin();
    void this.#serveRequest(req, res)
      .catch((err: unknown) => {
        this.#logger.error('visitor request failed', { error: err instanceof Error ? err.message : String(err) });
        sendVisitorError(res, { status: 502, code: 'ERR_RELAY_BAD_GATEWAY', message: 'Internal relay error' }, req.headers.accept);
      })
      .finally(() => this.#end());
  };

  /** The 'upgrade' handler of a public listener (after the agent gateway took its own path). */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node removed its own listeners from an upgrade socket: an unhandled reset would crash the process.
    socket.on('error', () => socket.destroy());
    this.#begin();
    void this.#serveUpgrade(req, socket, head)
      .catch((err: unknown) => {
        this.#logger.error('visitor upgrade failed', { error: err instanceof Error ? err.message : String(err) });
        socket.destroy();
      })
      .finally(() => this.#end());
  };

  async #serveRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedMs = this.#o.clock.now();
    const visitor = new VisitorPresence();
    res.once('close', () => {
      if (!res.writableFinished) visitor.leave();
    });
    const trace: AdmissionTrace = { agent: undefined };
    const admitted = await this.#admit(req, false, visitor, trace);
    if (admitted.kind !== 'forward') {
      this.#refuse(res, req, admitted);
      this.#record(req, trace.agent, startedMs, refusalEnd(admitted), false);
      return;
    }
    const { account, stream, decision, route } = admitted;
    const headers = this.#forwardHeaders(req, route, decision, false);
    const extra: Record<string, string> = decision.setCookie === undefined ? {} : { 'Set-Cookie': decision.setCookie };
    const result = await forwardHttpExchange({
      req,
      res,
      stream,
      path: admitted.path,
      headers,
      responseHeaderTimeoutMs: this.#o.limits.responseHeaderTimeoutMs,
      idleTimeoutMs: this.#o.limits.idleTimeoutMs,
      lingerMs: STREAM_LINGER_MS,
      clock: this.#o.clock,
      errorHeaders: extra,
      responseExtraHeaders: extra,
      filterResponseHeaders: removeRelaySetCookies,
      isShuttingDown: () => !this.#accepting,
      interimResponses: passesInterimResponses(account),
    });
    account.bytesToAgent += result.bytesToAgent;
    account.bytesFromAgent += result.bytesFromAgent;
    this.#record(req, route.agent, startedMs, result, false);
  }

  async #serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const startedMs = this.#o.clock.now();
    const visitor = new VisitorPresence();
    socket.once('close', () => visitor.leave());
    const trace: AdmissionTrace = { agent: undefined };
    const admitted = await this.#admit(req, true, visitor, trace);
    if (admitted.kind !== 'forward') {
      this.#refuse(socket, req, admitted);
      this.#record(req, trace.agent, startedMs, refusalEnd(admitted), true);
      return;
    }
    const { account, stream, decision, route } = admitted;
    this.#upgraded.add(socket);
    try {
      const result = await forwardUpgrade({
        req,
        socket,
        head,
        stream,
        path: admitted.path,
        headers: this.#forwardHeaders(req, route, decision, true),
        clock: this.#o.clock,
        responseHeaderTimeoutMs: this.#o.limits.responseHeaderTimeoutMs,
        lingerMs: UPGRADE_REFUSAL_LINGER_MS,
        filterResponseHeaders: removeRelaySetCookies,
        ...(decision.setCookie === undefined ? {} : { responseExtraHeaders: ['Set-Cookie', decision.setCookie] }),
      });
      account.bytesToAgent += result.bytesToAgent;
      account.bytesFromAgent += result.bytesFromAgent;
      this.#record(req, route.agent, startedMs, {
        status: result.status,
        outcome: result.outcome,
        errorCode: result.errorCode,
        bytesToAgent: result.bytesToAgent,
        bytesFromAgent: result.bytesFromAgent,
      }, true);
    } finally {
      this.#upgraded.delete(socket);
    }
  }

  async #admit(req: IncomingMessage, isUpgrade: boolean, visitor: VisitorPresence, trace: AdmissionTrace): Promise<Admission | Refusal> {
    if (!this.#accepting) return shuttingDown();
    const route = parseRoute({ host: singleHostHeader(req), url: req.url }, { baseDomain: this.#o.baseDomain });
    if (isRouteError(route)) return { kind: 'error', info: { status: route.status, code: route.error, message: route.message } };
    // getPolicy is undefined for an unknown agent, from a cache (no second query per request).
    const policy = this.#o.policies.getPolicy(route.agent);
    if (policy === undefined) return notFound();
    trace.agent = route.agent;
    if (route.via === 'path' && policy.mode !== 'public' && !this.#o.allowPathRouting) {
      // One origin for every agent: a page of another agent could read this one's responses with the visitor's cookie.
      return { kind: 'error', info: { status: 403, code: 'ERR_ROUTE_PATH_ROUTING_DISABLED', message: `This device is served only at ${route.agent}.${this.#o.baseDomain}` } };
    }
    if (route.redirect !== undefined && !isUpgrade) return { kind: 'redirect', status: 308, location: route.redirect };

    const decision = await this.#o.accessChecker.check(
      route.agent,
      {
        headers: req.headers,
        url: req.url ?? '/',
        method: req.method ?? 'GET',
        isTls: this.#isTls(req),
        ...(route.via === 'path' ? { cookiePath: `${route.prefix ?? `/a/${route.agent}`}/` } : {}),
      },
      policy,
    );
    if (!decision.allowed) {
      const headers: Record<string, string> = {};
      if (decision.wwwAuthenticate !== undefined) headers['WWW-Authenticate'] = decision.wwwAuthenticate;
      if (decision.setCookie !== undefined) headers['Set-Cookie'] = decision.setCookie;
      return { kind: 'error', info: { status: decision.status, code: decision.code, message: ACCESS_MESSAGES[decision.code] }, headers };
    }
    if (decision.redirectTo !== undefined) {
      return { kind: 'redirect', status: 303, location: decision.redirectTo, headers: decision.setCookie === undefined ? {} : { 'Set-Cookie': decision.setCookie } };
    }
    let path = route.path;
    for (const param of decision.stripQueryParams) path = removeQueryParam(path, param);

    const opened = await this.#openStream(route.agent, visitor);
    if (opened.kind !== 'forward') return opened;
    return { kind: 'forward', route, decision, account: opened.account, stream: opened.stream, path };
  }

  /**
   * Opens a stream to the agent: on its session here, else (in a cluster)
   * through the peer link to a node that holds it, waiting up to
   * `offlineGraceMs` for a (re)connecting agent wherever it lands. A node
   * that answers `not_here` or `draining`, or cannot be reached, is tried no
   * more for that link's epoch: nothing was sent to the agent, so the next
   * candidate is safe.
   */
  async #openStream(agent: string, visitor: VisitorPresence): Promise<{ kind: 'forward'; account: StreamAccount; stream: MuxStream } | Refusal> {
    const { registry, clock, limits, remoteRouter } = this.#o;
    const deadlineMs = clock.now() + limits.offlineGraceMs;
    const failed = new Set<AgentConnection>();
    const failedRemote = new Set<string>();
    for (;;) {
      if (visitor.gone) return { kind: 'gone' };
      if (!this.#accepting) return shuttingDown();
      const connection = registry.get(agent);
      if (connection !== undefined && !failed.has(connection)) {
        const opening = openAgentStream(connection, limits.maxStreamsPerAgent);
        if (opening.kind === 'busy') return busy();
        if (opening.kind === 'opened') return { kind: 'forward', account: connection, stream: opening.stream };
        // The session is closing (replaced, GoAway, dead): wait for the next one.
        failed.add(connection);
        continue;
      }
      if (remoteRouter !== undefined) {
        for (const link of remoteRouter.remoteLinks(agent)) {
          const key = `${link.nodeId}@${link.epoch}`;
          if (failedRemote.has(key)) continue;
          const opening = await remoteRouter.openRemote(link);
          if (opening.status === 'ok') {
            if (visitor.gone) {
              opening.stream.destroy();
              return { kind: 'gone' };
            }
            opening.stream.on('error', () => {});
            return { kind: 'forward', account: { bytesToAgent: 0, bytesFromAgent: 0 }, stream: opening.stream };
          }
          if (opening.status === 'busy') return busy();
          failedRemote.add(key);
        }
      }
      const remainingMs = deadlineMs - clock.now();
      if (remainingMs <= 0) return { kind: 'error', info: { status: 502, code: 'ERR_RELAY_AGENT_OFFLINE', message: 'The device is offline' } };
      try {
        const waits: Promise<unknown>[] = [registry.waitForAgent(agent, remainingMs, visitor.signal(), failed)];
        if (remoteRouter !== undefined) waits.push(remoteRouter.waitForChange(agent, remainingMs, visitor.signal()));
        await Promise.race(waits);
      } catch {
        return { kind: 'gone' };
      }
    }
  }

  #forwardHeaders(req: IncomingMessage, route: Route, decision: VisitorAccessGranted, isUpgrade: boolean): OutgoingHttpHeaders {
    const withoutCredentials = stripVisitorCredentials(req.headers, decision);
    const endToEnd = removeHopByHopHeaders(withoutCredentials, { keepUpgrade: isUpgrade });
    // `Expect: 100-continue` is end to end (RFC 9110 section 10.1.1): the local service sees it, and
    // forwardHttpExchange sees to the 100. From an HTTP/1.0 visitor it means nothing (the body comes
    // anyway), and the request on the stream is HTTP/1.1: drop it there.
    if (isUpgrade || !expectsContinue(req)) {
      for (const name of Object.keys(endToEnd)) if (name.toLowerCase() === 'expect') delete endToEnd[name];
    }
    const headers = applyForwardedHeaders(endToEnd, {
      remoteAddress: req.socket.remoteAddress,
      proto: this.#o.isTls ? 'https' : 'http',
      host: req.headers.host,
      prefix: route.prefix,
      trustProxy: this.#o.proxyTrust,
    });
    if (!isUpgrade) {
      // A chunked visitor body is re-chunked: Node only chunks some methods by default, and an unframed body must never be sent.
      if (req.headers['transfer-encoding'] !== undefined) {
        headers['transfer-encoding'] = 'chunked';
        // Chunked on the stream too, so the trailers it announces still follow it.
        if (req.headers.trailer !== undefined) headers['trailer'] = req.headers.trailer;
      }
      // Keep Node's HTTP client from closing the stream itself; the forwarder ends it (FIN) after the exchange.
      headers['connection'] = 'keep-alive';
    }
    return headers;
  }

  #isTls(req: IncomingMessage): boolean {
    if (this.#o.isTls) return true;
    if (!this.#o.proxyTrust(req.socket.remoteAddress)) return false;
    const proto = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
    return first === 'https';
  }

  #refuse(target: ServerResponse | Duplex, req: IncomingMessage, refusal: Refusal): void {
    if (refusal.kind === 'gone') {
      if (!('writeHead' in target)) target.destroy();
      return;
    }
    if (refusal.kind === 'redirect') {
      sendVisitorRedirect(target, refusal.status, refusal.location, refusal.headers);
      return;
    }
    sendVisitorError(target, refusal.info, req.headers.accept, refusal.headers);
  }

  /** Writes the access log line and counts the request in the metrics. */
  #record(req: IncomingMessage, agent: string | undefined, startedMs: number, end: RequestEnd, isUpgrade: boolean): void {
    const record: VisitorRequestRecord = {
      agent,
      method: req.method,
      url: req.url ?? '',
      remoteAddress: clientAddress(req, this.#o.proxyTrust),
      status: end.status,
      outcome: end.outcome,
      errorCode: end.errorCode,
      durationMs: this.#o.clock.now() - startedMs,
      responseHeadersMs: end.responseHeadersAtMs === undefined ? undefined : end.responseHeadersAtMs - startedMs,
      bytesToAgent: end.bytesToAgent,
      bytesFromAgent: end.bytesFromAgent,
      isUpgrade,
      error: end.error,
    };
    logVisitorRequest(this.#logger, record);
    this.#o.metrics?.recordRequest(record);
    this.#o.onRequestEnd?.(record);
  }

  #begin(): void {
    this.#inflight += 1;
  }

  #end(): void {
    this.#inflight -= 1;
    if (this.#inflight === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}

/**
 * The Host header, or undefined when there are several: Node keeps only the
 * first, but a request with two is invalid and must get 400 (RFC 9112
 * section 3.2), not be routed by one name while a peer may read the other.
 */
function singleHostHeader(req: IncomingMessage): string | undefined {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if ((req.rawHeaders[i] as string).toLowerCase() === 'host') count += 1;
  return count > 1 ? undefined : req.headers.host;
}

/**
 * Whether the visitor went away. An `AbortSignal` is made only when the
 * request has to wait for an agent: most never do, and a controller and its
 * signal per request cost about 2 % of the relay's CPU per small GET.
 */
class VisitorPresence {
  #gone = false;
  #controller: AbortController | undefined;

  get gone(): boolean {
    return this.#gone;
  }

  leave(): void {
    this.#gone = true;
    this.#controller?.abort();
  }

  signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#gone) this.#controller.abort();
    }
    return this.#controller.signal;
  }
}

function notFound(): Refusal {
  return { kind: 'error', info: { status: 404, code: 'ERR_RELAY_TUNNEL_NOT_FOUND', message: 'No device with this name' } };
}

function shuttingDown(): Refusal {
  return { kind: 'error', info: { status: 503, code: 'ERR_RELAY_SHUTTING_DOWN', message: 'The relay is shutting down', retryAfterS: 5 }, headers: { Connection: 'close' } };
}

function busy(): Refusal {
  return {
    kind: 'error',
    info: { status: 503, code: 'ERR_RELAY_AGENT_BUSY', message: 'The device has too many requests in progress', retryAfterS: 1 },
  };
}

function refusalEnd(refusal: Refusal): RequestEnd {
  const base = { errorCode: undefined, bytesToAgent: 0, bytesFromAgent: 0 };
  if (refusal.kind === 'gone') return { ...base, status: undefined, outcome: 'visitor-gone' };
  if (refusal.kind === 'redirect') return { ...base, status: refusal.status, outcome: 'refused' };
  return { ...base, status: refusal.info.status, outcome: 'refused', errorCode: refusal.info.code };
}
