/**
 * What visitors did lately, for the dashboard: the fleet's traffic per
 * second, errors by `X-Tunnel-Error` code, and per agent its recent requests
 * (method, path without query values, status, duration, bytes: never bodies,
 * headers or credentials) and its traffic. Fed with every finished visitor
 * request (`PublicIngress` `onRequestEnd`). Memory is bounded: at most
 * `maxAgents` agents are followed (the least recently active forgotten
 * first), each with at most `requestsPerAgent` requests.
 */
import type { Clock } from '../../shared/clock.js';
import { requireInt } from '../../shared/validate.js';
import type { VisitorRequestOutcome, VisitorRequestRecord } from '../access-log.js';
import { TrafficSeries, type TrafficPoints } from './traffic-series.js';

/** One recent visitor request, as the dashboard shows it. */
export interface RecentVisitorRequest {
  /** When it ended, ms since the epoch. */
  atMs: number;
  method: string | null;
  /** Path as sent, with every query value replaced by `…` (query values may hold secrets). */
  path: string;
  status: number | null;
  outcome: VisitorRequestOutcome;
  /** `X-Tunnel-Error` code of an answer the relay produced itself. */
  code: string | null;
  durationMs: number;
  bytesToAgent: number;
  bytesFromAgent: number;
  isUpgrade: boolean;
}

/** Options of `VisitorActivity`; every field optional. */
export interface VisitorActivityOptions {
  clock: Clock;
  /** Agents followed at most (default 2000). */
  maxAgents?: number;
  /** Recent requests kept per agent (default 50). */
  requestsPerAgent?: number;
  /** Window of the fleet series, in 1 s buckets (default 300: five minutes). */
  fleetSeconds?: number;
}

/** Longest path kept, in characters. */
const MAX_PATH_LENGTH = 300;
/** Per-agent traffic: 10 s buckets over five minutes. */
const AGENT_BUCKET_MS = 10_000;
const AGENT_BUCKETS = 30;

class AgentActivity {
  readonly requests: RecentVisitorRequest[] = [];
  /** Index of the oldest entry once the ring is full. */
  next = 0;
  readonly traffic = new TrafficSeries(AGENT_BUCKET_MS, AGENT_BUCKETS);
}

/** The dashboard's record of recent visitor activity. */
export class VisitorActivity {
  readonly fleet: TrafficSeries;
  readonly #clock: Clock;
  readonly #maxAgents: number;
  readonly #perAgent: number;
  readonly #agents = new Map<string, AgentActivity>();
  readonly #errorsByCode = new Map<string, number>();
  #total = 0;

  constructor(options: VisitorActivityOptions) {
    this.#clock = options.clock;
    this.#maxAgents = requireInt('maxAgents', options.maxAgents ?? 2000, 1);
    this.#perAgent = requireInt('requestsPerAgent', options.requestsPerAgent ?? 50, 1);
    this.fleet = new TrafficSeries(1000, requireInt('fleetSeconds', options.fleetSeconds ?? 300, 10));
  }

  /** Visitor requests seen since the relay started. */
  get totalRequests(): number {
    return this.#total;
  }

  /** Agents followed now (at most `maxAgents`). */
  get agentCount(): number {
    return this.#agents.size;
  }

  /** Records one finished visitor request or upgrade. */
  readonly record = (record: VisitorRequestRecord): void => {
    const atMs = this.#clock.now();
    const isError = record.errorCode !== undefined;
    this.#total += 1;
    this.fleet.add(atMs, record.bytesToAgent, record.bytesFromAgent, isError);
    if (isError) this.#errorsByCode.set(record.errorCode as string, (this.#errorsByCode.get(record.errorCode as string) ?? 0) + 1);
    if (record.agent === undefined) return;
    const activity = this.#activityOf(record.agent);
    activity.traffic.add(atMs, record.bytesToAgent, record.bytesFromAgent, isError);
    const entry: RecentVisitorRequest = {
      atMs,
      method: record.method ?? null,
      path: pathWithoutQueryValues(record.url),
      status: record.status ?? null,
      outcome: record.outcome,
      code: record.errorCode ?? null,
      durationMs: record.durationMs,
      bytesToAgent: record.bytesToAgent,
      bytesFromAgent: record.bytesFromAgent,
      isUpgrade: record.isUpgrade,
    };
    if (activity.requests.length < this.#perAgent) {
      activity.requests.push(entry);
    } else {
      activity.requests[activity.next] = entry;
      activity.next = (activity.next + 1) % this.#perAgent;
    }
  };

  /** The agent's recent requests, newest first (empty when none is known). */
  recentRequests(agent: string): RecentVisitorRequest[] {
    const activity = this.#agents.get(agent);
    if (activity === undefined) return [];
    const { requests, next } = activity;
    return [...requests.slice(next), ...requests.slice(0, next)].reverse();
  }

  /** The agent's traffic over the last five minutes in 10 s buckets. */
  agentTraffic(agent: string): TrafficPoints {
    const activity = this.#agents.get(agent);
    return (activity?.traffic ?? EMPTY_AGENT_TRAFFIC).points(this.#clock.now());
  }

  /** Answers with an `X-Tunnel-Error` code since the relay started, by code. */
  errorsByCode(): Record<string, number> {
    return Object.fromEntries([...this.#errorsByCode].sort((a, b) => b[1] - a[1]));
  }

  #activityOf(agent: string): AgentActivity {
    let activity = this.#agents.get(agent);
    if (activity !== undefined) {
      // Most recently active last: the first key is the one to forget.
      this.#agents.delete(agent);
      this.#agents.set(agent, activity);
      return activity;
    }
    activity = new AgentActivity();
    this.#agents.set(agent, activity);
    if (this.#agents.size > this.#maxAgents) {
      const oldest = this.#agents.keys().next();
      if (oldest.done !== true) this.#agents.delete(oldest.value);
    }
    return activity;
  }
}

const EMPTY_AGENT_TRAFFIC = new TrafficSeries(AGENT_BUCKET_MS, AGENT_BUCKETS);

/**
 * `url` with every query value (and bare query part) replaced by `…`, the userinfo and host of an
 * absolute-form target dropped, cut to `MAX_PATH_LENGTH` characters.
 */
export function pathWithoutQueryValues(url: string): string {
  let target = url;
  if (!target.startsWith('/')) {
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      target = '/';
    }
  }
  const q = target.indexOf('?');
  let out = target;
  if (q >= 0) {
    const names = target
      .slice(q + 1)
      .split('&')
      .filter((part) => part.length > 0)
      .map((part) => {
        const eq = part.indexOf('=');
        // A part without `=` is a bare value (`?<secret>`): dropped like the others.
        return eq < 0 ? '…' : `${part.slice(0, eq)}=…`;
      });
    out = names.length === 0 ? target.slice(0, q) : `${target.slice(0, q)}?${names.join('&')}`;
  }
  return out.length > MAX_PATH_LENGTH ? `${out.slice(0, MAX_PATH_LENGTH - 1)}…` : out;
}
