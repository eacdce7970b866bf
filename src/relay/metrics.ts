/**
 * Prometheus metrics of one relay, in a `prom-client` registry of its own
 * (never the global one, so two relays in a process do not mix).
 *
 * Hot-path cost: a visitor request adds to plain numbers in a per-agent
 * record (one `Map` lookup) and two label-less histogram observations;
 * label sets are built only at scrape time, for series that changed.
 * Gauges (agents online, streams open, RTT) are read from the agent
 * registry when scraped. Label cardinality is bounded: `agent` only takes
 * names of agents known to the token store (at most `maxAgentSeries`, then
 * `_other`), empty for requests that named no known agent; `status_class`
 * is `1xx`..`5xx`, `none` or `other`; `code` is a tunnel error code or empty.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TunnelErrorCode } from '../shared/errors.js';
import { requireInt } from '../shared/validate.js';
import type { VisitorRequestRecord } from './access-log.js';
import type { AgentConnection, AgentRegistry } from './agent-registry.js';

/** Prefix of every relay metric name. */
export const RELAY_METRICS_PREFIX = 'visiona_tunnel_relay_';

/** Why an authentication failed (`auth_failures_total{reason}`). */
export type AuthFailureReason =
  | 'agent_token_missing'
  | 'agent_token_invalid'
  | 'agent_rate_limited'
  | 'admin_token_missing'
  | 'admin_token_invalid'
  | 'admin_rate_limited';

/** Why an agent session ended (`agent_sessions_closed_total{reason}`). */
export type SessionCloseReason = 'replaced' | 'closed_by_relay' | 'keepalive_timeout' | 'agent_goaway' | 'transport_closed' | 'protocol_error' | 'error';

/** Options of `RelayMetrics`. */
export interface RelayMetricsOptions {
  /** Live agent sessions: gauges read it at scrape time, session counters follow its events. */
  registry: AgentRegistry;
  /** Adds Node.js process metrics (CPU, memory, event loop lag, handles) with prefix `visiona_tunnel_`. Default false. */
  processMetrics?: boolean;
  /** Distinct `agent` label values kept at most (default 10000); further agents are counted as `_other`. */
  maxAgentSeries?: number;
}

/** Default of `RelayMetricsOptions.maxAgentSeries`. */
export const DEFAULT_MAX_AGENT_SERIES = 10_000;

/** `agent` label of agents beyond `maxAgentSeries` (agent names cannot start with `_`). */
export const OVERFLOW_AGENT_LABEL = '_other';

/** Upper bounds of the latency histograms, in seconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
]);

/** `status_class` values, indexed by `statusClassIndex()`. */
const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const STATUS_CLASS_BITS = 3;
/** Distinct `code` values kept (tunnel codes are a closed set; this only guards against misuse). */
const MAX_CODES = 128;

/** Counts of one agent label value, accumulated between scrapes. */
class AgentSeries {
  /** Request counts by `statusClassIndex | codeIndex << 3`, since the last scrape. */
  readonly pendingRequests = new Map<number, number>();
  pendingBytesToAgent = 0;
  pendingBytesFromAgent = 0;
  pendingReconnects = 0;
  isDirty = false;

  constructor(readonly agent: string) {}
}

function statusClassIndex(status: number | undefined): number {
  if (status === undefined) return 0;
  const hundreds = Math.floor(status / 100);
  return hundreds >= 1 && hundreds <= 5 ? hundreds : 6;
}

function sessionCloseReason(connection: AgentConnection, err: Error | undefined): SessionCloseReason {
  if (connection.isReplaced) return 'replaced';
  if (err === undefined) return 'closed_by_relay';
  switch ((err as { code?: unknown }).code) {
    case 'ERR_MUX_KEEPALIVE_TIMEOUT':
      return 'keepalive_timeout';
    case 'ERR_MUX_GO_AWAY':
      return 'agent_goaway';
    case 'ERR_TRANSPORT_CLOSED':
      return 'transport_closed';
    case 'ERR_MUX_PROTOCOL':
      return 'protocol_error';
    default:
      return 'error';
  }
}

/** The metrics of one relay; `text()` renders them for a Prometheus scrape. */
export class RelayMetrics {
  /** The registry holding every metric of this relay (never prom-client's global one). */
  readonly promRegistry: Registry;
  readonly #agents: AgentRegistry;
  readonly #maxAgentSeries: number;
  readonly #series = new Map<string, AgentSeries>();
  readonly #unrouted = new AgentSeries('');
  readonly #overflow = new AgentSeries(OVERFLOW_AGENT_LABEL);
  readonly #codeIndex = new Map<string, number>([['', 0]]);
  readonly #codes: string[] = [''];
  /** Agents that had a session in this process, for the reconnect count. */
  readonly #seenAgents = new Set<string>();
  readonly #requests: Counter<'agent' | 'status_class' | 'code'>;
  readonly #bytesToAgent: Counter<'agent'>;
  readonly #bytesFromAgent: Counter<'agent'>;
  readonly #reconnects: Counter<'agent'>;
  readonly #sessionsOpened: Counter;
  readonly #sessionsClosed: Counter<'reason'>;
  readonly #authFailures: Counter<'reason'>;
  readonly #responseHeaders: Histogram;
  readonly #duration: Histogram;
  readonly #onConnect = (connection: AgentConnection): void => this.#sessionOpened(connection);
  readonly #onDisconnect = (connection: AgentConnection, err: Error | undefined): void => {
    this.#sessionsClosed.inc({ reason: sessionCloseReason(connection, err) });
  };

  constructor(options: RelayMetricsOptions) {
    this.#agents = options.registry;
    this.#maxAgentSeries = requireInt('maxAgentSeries', options.maxAgentSeries ?? DEFAULT_MAX_AGENT_SERIES, 1);
    const registry = new Registry();
    this.promRegistry = registry;
    const p = RELAY_METRICS_PREFIX;
    const agents = this.#agents;
    // Each counter flushes its pending deltas when scraped; label sets are built only then.
    const flush = (): void => this.#flush();

    new Gauge({
      name: `${p}agents_online`,
      help: 'Agents with a live session.',
      registers: [registry],
      collect() {
        this.set(agents.size);
      },
    });
    new Gauge({
      name: `${p}streams_open`,
      help: 'Visitor streams (requests and upgrades) open on agent sessions.',
      registers: [registry],
      collect() {
        let open = 0;
        for (const c of agents.connections()) open += c.activeStreams;
        this.set(open);
      },
    });
    new Gauge({
      name: `${p}agent_rtt_seconds`,
      help: 'Round-trip time of the last keepalive ping of each online agent.',
      labelNames: ['agent'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of agents.list()) {
          const rttMs = c.rttMs;
          if (rttMs !== undefined) this.set({ agent: c.agentName }, rttMs / 1000);
        }
      },
    });
    this.#sessionsOpened = new Counter({
      name: `${p}agent_sessions_opened_total`,
      help: 'Agent sessions registered (after authentication and upgrade).',
      registers: [registry],
    });
    this.#sessionsClosed = new Counter({
      name: `${p}agent_sessions_closed_total`,
      help: 'Agent sessions ended, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.#reconnects = new Counter({
      name: `${p}agent_reconnects_total`,
      help: 'Sessions of agents that already had one since the relay started.',
      labelNames: ['agent'],
      registers: [registry],
      collect: flush,
    });
    this.#authFailures = new Counter({
      name: `${p}auth_failures_total`,
      help: 'Refused agent connections and admin API calls, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.#requests = new Counter({
      name: `${p}requests_total`,
      help: 'Visitor requests and upgrades, by agent, status class and the tunnel error code of responses the relay produced.',
      labelNames: ['agent', 'status_class', 'code'],
      registers: [registry],
      collect: flush,
    });
    this.#bytesToAgent = new Counter({
      name: `${p}bytes_to_agent_total`,
      help: 'Visitor request body and upgrade bytes sent to agents, counted when each request ends.',
      labelNames: ['agent'],
      registers: [registry],
      collect: flush,
    });
    this.#bytesFromAgent = new Counter({
      name: `${p}bytes_from_agent_total`,
      help: 'Response body and upgrade bytes received from agents, counted when each request ends.',
      labelNames: ['agent'],
      registers: [registry],
      collect: flush,
    });
    this.#responseHeaders = new Histogram({
      name: `${p}response_headers_seconds`,
      help: 'Time from a visitor request arriving to the agent\'s response headers (forwarded HTTP requests).',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: `${p}request_duration_seconds`,
      help: 'Time from a visitor request arriving to its response being complete (forwarded HTTP requests, not upgrades).',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers: [registry],
    });
    if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'visiona_tunnel_' });

    for (const c of agents.connections()) this.#sessionOpened(c);
    agents.on('connect', this.#onConnect);
    agents.on('disconnect', this.#onDisconnect);
  }

  /** Content type of `text()`, for the `Content-Type` header of a scrape. */
  get contentType(): string {
    return this.promRegistry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  text(): Promise<string> {
    return this.promRegistry.metrics();
  }

  /** Counts one finished visitor request or upgrade (called once per request; cheap). */
  recordRequest(record: VisitorRequestRecord): void {
    const series = record.agent === undefined ? this.#unrouted : this.#seriesOf(record.agent);
    const key = statusClassIndex(record.status) | (this.#codeIndexOf(record.errorCode) << STATUS_CLASS_BITS);
    series.pendingRequests.set(key, (series.pendingRequests.get(key) ?? 0) + 1);
    series.pendingBytesToAgent += record.bytesToAgent;
    series.pendingBytesFromAgent += record.bytesFromAgent;
    series.isDirty = true;
    if (record.isUpgrade) return;
    if (record.responseHeadersMs !== undefined) this.#responseHeaders.observe(record.responseHeadersMs / 1000);
    if (record.responseHeadersMs !== undefined && record.outcome === 'completed') this.#duration.observe(record.durationMs / 1000);
  }

  /** Counts one refused authentication. */
  recordAuthFailure(reason: AuthFailureReason): void {
    this.#authFailures.inc({ reason });
  }

  /** Stops following the agent registry (the values stay readable). Idempotent. */
  close(): void {
    this.#agents.off('connect', this.#onConnect);
    this.#agents.off('disconnect', this.#onDisconnect);
  }

  #sessionOpened(connection: AgentConnection): void {
    this.#sessionsOpened.inc();
    const name = connection.agentName;
    if (!this.#seenAgents.has(name)) {
      this.#seenAgents.add(name);
      return;
    }
    const series = this.#seriesOf(name);
    series.pendingReconnects += 1;
    series.isDirty = true;
  }

  #seriesOf(agent: string): AgentSeries {
    const known = this.#series.get(agent);
    if (known !== undefined) return known;
    if (this.#series.size >= this.#maxAgentSeries) return this.#overflow;
    const series = new AgentSeries(agent);
    this.#series.set(agent, series);
    return series;
  }

  #codeIndexOf(code: TunnelErrorCode | undefined): number {
    if (code === undefined) return 0;
    const known = this.#codeIndex.get(code);
    if (known !== undefined) return known;
    if (this.#codes.length >= MAX_CODES) return 0;
    this.#codes.push(code);
    this.#codeIndex.set(code, this.#codes.length - 1);
    return this.#codes.length - 1;
  }

  #flush(): void {
    this.#flushSeries(this.#unrouted);
    this.#flushSeries(this.#overflow);
    for (const series of this.#series.values()) this.#flushSeries(series);
  }

  #flushSeries(series: AgentSeries): void {
    if (!series.isDirty) return;
    series.isDirty = false;
    const agent = series.agent;
    for (const [key, count] of series.pendingRequests) {
      this.#requests.inc(
        { agent, status_class: STATUS_CLASSES[key & 7] as string, code: this.#codes[key >> STATUS_CLASS_BITS] as string },
        count,
      );
    }
    series.pendingRequests.clear();
    if (series.pendingBytesToAgent > 0) this.#bytesToAgent.inc({ agent }, series.pendingBytesToAgent);
    if (series.pendingBytesFromAgent > 0) this.#bytesFromAgent.inc({ agent }, series.pendingBytesFromAgent);
    if (series.pendingReconnects > 0) this.#reconnects.inc({ agent }, series.pendingReconnects);
    series.pendingBytesToAgent = 0;
    series.pendingBytesFromAgent = 0;
    series.pendingReconnects = 0;
  }
}
