/**
 * The agent's tunnel client (Go `tunnel.Client`): dials the relay over a
 * WebSocket, runs a yamux client session over it, and forwards every stream
 * the relay opens to the local service; redials with backoff when the
 * session ends. Unlike the Go client: no reconnect storm, a handshake
 * timeout, idempotent `start()`/`stop()`, `onSessionDown` with the real
 * cause, and `stop()` that waits for the close frame and the local
 * connections.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AGENT_INSTANCE_HEADER, AGENT_LINK_HEADER, AGENT_PUBLIC_URL_HEADER, CAPABILITIES_HEADER, INTERIM_RESPONSES_CAPABILITY, parseCapabilities } from '../http/tunnel-headers.js';
import { toAbortError } from '../shared/abort.js';
import type { Logger } from '../shared/logger.js';
import { GoAwayCode, GoAwayError, KeepAliveTimeoutError, MuxProtocolError, Session, type MuxStream } from '../mux/index.js';
import { dialWebSocket, HandshakeRejectedError, redactUrl, type WebSocketDuplex } from '../transport/index.js';
import { buildConnectHeaders, buildConnectUrl, TUNNEL_CONNECT_PATH } from './connect-url.js';
import { AgentAuthRejectedError, AgentEndpointNotFoundError, RelayDisconnectedError, RelayElsewhereError, RelayMovedError } from './errors.js';
import { LocalForwarder, type LocalStreamOptions } from './local-forwarder.js';
import { ReconnectLoop, type LoopConnection } from './reconnect-loop.js';
import { resolveTunnelClientConfig, type TunnelClientConfig, type TunnelClientOptions } from './tunnel-client-config.js';
import { callHook, type TunnelClientHooks } from './tunnel-client-hooks.js';

/** HTTP statuses of a refused upgrade that mean "this token is not accepted". */
const AUTH_REJECTED_STATUSES: ReadonlySet<number> = new Set([401, 403]);

/** Refusal codes of our relay that send a link to another node. */
const ELSEWHERE_CODES: ReadonlySet<string> = new Set(['ERR_RELAY_DRAINING', 'ERR_RELAY_LINK_ON_THIS_NODE']);

/** Keeps one agent connected to a relay and serves the relay's streams from the local service. */
export class TunnelClient {
  /** The validated configuration. */
  readonly config: Readonly<TunnelClientConfig>;
  readonly #logger: Logger;
  readonly #hooks: TunnelClientHooks;
  readonly #loop: ReconnectLoop;
  #forwarder: LocalForwarder | null = null;
  #session: Session | null = null;
  #relayHeaders: Readonly<IncomingHttpHeaders> | null = null;
  /** Index into `config.relayUrls` of the next dial; moves on after each failed dial and each ended session. */
  #nextRelay: number;
  /** Random per instance (shared by its links): tells the relay a restart from a second link of the same agent. */
  readonly #instanceId: string;
  #activeStreams = 0;
  #started = false;
  #stopping: Promise<void> | null = null;

  /** Validates `options` (throws `ConfigError` naming the field); does not dial until `start()`. */
  constructor(options: TunnelClientOptions) {
    this.config = resolveTunnelClientConfig(options);
    const c = this.config;
    this.#instanceId = c.instanceId ?? randomBytes(12).toString('base64url');
    this.#nextRelay = c.linkIndex % c.relayUrls.length;
    this.#logger = c.logger.child({ component: 'tunnel-client', ...(c.linkIndex === 0 ? {} : { link: c.linkIndex }) });
    this.#hooks = c.hooks;
    this.#loop = new ReconnectLoop({
      connect: (attempt, signal) => this.#connect(attempt, signal),
      hooks: c.hooks,
      logger: this.#logger,
      clock: c.clock,
      random: c.random,
      jitterRatio: c.jitterRatio,
      backoffInitialMs: c.backoffInitialMs,
      backoffMaxMs: c.backoffMaxMs,
      stabilityThresholdMs: c.stabilityThresholdMs,
      authFailureCapAfter: c.authFailureCapAfter,
      maxRefusals: c.maxRefusals,
    });
  }

  /** The running yamux session, or null while not connected (diagnostics: `ping()`, `streamCount`). */
  get session(): Session | null {
    return this.#session;
  }

  /**
   * Headers of the relay's `101` for the current session (lower-case names;
   * our relay adds `x-tunnel-relay-version` and other optional `x-tunnel-*`
   * headers, the Go relay none), or null while not connected.
   */
  get relayHeaders(): Readonly<IncomingHttpHeaders> | null {
    return this.#session === null ? null : this.#relayHeaders;
  }

  /**
   * The URL visitors reach this agent at, as the relay announced it on the
   * current session's `101` (`X-Tunnel-Public-Url`, an http(s) URL), or
   * undefined (not connected, or a relay that does not say: the Go one).
   */
  get publicUrl(): string | undefined {
    const value = this.relayHeaders?.[AGENT_PUBLIC_URL_HEADER.toLowerCase()];
    return typeof value === 'string' ? parsePublicUrl(value) : undefined;
  }

  /** Round-trip time of the last answered keepalive ping of the current session, in milliseconds. */
  get lastRttMs(): number | undefined {
    return this.#session?.lastRttMs;
  }

  /** Streams from the relay currently being served. */
  get activeStreams(): number {
    return this.#activeStreams;
  }

  /** True once `start()` was called. */
  get isStarted(): boolean {
    return this.#started;
  }

  /** The refusal the client gave up on after `maxRefusals` identical ones (it dials no more), else null. */
  get gaveUp(): Error | null {
    return this.#loop.gaveUp;
  }

  /** True once `stop()` was called. */
  get isStopped(): boolean {
    return this.#stopping !== null;
  }

  /** Starts dialing in the background. A second call, or a call after `stop()`, does nothing. */
  start(): void {
    if (this.#started || this.#stopping !== null) return;
    this.#started = true;
    const c = this.config;
    this.#forwarder = new LocalForwarder({
      localAddr: c.localAddr,
      hostHeader: c.hostHeader,
      logger: c.logger.child({ component: 'local-forwarder' }),
      clock: c.clock,
      onRequest: (record) => callHook(this.#hooks, 'onRequest', this.#logger, record),
      recordRequestBodyBytes: c.recordRequestBodyBytes,
    });
    this.#logger.info('tunnel client starting', { relayUrl: redactUrl(c.relayUrl), localAddr: c.localAddr });
    this.#loop.start();
  }

  /**
   * Stops: aborts a dial in flight at once, closes the session (GoAway, then
   * the WebSocket close handshake, waited for up to `writeTimeoutMs`), and
   * resolves once every local connection is closed. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = (async () => {
      await this.#loop.stop();
      await this.#forwarder?.close();
      if (this.#started) this.#logger.info('tunnel client stopped');
    })();
    return this.#stopping;
  }

  /** The random id this agent instance sends on every connect request (`X-Tunnel-Agent-Instance`). */
  get instanceId(): string {
    return this.#instanceId;
  }

  /** The relay URL the next dial goes to (or the current session's). */
  get currentRelayUrl(): string {
    return this.config.relayUrls[this.#nextRelay % this.config.relayUrls.length] as string;
  }

  async #connect(attempt: number, signal: AbortSignal): Promise<LoopConnection> {
    const c = this.config;
    const relayUrl = this.currentRelayUrl;
    const advance = (): void => {
      if (c.relayUrls.length > 1) this.#nextRelay = (this.#nextRelay + 1) % c.relayUrls.length;
    };
    const url = buildConnectUrl(relayUrl, c.token);
    this.#logger.info('connecting to relay', { url: redactUrl(url), attempt });
    let duplex: WebSocketDuplex;
    try {
      duplex = await dialWebSocket(url, {
        headers: {
          ...buildConnectHeaders(c.token, c.agentVersion),
          [AGENT_INSTANCE_HEADER]: this.#instanceId,
          ...(c.linkIndex === 0 ? {} : { [AGENT_LINK_HEADER]: String(c.linkIndex) }),
        },
        handshakeTimeoutMs: c.handshakeTimeoutMs,
        signal,
        ca: c.ca,
        logger: this.#logger,
        clock: c.clock,
      });
    } catch (err) {
      advance();
      if (err instanceof HandshakeRejectedError && AUTH_REJECTED_STATUSES.has(err.statusCode)) {
        throw new AgentAuthRejectedError(err.statusCode, { cause: err });
      }
      if (err instanceof HandshakeRejectedError && err.statusCode === 404) {
        throw new AgentEndpointNotFoundError(404, url.pathname, TUNNEL_CONNECT_PATH, { cause: err });
      }
      const refusal = err instanceof HandshakeRejectedError && err.statusCode === 503 ? refusalCode(err.body) : undefined;
      if (refusal !== undefined && ELSEWHERE_CODES.has(refusal)) throw new RelayElsewhereError(refusal, { cause: err });
      throw err;
    }
    if (signal.aborted) {
      await duplex.closeGracefully({ timeoutMs: c.writeTimeoutMs });
      throw toAbortError(signal);
    }
    let session: Session;
    try {
      session = new Session(duplex, {
        role: 'client',
        maxStreamWindowBytes: c.maxStreamWindowBytes,
        maxStreams: c.maxStreams,
        keepAliveIntervalMs: c.keepAliveIntervalMs,
        keepAliveTimeoutMs: c.keepAliveTimeoutMs,
        logger: this.#logger.child({ component: 'mux' }),
        clock: c.clock,
      });
    } catch (err) {
      duplex.destroy();
      throw err;
    }
    // Interim responses travel on this session's streams only if the relay named them too (the Go relay never does).
    const relayCapabilities = parseCapabilities(duplex.upgradeHeaders[CAPABILITIES_HEADER.toLowerCase()]);
    const streamOptions = { interimResponses: relayCapabilities.has(INTERIM_RESPONSES_CAPABILITY) };
    session.on('stream', (stream: MuxStream) => this.#onStream(stream, streamOptions));
    this.#session = session;
    this.#relayHeaders = duplex.upgradeHeaders;
    this.#logger.info('connected to relay', { url: redactUrl(url) });

    // GoAway(normal) on a running session: the node drains or hands this link over. The loop dials the
    // replacement at once (the next relay URL, or another node behind the balancer) while this one drains.
    let advanced = false;
    const advanceOnce = (): void => {
      if (advanced) return;
      advanced = true;
      advance();
    };
    const released = new Promise<Error>((resolve) => {
      session.on('goaway', (code: number) => {
        if (code !== GoAwayCode.Normal) return;
        advanceOnce();
        this.#logger.info('relay asked this link to move', { url: redactUrl(url) });
        resolve(new RelayMovedError());
      });
    });
    const closed = session.closed.then(async (err) => {
      // The relay (node) this session was on may be gone: the next dial goes to the next one.
      advanceOnce();
      const cause = await this.#sessionEndCause(err, duplex);
      if (this.#session === session) this.#session = null;
      if (cause !== undefined) this.#logger.warn('session ended', { code: (cause as { code?: unknown }).code, error: cause.message });
      return cause;
    });
    let closing: Promise<void> | null = null;
    return {
      closed,
      released,
      close: () =>
        (closing ??= (async () => {
          await session.close({ graceMs: c.stopGraceMs });
          await duplex.closeGracefully({ timeoutMs: c.writeTimeoutMs });
          await closed;
        })()),
    };
  }

  /** The link index of this client among the agent's HA links. */
  get linkIndex(): number {
    return this.config.linkIndex;
  }

  /** The session's end as the hooks report it: keepalive, GoAway and protocol errors as they are, transport ends with their close code. */
  async #sessionEndCause(err: Error | undefined, duplex: WebSocketDuplex): Promise<Error | undefined> {
    if (err === undefined) return undefined;
    if (err instanceof KeepAliveTimeoutError || err instanceof GoAwayError || err instanceof MuxProtocolError) return err;
    if (duplex.closeCode === undefined) await this.#waitForWebSocketClose(duplex);
    return new RelayDisconnectedError(duplex.closeCode, duplex.closeReason, { cause: err });
  }

  /** The transport was destroyed; its socket's 'close' (which carries the close code) follows shortly. */
  #waitForWebSocketClose(duplex: WebSocketDuplex): Promise<void> {
    const ws = duplex.webSocket;
    const clock = this.config.clock;
    return new Promise((resolve) => {
      const done = (): void => {
        ws.off('close', done);
        clock.clearTimeout(timer);
        resolve();
      };
      const timer = clock.setTimeout(done, this.config.writeTimeoutMs);
      ws.once('close', done);
      if (duplex.closeCode !== undefined || ws.readyState === ws.CLOSED) done();
    });
  }

  #onStream(stream: MuxStream, options: LocalStreamOptions): void {
    this.#activeStreams += 1;
    callHook(this.#hooks, 'onStreamOpened', this.#logger, this.#activeStreams);
    stream.once('close', () => {
      this.#activeStreams -= 1;
      callHook(this.#hooks, 'onStreamClosed', this.#logger, this.#activeStreams);
    });
    // The forwarder handles stream errors; this listener only keeps a late one from crashing the process.
    stream.on('error', (err: Error) => this.#logger.debug('stream error', { streamId: stream.id, error: err.message }));
    const forwarder = this.#forwarder;
    if (forwarder === null) {
      stream.destroy();
      return;
    }
    try {
      forwarder.handle(stream, options);
    } catch (err) {
      this.#logger.warn('forwarding a stream failed', { streamId: stream.id, error: err instanceof Error ? err.message : String(err) });
      stream.destroy();
    }
  }
}

/** The `error.code` of our relay's JSON refusal body, if it is one. */
function refusalCode(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
  } catch {
    return undefined;
  }
}

/** Longest public URL taken from the relay, in characters. */
const MAX_PUBLIC_URL_LENGTH = 2048;

/** `value` as an http(s) URL (normalised, so no control character reaches a terminal), or undefined. */
function parsePublicUrl(value: string): string | undefined {
  if (value.length > MAX_PUBLIC_URL_LENGTH || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}
