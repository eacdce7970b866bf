/**
 * Prometheus metrics of one relay, kept per relay (two relays in a process
 * do not mix) in plain numbers and written in the text format when scraped
 * (`./prometheus-text.ts`). `prom-client` is loaded only for the optional
 * Node.js process metrics, in a registry of the relay's own.
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
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { TunnelErrorCode } from '../shared/errors.js';
import { requireInt } from '../shared/validate.js';
import type { VisitorRequestRecord } from './access-log.js';
import type { AgentConnection, AgentRegistry } from './agent-registry.js';
import { CounterFamily, GaugeFamily, HistogramFamily, PROMETHEUS_TEXT_CONTENT_TYPE, writeMetricFamilies, type MetricFamily } from './prometheus-text.js';

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
  readonly #agents: AgentRegistry;
  readonly #maxAgentSeries: number;
  readonly #series = new Map<string, AgentSeries>();
  readonly #unrouted = new AgentSeries('');
  readonly #overflow = new AgentSeries(OVERFLOW_AGENT_LABEL);
  readonly #codeIndex = new Map<string, number>([['', 0]]);
  readonly #codes: string[] = [''];
  /** Agents that had a session in this process, for the reconnect count. */
  readonly #seenAgents = new Set<string>();
  readonly #families: MetricFamily[];
  readonly #requests: CounterFamily;
  readonly #bytesToAgent: CounterFamily;
  readonly #bytesFromAgent: CounterFamily;
  readonly #reconnects: CounterFamily;
  readonly #sessionsOpened: CounterFamily;
  readonly #sessionsClosed: CounterFamily;
  readonly #authFailures: CounterFamily;
  readonly #responseHeaders: HistogramFamily;
  readonly #duration: HistogramFamily;
  /** Node.js process metrics (`processMetrics`), in a `prom-client` registry of this relay's own. */
  readonly #processRegistry: PromClient.Registry | undefined;
  readonly #onConnect = (connection: AgentConnection): void => this.#sessionOpened(connection);
  readonly #onDisconnect = (connection: AgentConnection, err: Error | undefined): void => {
    this.#sessionsClosed.inc({ reason: sessionCloseReason(connection, err) });
  };

  constructor(options: RelayMetricsOptions) {
    this.#agents = options.registry;
    this.#maxAgentSeries = requireInt('maxAgentSeries', options.maxAgentSeries ?? DEFAULT_MAX_AGENT_SERIES, 1);
    const p = RELAY_METRICS_PREFIX;
    const agents = this.#agents;

    this.#sessionsOpened = new CounterFamily(`${p}agent_sessions_opened_total`, 'Agent sessions registered (after authentication and upgrade).');
    this.#sessionsClosed = new CounterFamily(`${p}agent_sessions_closed_total`, 'Agent sessions ended, by reason.', true);
    this.#reconnects = new CounterFamily(`${p}agent_reconnects_total`, 'Sessions of agents that already had one since the relay started.', true);
    this.#authFailures = new CounterFamily(`${p}auth_failures_total`, 'Refused agent connections and admin API calls, by reason.', true);
    this.#requests = new CounterFamily(
      `${p}requests_total`,
      'Visitor requests and upgrades, by agent, status class and the tunnel error code of responses the relay produced.',
      true,
    );
    this.#bytesToAgent = new CounterFamily(
      `${p}bytes_to_agent_total`,
      'Visitor request body and upgrade bytes sent to agents, counted when each request ends.',
      true,
    );
    this.#bytesFromAgent = new CounterFamily(`${p}bytes_from_agent_total`, 'Response body and upgrade bytes received from agents, counted when each request ends.', true);
    this.#responseHeaders = new HistogramFamily(
      `${p}response_headers_seconds`,
      'Time from a visitor request arriving to the agent\'s response headers (forwarded HTTP requests).',
      LATENCY_BUCKETS_SECONDS,
    );
    this.#duration = new HistogramFamily(
      `${p}request_duration_seconds`,
      'Time from a visitor request arriving to its response being complete (forwarded HTTP requests, not upgrades).',
      LATENCY_BUCKETS_SECONDS,
    );
    this.#families = [
      new GaugeFamily(`${p}agents_online`, 'Agents with a live session.', false, (set) => set({}, agents.size)),
      new GaugeFamily(`${p}streams_open`, 'Visitor streams (requests and upgrades) open on agent sessions.', false, (set) => {
        let open = 0;
        for (const c of agents.connections()) open += c.activeStreams;
        set({}, open);
      }),
      new GaugeFamily(`${p}agent_rtt_seconds`, 'Round-trip time of the last keepalive ping of each online agent.', true, (set) => {
        for (const c of agents.list()) {
          const rttMs = c.rttMs;
          if (rttMs !== undefined) set({ agent: c.agentName }, rttMs / 1000);
        }
      }),
      this.#sessionsOpened,
      this.#sessionsClosed,
      this.#reconnects,
      this.#authFailures,
      this.#requests,
      this.#bytesToAgent,
      this.#bytesFromAgent,
      this.#responseHeaders,
      this.#duration,
    ];
    if (options.processMetrics === true) {
      // Loaded only here, with require() (no ESM export scan): a relay without process metrics never loads it.
      const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient;
      this.#processRegistry = new prom.Registry();
      prom.collectDefaultMetrics({ register: this.#processRegistry, prefix: 'visiona_tunnel_' });
    }

    for (const c of agents.connections()) this.#sessionOpened(c);
    agents.on('connect', this.#onConnect);
    agents.on('disconnect', this.#onDisconnect);
  }

  /** Content type of `text()`, for the `Content-Type` header of a scrape. */
  get contentType(): string {
    return PROMETHEUS_TEXT_CONTENT_TYPE;
  }

  /** Every metric in the Prometheus text format. */
  async text(): Promise<string> {
    this.#flush();
    const own = writeMetricFamilies(this.#families);
    return this.#processRegistry === undefined ? own : `${own}\n${await this.#processRegistry.metrics()}`;
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

  /** Adds families kept by other parts of the relay (the store's health, the cluster's state), written after these. */
  addFamilies(...families: MetricFamily[]): void {
    this.#families.push(...families);
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
