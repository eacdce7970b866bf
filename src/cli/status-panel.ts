/**
 * The agent's terminal status panel. On a terminal it redraws in place (at
 * most a few times per second): state, relay, visitor URL, ping RTT, the
 * reconnect attempt and next retry, requests served, bytes, and the last
 * requests. Elsewhere it writes one log line per state change and one per
 * request, through the injected logger (JSON lines under the CLI's sink).
 * The drawing is the pure `renderStatusPanel`.
 */
import type { ConnectionStatus } from '../agent/connection-status.js';
import type { RecordedRequest, RequestRecorder } from '../agent/request-recorder.js';
import type { StatusSource } from '../agent/status-server.js';
import { systemClock, type Clock, type TimerHandle } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { redactUrl } from '../transport/index.js';

/** What the panel shows besides the manager's status. */
export interface StatusPanelStatus extends ConnectionStatus {
  relayUrl?: string | null;
  visitorUrl?: string | null;
  localAddr?: string | null;
}

/** Options of `renderStatusPanel`. */
export interface RenderStatusPanelOptions {
  /** Terminal columns; every line is cut to `width - 1` so none wraps. */
  width: number;
  /** Unix ms for "for 3 s" and "next retry in 2 s"; default `Date.now()`. */
  now?: number;
  /** ANSI colours; default false. */
  color?: boolean;
  /** Requests listed, newest first; default 10. */
  maxRequests?: number;
}

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };
type Tone = keyof typeof ANSI | undefined;
/** A piece of a line and its colour. */
type Segment = [text: string, tone?: Tone];

/** Bytes as `512 B`, `1.5 KiB`, `12 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Milliseconds as `0.4 ms`, `12 ms`, `1.25 s`. */
export function formatDurationMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A span as `42 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatSpanMs(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function stateTone(state: ConnectionStatus['state']): Tone {
  if (state === 'online') return 'green';
  if (state === 'connecting' || state === 'reconnecting') return 'yellow';
  return 'dim';
}

function statusTone(status: number): Tone {
  if (status >= 200 && status < 300) return 'green';
  if (status >= 300 && status < 400) return 'cyan';
  if (status >= 400 && status < 500) return 'yellow';
  return 'red';
}

/** Joins segments, cut to `max` visible characters, coloured when asked. */
function fit(segments: Segment[], max: number, color: boolean): string {
  let out = '';
  let left = Math.max(0, max);
  for (const [raw, tone] of segments) {
    if (left === 0) break;
    if (raw === '') continue;
    // Control characters from a request path must not reach the terminal.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    const clean = raw.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
    const text = clean.length > left ? `${clean.slice(0, Math.max(0, left - 1))}…` : clean;
    left -= text.length;
    out += color && tone !== undefined ? `${ANSI[tone]}${text}${ANSI.reset}` : text;
  }
  return out;
}

function clockTime(unixMs: number): string {
  const d = new Date(unixMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * The panel as lines (no trailing newlines), for `status` and `requests`
 * (oldest first, as the recorder lists them; the newest are shown first).
 * Pure apart from `Date.now()` when `now` is not given.
 */
export function renderStatusPanel(
  status: StatusPanelStatus,
  requests: readonly RecordedRequest[],
  options: RenderStatusPanelOptions,
): string[] {
  const max = Math.max(20, Math.floor(options.width)) - 1;
  const now = options.now ?? Date.now();
  const color = options.color === true;
  const line = (...segments: Segment[]): string => fit(segments, max, color);
  const label = (name: string): Segment => [`  ${name.padEnd(11)}`, 'dim'];

  const lines: string[] = [];
  lines.push(
    line(['visiona-tunnel agent  ', 'bold'], [`● ${status.state}`, stateTone(status.state)], [`  for ${formatSpanMs(now - status.since)}`, 'dim']),
  );
  lines.push(line(label('relay'), [status.relayUrl ?? '-']));
  // HA links: one line each (node, state, RTT), once there is more than one.
  if (status.links !== undefined && status.links.length > 1) {
    for (const l of status.links) {
      lines.push(
        line(
          label(`link ${l.index}`),
          [`● ${l.state}`, stateTone(l.state)],
          [l.node === null ? '' : `  node ${l.node}`],
          [l.rttMs === null ? '' : `  ping ${formatDurationMs(l.rttMs)}`, 'dim'],
          [`  for ${formatSpanMs(now - l.since)}`, 'dim'],
          [l.state !== 'online' && l.lastError !== null ? `  ${l.lastError.code}` : '', 'red'],
        ),
      );
    }
  }
  lines.push(line(label('visitor'), [status.visitorUrl ?? 'unknown', status.visitorUrl ? 'cyan' : 'dim']));
  if (status.localAddr) lines.push(line(label('local'), [status.localAddr]));
  const retry =
    status.nextRetryAt !== null
      ? `attempt ${status.attempt}, next retry in ${formatSpanMs(status.nextRetryAt - now)}`
      : status.attempt > 0
        ? `attempt ${status.attempt}`
        : '-';
  lines.push(line(label('ping'), [status.lastPingRttMs === null ? '-' : formatDurationMs(status.lastPingRttMs)]));
  lines.push(line(label('reconnect'), [retry, status.nextRetryAt !== null ? 'yellow' : undefined]));
  lines.push(
    line(
      label('requests'),
      [`${status.requestsServed} served, ${status.activeStreams} active, `],
      [`${formatBytes(status.bytesIn)} in, ${formatBytes(status.bytesOut)} out`],
    ),
  );
  if (status.lastError !== null) {
    lines.push(line(label('last error'), [`${status.lastError.code}: ${status.lastError.message}`, 'red']));
    if (status.lastError.hint !== undefined) lines.push(line(label('hint'), [status.lastError.hint, 'yellow']));
  }
  lines.push('');
  const shown = requests.slice(-(options.maxRequests ?? 10)).reverse();
  if (shown.length === 0) {
    lines.push(line(['  no requests yet', 'dim']));
    return lines;
  }
  const header = `  ${'time'.padEnd(8)}  ${'method'.padEnd(8)}${'status'.padEnd(7)}${'duration'.padStart(10)}${'size'.padStart(10)}  path`;
  lines.push(line([header, 'dim']));
  for (const r of shown) {
    const code = r.status === 0 ? 'ERR' : String(r.status);
    lines.push(
      line(
        [`  ${clockTime(r.time)}  `],
        [r.method.slice(0, 7).padEnd(8), 'bold'],
        [code.padEnd(7), statusTone(r.status)],
        [formatDurationMs(r.durationMs).padStart(10)],
        [formatBytes(r.bytesOut).padStart(10)],
        [`  ${r.path}`],
        [r.error !== undefined ? `  ${r.error}` : '', 'red'],
      ),
    );
  }
  return lines;
}

/** Options of a `StatusPanel`. */
export interface StatusPanelOptions {
  source: StatusSource;
  recorder: RequestRecorder;
  /** Draw in place (a terminal) or log lines. */
  isTty: boolean;
  /** Where the panel goes (stderr). */
  write: (text: string) => void;
  /** Receives the per-event lines when not on a terminal. */
  logger: Logger;
  /** Terminal width, read at each redraw; default 80. */
  columns?: () => number;
  relayUrl?: string | null;
  visitorUrl?: string | null;
  localAddr?: string | null;
  /** ANSI colours on the terminal; default true. */
  color?: boolean;
  /** Least time between two redraws; default 250 ms. */
  minRedrawIntervalMs?: number;
  /** Redraw this often even without events (countdowns); default 1000 ms. */
  refreshIntervalMs?: number;
  maxRequests?: number;
  clock?: Clock;
}

/**
 * Keeps the panel up to date between `start()` and `stop()`. On a terminal,
 * send other output through `print()` so it appears above the panel.
 */
export class StatusPanel {
  readonly #o: StatusPanelOptions;
  readonly #clock: Clock;
  readonly #minRedrawMs: number;
  readonly #refreshMs: number;
  #unsubscribe: Array<() => void> = [];
  #drawnLines = 0;
  #lastDrawAt = Number.NEGATIVE_INFINITY;
  #pending: TimerHandle | undefined;
  #refresh: TimerHandle | undefined;
  #running = false;
  #stopped = false;

  constructor(options: StatusPanelOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#minRedrawMs = options.minRedrawIntervalMs ?? 250;
    this.#refreshMs = options.refreshIntervalMs ?? 1000;
  }

  /** Subscribes to the manager and the recorder and draws once. A second call does nothing. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    const { source, recorder, isTty, logger } = this.#o;
    if (isTty) {
      this.#unsubscribe = [source.subscribe(() => this.#schedule()), recorder.subscribe(() => this.#schedule())];
      this.#draw();
      this.#armRefresh();
      return;
    }
    this.#unsubscribe = [
      source.subscribe((s) => {
        logger.info('tunnel state', {
          state: s.state,
          attempt: s.attempt,
          nextRetryAt: s.nextRetryAt === null ? null : new Date(s.nextRetryAt).toISOString(),
          lastPingRttMs: s.lastPingRttMs,
          ...(s.lastError === null ? {} : { lastError: s.lastError.code, lastErrorMessage: s.lastError.message }),
          ...(s.lastError?.hint === undefined ? {} : { hint: s.lastError.hint }),
        });
      }),
      recorder.subscribe((r) => {
        logger.info('request', {
          method: r.method,
          path: r.path,
          status: r.status,
          durationMs: r.durationMs,
          bytesIn: r.bytesIn,
          bytesOut: r.bytesOut,
          ...(r.upgrade ? { upgrade: true } : {}),
          ...(r.error === undefined ? {} : { error: r.error }),
        });
      }),
    ];
  }

  /** Writes `text` (complete lines) above the panel on a terminal, else as is. */
  print(text: string): void {
    if (!this.#running || !this.#o.isTty) {
      this.#o.write(text);
      return;
    }
    this.#o.write(this.#erase() + text);
    this.#draw();
  }

  /** Unsubscribes and, on a terminal, leaves a last drawing of the panel. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    if (this.#pending !== undefined) this.#clock.clearTimeout(this.#pending);
    if (this.#refresh !== undefined) this.#clock.clearTimeout(this.#refresh);
    this.#pending = undefined;
    this.#refresh = undefined;
    if (this.#running && this.#o.isTty) this.#draw();
    this.#running = false;
  }

  #schedule(): void {
    if (this.#pending !== undefined || this.#stopped) return;
    const wait = this.#lastDrawAt + this.#minRedrawMs - this.#clock.now();
    if (wait <= 0) {
      this.#draw();
      return;
    }
    this.#pending = this.#clock.setTimeout(() => {
      this.#pending = undefined;
      if (!this.#stopped) this.#draw();
    }, wait);
    this.#pending.unref?.();
  }

  #armRefresh(): void {
    this.#refresh = this.#clock.setTimeout(() => {
      if (this.#stopped) return;
      this.#schedule();
      this.#armRefresh();
    }, this.#refreshMs);
    this.#refresh.unref?.();
  }

  /** Moves the cursor back to the panel's first line and clears to the end of the screen. */
  #erase(): string {
    const up = this.#drawnLines;
    this.#drawnLines = 0;
    return up > 0 ? `\r\x1b[${up}A\x1b[J` : '';
  }

  #draw(): void {
    const o = this.#o;
    const current = o.source.status();
    const status: StatusPanelStatus = {
      ...current,
      relayUrl: o.relayUrl ? redactUrl(o.relayUrl) : null,
      visitorUrl: o.visitorUrl ?? current.publicUrl ?? null,
      localAddr: o.localAddr ?? null,
    };
    const lines = renderStatusPanel(status, o.recorder.list(), {
      width: o.columns?.() ?? 80,
      now: this.#clock.now(),
      color: o.color ?? true,
      ...(o.maxRequests === undefined ? {} : { maxRequests: o.maxRequests }),
    });
    const erase = this.#erase();
    o.write(`${erase}${lines.join('\n')}\n`);
    this.#drawnLines = lines.length;
    this.#lastDrawAt = this.#clock.now();
  }
}
