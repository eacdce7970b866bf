/**
 * The upgrade half of the local forwarder: a request the parser saw as an
 * upgrade (WebSocket, h2c, any protocol) gets a new raw TCP connection to the
 * local service, the request head written on it, and then the tunnel stream
 * and that connection piped both ways. A local service that cannot be
 * reached gets a `502` with `X-Tunnel-Error: ERR_AGENT_LOCAL_*` on the stream.
 */
import type http from 'node:http';
import net from 'node:net';
import { isUpgradeRequest, toOriginForm, writeRawResponse } from '../http/index.js';
import { TunnelError, type TunnelErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { LocalExchange } from './local-exchange.js';
import type { LocalForwarderConfig } from './local-forwarder-config.js';
import { localLookup } from './local-lookup.js';
import { buildRequestHead, rewriteHostHeader } from './local-request-head.js';
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

/** Serves the upgrade `req` (parsed from `ex.stream`; `head` is what followed it) by piping to a new local connection. */
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
    logger.debug('parser upgrade without Connection: upgrade; piping raw', { path: ex.path });
  }
  const requestHead = buildRequestHead(req, rewriteHostHeader(req.rawHeaders, ctx.hostValue, config.localAddr));
  const local = net.connect({
    host: config.localHost,
    port: config.localPort,
    lookup: localLookup,
    autoSelectFamily: true,
    allowHalfOpen: true,
  });
  ex.upgradeSocket = local;
  ctx.watchLocalSocket(ex, local, (err) => local.destroy(err));
  let connected = false;
  local.on('error', (err: Error) => {
    ctx.clearConnectTimer(ex);
    if (connected || ex.done) return;
    const code = classifyLocalError(err);
    logger.warn('local service unreachable for an upgrade', { code, err: err.message });
    ex.status = 502;
    writeRawResponse(stream, {
      status: 502,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Tunnel-Error': code },
      body: `${LOCAL_ERROR_MESSAGES[code]}\n`,
    });
    ctx.finish(ex, code);
  });
  local.once('connect', () => {
    connected = true;
    if (ex.done) {
      local.destroy();
      return;
    }
    local.write(requestHead);
    if (head.length > 0) {
      ex.bytesIn += head.length;
      local.write(head);
    }
    local.once('data', (chunk: Buffer) => {
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(chunk.subarray(0, 16).toString('latin1'));
      if (m !== null) ex.status = Number(m[1]);
    });
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
}
