/**
 * The upgrade half of the local forwarder: a request the parser saw as an
 * upgrade (WebSocket, h2c, any protocol) gets a new TCP connection to the
 * local service, and the service's answer is read with Node's HTTP client
 * before anything is piped. Only a `101` whose `Upgrade` names a protocol
 * the request offered splices the tunnel stream and that connection both
 * ways. Any other answer goes back on the stream as an ordinary response
 * with `Connection: close`, the stream ends after it, and nothing more the
 * relay sends on it reaches the service: a refused upgrade never leaves a
 * raw pipe behind. A local service that cannot be reached, or answers with
 * a `101` that does not match, gets a `502` with `X-Tunnel-Error`.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  MAX_TUNNEL_HEAD_BYTES,
  TUNNEL_ERROR_HEADER,
  formatSwitchingProtocolsHead,
  forwardResponseRaw,
  isAcceptedUpgrade,
  isUpgradeRequest,
  requestHasBody,
  toOriginForm,
  writeRawResponse,
} from '../http/index.js';
import { TunnelError, type TunnelErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { LocalExchange } from './local-exchange.js';
import type { LocalForwarderConfig } from './local-forwarder-config.js';
import { localLookup } from './local-lookup.js';
import { rewriteHostHeader } from './local-request-head.js';
import { LOCAL_ERROR_MESSAGES, classifyLocalError, type LocalServiceError } from './local-service-error.js';
import { pipeUpgrade } from './local-upgrade-pipe.js';

/** What `forwardUpgrade` needs from its `LocalForwarder`. */
export interface LocalUpgradeContext {
  readonly config: Readonly<LocalForwarderConfig>;
  /** The Host header sent to the local service; undefined keeps the visitor's. */
  readonly hostValue: string | undefined;
  readonly logger: Logger;
  /** Counts `socket` as a local connection (destroyed by `close()`) and arms the connect timeout, which calls `onTimeout`. */
  watchLocalSocket(ex: LocalExchange, socket: net.Socket, onTimeout: (err: LocalServiceError) => void): void;
  clearConnectTimer(ex: LocalExchange): void;
  /** Records the exchange once and forgets it. */
  finish(ex: LocalExchange, error?: TunnelErrorCode): void;
}

/** Writes the agent's own error on the stream (which it ends); false when the stream was gone. */
function answerError(stream: Duplex, status: number, code: TunnelErrorCode, message: string): boolean {
  return writeRawResponse(stream, {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', [TUNNEL_ERROR_HEADER]: code },
    body: `${message}\n`,
  });
}

/** After our answer on a refused upgrade: what the relay still sends is read and dropped, never forwarded. */
function drainAfterAnswer(stream: Duplex): void {
  stream.on('data', () => {});
  stream.resume();
}

/** Serves the upgrade `req` (parsed from `ex.stream`; `head` is what followed it) through a new local connection. */
export function forwardUpgrade(ctx: LocalUpgradeContext, ex: LocalExchange, req: http.IncomingMessage, head: Buffer): void {
  const { stream } = ex;
  const { config, logger } = ctx;
  ex.started = true;
  ex.upgrade = true;
  ex.method = req.method ?? 'GET';
  ex.path = toOriginForm(req.url);
  ex.rawHeaders = req.rawHeaders;
  ex.bodyChunks = null;
  if (!isUpgradeRequest(req.headers)) {
    logger.debug('parser upgrade without Connection: upgrade', { path: ex.path });
  }
  let answered = false;
  let switched = false;
  const refuse = (status: number, code: TunnelErrorCode, message: string): void => {
    if (ex.done) return;
    if (answered) {
      stream.destroy();
    } else {
      answered = true;
      ex.status = status;
      if (answerError(stream, status, code, message)) drainAfterAnswer(stream);
    }
    ctx.finish(ex, code);
  };
  if (requestHasBody(req.headers)) {
    // Bytes past the head would reach the service before anyone knew whether they are a body or a second request.
    refuse(400, 'ERR_AGENT_BAD_REQUEST', 'Bad Request: an upgrade request cannot carry a body');
    return;
  }
  const local = net.connect({
    host: config.localHost,
    port: config.localPort,
    lookup: localLookup,
    autoSelectFamily: true,
    allowHalfOpen: true,
  });
  ex.upgradeSocket = local;
  ctx.watchLocalSocket(ex, local, (err) => local.destroy(err));
  local.once('connect', () => {
    if (ex.done) local.destroy();
  });
  const localReq = http.request({
    method: ex.method,
    path: ex.path,
    headers: rewriteHostHeader(req.rawHeaders, ctx.hostValue, config.localAddr),
    setHost: false,
    maxHeaderSize: MAX_TUNNEL_HEAD_BYTES,
    createConnection: () => local,
  });
  const onError = (err: Error): void => {
    ctx.clearConnectTimer(ex);
    if (switched || ex.done) return;
    local.destroy();
    const code = classifyLocalError(err);
    logger.warn('local service failed an upgrade', { code, err: err.message });
    refuse(502, code, LOCAL_ERROR_MESSAGES[code]);
  };
  local.on('error', onError);
  localReq.on('error', onError);

  localReq.once('upgrade', (res: http.IncomingMessage, localSide: Duplex, upgradeHead: Buffer) => {
    if (ex.done) {
      localSide.destroy();
      return;
    }
    let switchHead: Buffer | undefined;
    try {
      if (isAcceptedUpgrade(req.headers, res)) switchHead = formatSwitchingProtocolsHead(res);
    } catch {
      switchHead = undefined;
    }
    if (switchHead === undefined) {
      localSide.destroy();
      logger.warn('local service answered an upgrade with a 101 that does not match it', { path: ex.path, upgrade: res.headers.upgrade });
      refuse(502, 'ERR_AGENT_LOCAL_BAD_RESPONSE', LOCAL_ERROR_MESSAGES.ERR_AGENT_LOCAL_BAD_RESPONSE);
      return;
    }
    answered = true;
    switched = true;
    ex.status = 101;
    stream.write(switchHead);
    if (upgradeHead.length > 0) {
      ex.bytesOut += upgradeHead.length;
      stream.write(upgradeHead);
    }
    if (head.length > 0) {
      ex.bytesIn += head.length;
      local.write(head);
    }
    pipeUpgrade(stream, local, {
      onBytesIn: (n) => (ex.bytesIn += n),
      onBytesOut: (n) => (ex.bytesOut += n),
    }).then(
      () => ctx.finish(ex),
      (err: unknown) => {
        if (ex.done) return;
        const code = err instanceof TunnelError ? err.code : classifyLocalError(err);
        logger.debug('upgraded exchange failed', { code, err: (err as Error).message });
        ctx.finish(ex, code);
      },
    );
  });

  localReq.once('response', (res: http.IncomingMessage) => {
    if (ex.done) {
      local.destroy();
      return;
    }
    if (res.statusCode === 101) {
      // A 101 without Upgrade/Connection: switching to nothing the request asked for.
      local.destroy();
      refuse(502, 'ERR_AGENT_LOCAL_BAD_RESPONSE', LOCAL_ERROR_MESSAGES.ERR_AGENT_LOCAL_BAD_RESPONSE);
      return;
    }
    answered = true;
    ex.status = res.statusCode ?? 502;
    void forwardResponseRaw(stream, res, { method: ex.method, onBodyBytes: (n) => (ex.bytesOut += n) }).then((complete) => {
      // The service's connection carried a refused upgrade: never reused.
      local.destroy();
      if (complete) {
        drainAfterAnswer(stream);
        ctx.finish(ex);
      } else {
        ctx.finish(ex, 'ERR_AGENT_LOCAL_RESET');
      }
    });
  });
  localReq.end();
}
