/**
 * Wraps the agent's tunnel client(s) and projects their hooks onto a
 * `ConnectionStatus` (the Go agent's Manager): `connecting` until the first
 * session is up, `online`, `reconnecting` after a session or dial was lost,
 * `stopped`.
 *
 * HA links: with `links` > 1 the manager runs one client per link, all of
 * one agent instance (a shared instance id), link `i` starting at relay URL
 * `i`; each relay node refuses a second link of the agent, so the links land
 * on different nodes. The manager is online while any link is; `status()`
 * keeps its single-link fields (from the link that decides the state) and
 * lists every link under `links`. `links: 'auto'` (the default) runs two
 * links when there are two or more relay URLs, or when the first link's
 * relay answers as a cluster node (`X-Tunnel-Node`), else one.
 *
 * Events: `'state'` (status: ConnectionStatus) on every change of the
 * connection fields (state, attempt, lastError, nextRetryAt, links).
 * Counters change without an event; read them with `status()`.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ConfigError } from '../shared/errors.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { noopLogger } from '../shared/logger.js';
import type { ConnectionState, ConnectionStatus } from './connection-status.js';
import { LinkTracker, type ManagedTunnelClient } from './link-tracker.js';
import type { TunnelClientOptions } from './tunnel-client-config.js';
import type { LocalRequestRecord } from './local-forwarder.js';
import { combineHooks, type TunnelClientHooks } from './tunnel-client-hooks.js';
import { TunnelClient } from './tunnel-client.js';

export type { ManagedTunnelClient } from './link-tracker.js';

/** Most HA links one agent may hold. */
export const MAX_AGENT_LINKS = 8;

/** `links: 'auto'` on one relay URL drops its second link after this many refusals in a row from the node of the first. */
export const AUTO_LINK_GIVE_UP_REFUSALS = 5;

/** Options of a `TunnelManager`: the client's, the number of links, and a factory for tests. */
export interface TunnelManagerOptions extends TunnelClientOptions {
  /** HA links held at once, each on another relay node: 1-8, or `'auto'` (default). */
  links?: number | 'auto';
  /** Builds a client from the options with the manager's hooks merged in (default: `new TunnelClient`). */
  createClient?: (options: TunnelClientOptions) => ManagedTunnelClient;
}

/** A listener of status changes. */
export type ConnectionStatusListener = (status: ConnectionStatus) => void;

/** The agent's tunnel client(s) plus their observable connection state. */
export class TunnelManager extends EventEmitter {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #links: LinkTracker[] = [];
  readonly #createLink: (index: number) => LinkTracker;
  readonly #autoLinks: boolean;
  readonly #relayCount: number;
  /** `'auto'` gave up its second link: the one relay URL reaches one node only. */
  #autoLinkDropped = false;
  #state: ConnectionState = 'idle';
  #since: number;
  #requestsServed = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #activeStreams = 0;
  #publicUrl: string | undefined;
  #gaveUp: Error | null = null;
  #onGaveUp: Array<(err: Error) => void> = [];
  #started = false;
  #stopping: Promise<void> | null = null;

  /** Builds the client(s) (throws `ConfigError` for bad options); nothing is dialed until `start()`. */
  constructor(options: TunnelManagerOptions) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'tunnel-manager' });
    this.#since = this.#clock.now();
    const { createClient, links = 'auto', ...clientOptions } = options;
    if (links !== 'auto' && (!Number.isInteger(links) || links < 1 || links > MAX_AGENT_LINKS)) {
      throw new ConfigError('links', `must be 'auto' or an integer from 1 to ${MAX_AGENT_LINKS}`, links);
    }
    this.#autoLinks = links === 'auto';
    const relayCount = 1 + (options.moreRelayUrls?.length ?? 0);
    this.#relayCount = relayCount;
    const initial = links === 'auto' ? (relayCount >= 2 ? 2 : 1) : links;
    const instanceId = options.instanceId ?? randomBytes(12).toString('base64url');
    const factory = createClient ?? ((o: TunnelClientOptions) => new TunnelClient(o));
    this.#createLink = (index) => {
      const link = new LinkTracker(index, this.#clock, () => this.#update());
      const hooks = combineHooks(this.#logger, this.#counterHooks(link), link.hooks(), options.hooks);
      link.client = factory({ ...clientOptions, hooks, instanceId, ...(index === 0 ? {} : { linkIndex: index }) });
      return link;
    };
    for (let i = 0; i < initial; i++) this.#links.push(this.#createLink(i));
  }

  /** The first link's client. */
  get client(): ManagedTunnelClient {
    return (this.#links[0] as LinkTracker).client;
  }

  /** Every link's client, link 0 first. */
  get clients(): readonly ManagedTunnelClient[] {
    return this.#links.map((l) => l.client);
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Starts the client(s); a second call, or one after `stop()`, does nothing. */
  start(): void {
    if (this.#started || this.#stopping !== null) return;
    this.#started = true;
    for (const l of this.#links) l.client.start();
  }

  /** Stops every client and enters `stopped` once they have stopped. Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    for (const l of this.#links) l.markStopping();
    this.#stopping = Promise.all(this.#links.map((l) => l.client.stop()))
      .then(() => undefined)
      .finally(() => {
        this.#activeStreams = 0;
        for (const l of this.#links) l.markStopped();
      });
    return this.#stopping;
  }

  /**
   * Resolves with the last refusal once a link gave up (after `maxRefusals`
   * identical ones: a token or path that no retry fixes; every link is then
   * stopped, the state is `stopped`); stays pending otherwise.
   */
  whenGaveUp(): Promise<Error> {
    if (this.#gaveUp !== null) return Promise.resolve(this.#gaveUp);
    return new Promise((resolve) => this.#onGaveUp.push(resolve));
  }

  /** The connection and its counters, as plain JSON. */
  status(): ConnectionStatus {
    const lead = this.#lead();
    const rtt = lead.client.lastRttMs;
    return {
      state: this.#state,
      attempt: lead.attempt,
      lastError: lead.lastError === null ? null : { ...lead.lastError },
      nextRetryAt: lead.nextRetryAt,
      since: this.#since,
      lastPingRttMs: typeof rtt === 'number' ? rtt : null,
      requestsServed: this.#requestsServed,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      activeStreams: this.#activeStreams,
      ...(this.#publicUrl === undefined ? {} : { publicUrl: this.#publicUrl }),
      links: this.#links.map((l) => l.status()),
    };
  }

  /** Calls `listener` with the status after every change; returns the function that unsubscribes it. */
  subscribe(listener: ConnectionStatusListener): () => void {
    const guarded = (status: ConnectionStatus): void => {
      try {
        listener(status);
      } catch (err) {
        this.#logger.warn('status listener failed', { error: err instanceof Error ? err.message : String(err) });
      }
    };
    this.on('state', guarded);
    return () => {
      this.off('state', guarded);
    };
  }

  /** The link whose state is the manager's: the first online one, else the first in the manager's state. */
  #lead(): LinkTracker {
    return this.#links.find((l) => l.state === this.#state) ?? (this.#links[0] as LinkTracker);
  }

  /** The manager's state from its links': online while any link is. */
  #aggregate(): ConnectionState {
    const states = this.#links.map((l) => l.state);
    if (this.#stopping !== null && states.every((s) => s === 'stopped')) return 'stopped';
    for (const s of ['online', 'reconnecting', 'connecting'] as const) if (states.includes(s)) return s;
    return states.includes('stopped') ? 'stopped' : 'idle';
  }

  #update(): void {
    const state = this.#aggregate();
    if (state !== this.#state) {
      this.#state = state;
      this.#since = this.#clock.now();
    }
    this.#maybeAddLink();
    this.#maybeDropLink();
    this.emit('state', this.status());
  }

  /** `links: 'auto'` on one relay URL: a cluster node's answer adds the second link. */
  #maybeAddLink(): void {
    if (!this.#autoLinks || this.#autoLinkDropped || this.#links.length !== 1 || this.#stopping !== null) return;
    const first = this.#links[0] as LinkTracker;
    if (first.state !== 'online' || first.node === null) return;
    this.#logger.info('the relay is a cluster node: adding a second link on another node', { node: first.node });
    const link = this.#createLink(1);
    this.#links.push(link);
    if (this.#started) link.client.start();
  }

  /**
   * `links: 'auto'` with one relay URL that always lands on the node holding
   * link 0 (a node's own URL, no load balancer in front): one link it is.
   */
  #maybeDropLink(): void {
    if (!this.#autoLinks || this.#relayCount !== 1 || this.#links.length !== 2 || this.#stopping !== null) return;
    const second = this.#links[1] as LinkTracker;
    if (second.sameNodeRefusals < AUTO_LINK_GIVE_UP_REFUSALS) return;
    this.#links.pop();
    this.#autoLinkDropped = true;
    second.markStopping();
    void second.client.stop();
    this.#logger.warn('the relay URL reaches one node only (no load balancer in front?): holding one link; give two --relay URLs, or --links 2 to insist', {
      refusals: second.sameNodeRefusals,
    });
  }

  #counterHooks(link: LinkTracker): TunnelClientHooks {
    return {
      onSessionUp: () => {
        // Kept after the session ends: still where visitors will find the agent once it is back.
        this.#publicUrl = link.client.publicUrl ?? this.#publicUrl;
      },
      onGaveUp: (err) => {
        // The links share the token and the path: what one was refused, all are.
        this.#gaveUp ??= err;
        void this.stop();
        for (const resolve of this.#onGaveUp.splice(0)) resolve(err);
      },
      onStreamOpened: () => {
        this.#activeStreams += 1;
      },
      onStreamClosed: () => {
        this.#activeStreams = Math.max(0, this.#activeStreams - 1);
      },
      onRequest: (record: LocalRequestRecord) => {
        this.#requestsServed += 1;
        this.#bytesIn += record.bytesIn;
        this.#bytesOut += record.bytesOut;
      },
    };
  }
}
