/**
 * A visitor upgrade (WebSocket or any other protocol) forwarded over one
 * stream, the response head read with Node's HTTP client before anything is
 * piped: only a `101` whose `Upgrade` names a protocol the visitor offered
 * turns the visitor's connection into a raw pipe (half-close respected both
 * ways, both torn down on the first failure, the stream with RST). Any other
 * answer (`200`, `401`, a `101` without a matching `Upgrade`) goes back as an
 * ordinary response with `Connection: close`, and the visitor's connection
 * is closed after it: no later byte the visitor sends can reach the device
 * unparsed, unrouted and unchecked. The visitor's bytes past the request
 * head are held until the switch, for the same reason.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  MAX_TUNNEL_HEAD_BYTES,
  formatSwitchingProtocolsHead,
  forwardResponseRaw,
  isAcceptedUpgrade,
  requestHasBody,
  type TunnelErrorInfo,
} from '../http/index.js';
import type { MuxStream } from '../mux/index.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { TunnelErrorCode } from '../shared/errors.js';
import { UPSTREAM_TIMEOUT_INFO, type ExchangeOutcome } from './http-forwarder.js';
import { sendVisitorError } from './visitor-response.js';

/** What `forwardUpgrade` needs. */
export interface UpgradeForwardOptions {
  req: IncomingMessage;
  /** The visitor's socket, as the server's 'upgrade' event gave it. */
  socket: Duplex;
  /** Bytes the server read past the request head. */
  head: Buffer;
  stream: MuxStream;
  /** Origin-form target sent to the agent. */
  path: string;
  /** Headers sent to the agent (Connection/Upgrade kept). */
  headers: OutgoingHttpHeaders;
  clock: Clock;
  /** 0 = no limit. From the request sent to the response head. */
  responseHeaderTimeoutMs: number;
  /** After a refused upgrade's response, how long the visitor may keep its side open (its bytes are discarded). */
  lingerMs: number;
  /** Raw headers added to an ordinary (non-101) response, e.g. a new access cookie. */
  responseExtraHeaders?: readonly string[];
  /** Applied to the headers of the device's response (the `101`'s too). */
  filterResponseHeaders?: (rawHeaders: string[]) => string[];
}

/** How an upgrade ended. */
export interface UpgradeResult {
  /** True when both directions ended cleanly (FIN both ways), or a refused upgrade's response was complete. */
  clean: boolean;
  /** True when the connection was switched (the device answered a matching `101`). */
  switched: boolean;
  outcome: ExchangeOutcome;
  /** Status sent to the visitor (the device's, or the relay's own); undefined if none was sent. */
  status: number | undefined;
  /** Code of the error response the relay sent itself, if it did. */
  errorCode?: TunnelErrorCode;
  bytesToAgent: number;
  bytesFromAgent: number;
}

const BAD_UPGRADE_ANSWER: TunnelErrorInfo = {
  status: 502,
  code: 'ERR_RELAY_BAD_GATEWAY',
  message: 'The device answered the upgrade with a 101 that does not match it',
};

const NO_ANSWER: TunnelErrorInfo = {
  status: 502,
  code: 'ERR_RELAY_BAD_GATEWAY',
  message: 'The device closed the connection without a valid response',
};

const UPGRADE_WITH_BODY: TunnelErrorInfo = {
  status: 400,
  code: 'ERR_RELAY_BAD_REQUEST',
  message: 'An upgrade request cannot carry a body',
};

/** Serializes an origin-form request head; values are written as Latin-1, as Node's parser read them. */
export function formatRequestHead(method: string, path: string, headers: OutgoingHttpHeaders): Buffer {
  let text = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [String(value)];
    for (const v of values) {
      if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(v)) throw new TypeError(`Invalid header for an upgrade request (header: ${name})`);
      text += `${name}: ${v}\r\n`;
    }
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** Forwards an upgrade through `stream`; resolves once both sides are done with it (never rejects). */
export function forwardUpgrade(o: UpgradeForwardOptions): Promise<UpgradeResult> {
  const { socket, stream, req, clock } = o;
  return new Promise<UpgradeResult>((resolve) => {
    let bytesToAgent = 0;
    let bytesFromAgent = 0;
    let settled = false;
    let answered = false;
    let switched = false;
    let headerTimer: TimerHandle | undefined;
    const settle = (r: Omit<UpgradeResult, 'bytesToAgent' | 'bytesFromAgent'>): void => {
      if (settled) return;
      settled = true;
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      resolve({ ...r, bytesToAgent, bytesFromAgent });
    };
    /** The relay's own error, before any answer reached the visitor; the visitor's connection is closed after it. */
    const refuse = (outcome: ExchangeOutcome, info: TunnelErrorInfo): void => {
      if (settled) return;
      stream.destroy();
      if (answered) {
        socket.destroy();
        settle({ clean: false, switched: false, outcome, status: undefined });
        return;
      }
      answered = true;
      const sent = sendVisitorError(socket, info, req.headers.accept);
      if (sent) lingerThenClose();
      settle({ clean: false, switched: false, outcome, status: sent ? info.status : undefined, ...(sent ? { errorCode: info.code } : {}) });
    };
    /** After our FIN, the visitor's bytes are read and dropped until it closes too, at most `lingerMs`. */
    const lingerThenClose = (): void => {
      socket.resume();
      socket.once('end', () => socket.destroy());
      const timer = clock.setTimeout(() => socket.destroy(), o.lingerMs);
      timer.unref?.();
      socket.once('close', () => clock.clearTimeout(timer));
    };

    if (requestHasBody(req.headers)) {
      // Bytes past the head would reach the device before anyone knew whether they are a body or a second request.
      refuse('relay-error', UPGRADE_WITH_BODY);
      return;
    }
    let upstream: ReturnType<typeof httpRequest>;
    try {
      upstream = httpRequest({
        method: req.method,
        path: o.path,
        headers: o.headers,
        setHost: false,
        maxHeaderSize: MAX_TUNNEL_HEAD_BYTES,
        createConnection: () => stream as unknown as Socket,
      });
    } catch {
      refuse('relay-error', { status: 400, code: 'ERR_ROUTE_BAD_PATH', message: 'The request cannot be forwarded' });
      return;
    }
    socket.once('close', () => {
      if (settled) return;
      upstream.destroy();
      stream.destroy();
      settle({ clean: false, switched: false, outcome: 'visitor-gone', status: undefined });
    });
    upstream.once('finish', () => {
      if (o.responseHeaderTimeoutMs <= 0 || answered || settled) return;
      headerTimer = clock.setTimeout(() => {
        upstream.destroy();
        refuse('response-header-timeout', UPSTREAM_TIMEOUT_INFO);
      }, o.responseHeaderTimeoutMs);
      headerTimer.unref?.();
    });
    upstream.on('error', () => {
      if (!switched) refuse(answered ? 'agent-reset' : 'bad-gateway', NO_ANSWER);
    });

    upstream.once('upgrade', (res: IncomingMessage, agentSide: Duplex, upgradeHead: Buffer) => {
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      if (settled) {
        agentSide.destroy();
        return;
      }
      if (!isAcceptedUpgrade(req.headers, res)) {
        agentSide.destroy();
        refuse('bad-gateway', BAD_UPGRADE_ANSWER);
        return;
      }
      let switchHead: Buffer;
      try {
        const rawHeaders = o.filterResponseHeaders === undefined ? res.rawHeaders : o.filterResponseHeaders([...res.rawHeaders]);
        switchHead = formatSwitchingProtocolsHead({ statusMessage: res.statusMessage, rawHeaders });
      } catch {
        agentSide.destroy();
        refuse('bad-gateway', BAD_UPGRADE_ANSWER);
        return;
      }
      answered = true;
      switched = true;
      bytesFromAgent += upgradeHead.length;
      socket.write(switchHead);
      if (upgradeHead.length > 0) socket.write(upgradeHead);
      bytesToAgent += o.head.length;
      if (o.head.length > 0) stream.write(o.head);
      socket.on('data', (chunk: Buffer) => {
        bytesToAgent += chunk.length;
      });
      stream.on('data', (chunk: Buffer) => {
        bytesFromAgent += chunk.length;
      });
      void Promise.allSettled([pipeline(socket, stream), pipeline(stream, socket)]).then(([up, down]) => {
        const clean = up.status === 'fulfilled' && down.status === 'fulfilled';
        if (!clean) {
          // pipeline() destroyed both already; make sure the stream went with RST and the visitor with a reset.
          stream.destroy();
          socket.destroy();
        }
        settle({ clean, switched: true, outcome: clean ? 'completed' : 'agent-reset', status: 101 });
      });
    });

    upstream.once('response', (res: IncomingMessage) => {
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      if (settled) return;
      if (res.statusCode === 101) {
        // A 101 without Upgrade/Connection: switching to nothing the visitor asked for.
        refuse('bad-gateway', BAD_UPGRADE_ANSWER);
        return;
      }
      answered = true;
      const status = res.statusCode ?? 502;
      void forwardResponseRaw(socket, res, {
        method: req.method ?? 'GET',
        ...(o.responseExtraHeaders === undefined ? {} : { extraRawHeaders: o.responseExtraHeaders }),
        ...(o.filterResponseHeaders === undefined ? {} : { filterRawHeaders: o.filterResponseHeaders }),
        onBodyBytes: (n) => (bytesFromAgent += n),
      }).then((complete) => {
        // Whatever the device sends next is never read: the stream goes with RST.
        stream.destroy();
        if (complete) lingerThenClose();
        settle({ clean: complete, switched: false, outcome: complete ? 'completed' : 'agent-reset', status });
      });
    });
    upstream.end();
  });
}
