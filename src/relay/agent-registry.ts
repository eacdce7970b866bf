/**
 * Which agent is reachable through which yamux session. Newest wins: a second
 * session for an agent replaces the first, which gets GoAway and a grace
 * period for its in-flight streams. Removal is idempotent and by identity, so
 * an old session closing late never unregisters its replacement.
 *
 * Events:
 * - `'connect'` (connection: AgentConnection, replaced: AgentConnection | undefined)
 * - `'disconnect'` (connection: AgentConnection, err: Error | undefined): once per
 *   connection, when its session ended (replaced ones included).
 */
import { EventEmitter } from 'node:events';
import type { Session } from '../mux/index.js';
import { onAbort, throwIfAborted } from '../shared/abort.js';
import { systemClock, type Clock, type TimerHandle } from '../shared/clock.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { requireInt } from '../shared/validate.js';

/** What the gateway knows about an agent when its session starts. */
export interface AgentConnectionInit {
  agentName: string;
  /** Id of the token it authenticated with (revoking it ends this session). */
  tokenId: string;
  /** Address of the agent (after trusted-proxy resolution). */
  remoteAddress: string;
  /** Version the agent announced in its connect request, if any. */
  agentVersion?: string | undefined;
  /** The agent process's random instance id (`X-Tunnel-Agent-Instance`; Go agents send none). */
  instanceId?: string | undefined;
  /** Which of the agent's links this session is (`X-Tunnel-Link`; 0 when absent). */
  linkIndex?: number;
  /** Capability tokens the agent announced (`X-Tunnel-Capabilities`); none for a Go agent. */
  capabilities?: ReadonlySet<string>;
  session: Session;
  /** Wall-clock ms since the Unix epoch. */
  connectedAtMs: number;
}

let nextConnectionId = 1;

/** One agent session, live or draining after being replaced, with its counters. */
export class AgentConnection {
  /** Process-unique id, for logs and the admin API. */
  readonly id: number;
  readonly agentName: string;
  readonly tokenId: string;
  readonly remoteAddress: string;
  readonly agentVersion: string | undefined;
  readonly instanceId: string | undefined;
  readonly linkIndex: number;
  /** Capability tokens the agent announced; a feature is used only if the relay has it too. */
  readonly capabilities: ReadonlySet<string>;
  readonly session: Session;
  readonly connectedAtMs: number;
  /** In a cluster: its epoch in the session directory, once published (newest wins across nodes). */
  epoch: number | undefined;
  /** Visitor streams currently open on this session (requests and upgrades). */
  activeStreams = 0;
  /** Visitor requests (and upgrades) forwarded through this session. */
  requestsForwarded = 0;
  /** Bytes sent to the agent (request bodies, upgrade traffic). */
  bytesToAgent = 0;
  /** Bytes received from the agent (response bodies, upgrade traffic). */
  bytesFromAgent = 0;
  #replaced = false;

  constructor(init: AgentConnectionInit) {
    this.id = nextConnectionId++;
    this.agentName = init.agentName;
    this.tokenId = init.tokenId;
    this.remoteAddress = init.remoteAddress;
    this.agentVersion = init.agentVersion;
    this.instanceId = init.instanceId;
    this.linkIndex = init.linkIndex ?? 0;
    this.capabilities = init.capabilities ?? new Set();
    this.session = init.session;
    this.connectedAtMs = init.connectedAtMs;
  }

  /** Round-trip time of the last keepalive ping, in milliseconds. */
  get rttMs(): number | undefined {
    return this.session.lastRttMs;
  }

  /** True once a newer session of the same agent took over. */
  get isReplaced(): boolean {
    return this.#replaced;
  }

  /** True while visitor streams may be opened on it: not closed, not replaced, no GoAway either way. */
  get isUsable(): boolean {
    return !this.#replaced && !this.session.isClosed && this.session.remoteGoAwayCode === null && !this.session.isGoingAway;
  }

  /** @internal */
  markReplaced(): void {
    this.#replaced = true;
  }
}

/** Options of `AgentRegistry`; every field optional. */
export interface AgentRegistryOptions {
  /** How long a replaced session may finish its in-flight streams (ms, default 30000). */
  replacedSessionGraceMs?: number;
  logger?: Logger;
  clock?: Clock;
}

interface Waiter {
  resolve: (connection: AgentConnection | undefined) => void;
  /** Connections this waiter does not want (they failed it already). */
  exclude: ReadonlySet<AgentConnection> | undefined;
}

/** Agent name -> current session, plus every session still draining. */
export class AgentRegistry extends EventEmitter {
  readonly #current = new Map<string, AgentConnection>();
  readonly #all = new Set<AgentConnection>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #replacedSessionGraceMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #closed = false;

  constructor(options: AgentRegistryOptions = {}) {
    super();
    this.#replacedSessionGraceMs = requireInt('replacedSessionGraceMs', options.replacedSessionGraceMs ?? 30_000, 0);
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;
  }

  /** Number of agents with a current session. */
  get size(): number {
    return this.#current.size;
  }

  /**
   * Makes `connection` the agent's current session. A previous session of the
   * same agent gets GoAway and `replacedSessionGraceMs` to finish its streams.
   * The connection is unregistered by itself when its session closes. Once
   * the registry is closed, the session is closed at once instead.
   */
  register(connection: AgentConnection): void {
    if (this.#closed) {
      void connection.session.close({ graceMs: 0 });
      return;
    }
    const previous = this.#current.get(connection.agentName);
    this.#current.set(connection.agentName, connection);
    this.#all.add(connection);
    connection.session.once('close', (err: Error | undefined) => this.unregister(connection, err));
    if (connection.session.isClosed) {
      this.unregister(connection, connection.session.closeReason);
      return;
    }
    if (previous !== undefined && previous !== connection) {
      previous.markReplaced();
      this.#logger.info('agent session replaced by a newer one', {
        agent: connection.agentName,
        connectionId: previous.id,
        newConnectionId: connection.id,
      });
      void previous.session.close({ graceMs: this.#replacedSessionGraceMs });
    }
    this.emit('connect', connection, previous);
    this.#wake(connection.agentName, connection);
  }

  /**
   * Forgets `connection`. Idempotent, and by identity: it never removes a
   * newer session of the same agent. Returns true the first time.
   */
  unregister(connection: AgentConnection, err?: Error): boolean {
    if (!this.#all.delete(connection)) return false;
    if (this.#current.get(connection.agentName) === connection) this.#current.delete(connection.agentName);
    this.emit('disconnect', connection, err);
    return true;
  }

  /** The agent's current session if visitor streams can be opened on it. */
  get(agentName: string): AgentConnection | undefined {
    const connection = this.#current.get(agentName);
    return connection !== undefined && connection.isUsable ? connection : undefined;
  }

  /** Every current session, one per agent. */
  list(): AgentConnection[] {
    return [...this.#current.values()];
  }

  /** Every session, current and draining. */
  connections(): AgentConnection[] {
    return [...this.#all];
  }

  /**
   * The agent's usable session, waiting up to `timeoutMs` for one to register
   * (one not in `exclude`). Resolves undefined on timeout or once the
   * registry is closed; rejects with `AbortError` when `signal` aborts.
   */
  waitForAgent(agentName: string, timeoutMs: number, signal?: AbortSignal, exclude?: ReadonlySet<AgentConnection>): Promise<AgentConnection | undefined> {
    throwIfAborted(signal);
    let now = this.get(agentName);
    if (now !== undefined && exclude?.has(now) === true) now = undefined;
    if (now !== undefined || this.#closed || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      let set = this.#waiters.get(agentName);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(agentName, set);
      }
      const waiters = set;
      const finish = (): void => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.#waiters.get(agentName) === waiters) this.#waiters.delete(agentName);
        this.#clock.clearTimeout(timer);
        removeAbort();
      };
      const waiter: Waiter = {
        resolve: (connection) => {
          finish();
          resolve(connection);
        },
        exclude,
      };
      const removeAbort = onAbort(signal, (err) => {
        finish();
        reject(err);
      });
      const timer: TimerHandle = this.#clock.setTimeout(() => waiter.resolve(undefined), timeoutMs);
      timer.unref?.();
      waiters.add(waiter);
    });
  }

  /** Wakes every waiter (they get undefined) and refuses registrations from now on. Does not close sessions. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.resolve(undefined);
    this.#waiters.clear();
  }

  #wake(agentName: string, connection: AgentConnection): void {
    const set = this.#waiters.get(agentName);
    if (set === undefined) return;
    for (const w of [...set]) if (w.exclude?.has(connection) !== true) w.resolve(connection);
  }
}
