/**
 * The opening exchange of a peer link, one JSON line each way, before yamux
 * starts on the same connection:
 *
 *   dialer   -> {"v":1,"from":"n1","to":"n2","ts":<ms>,"nonce":"<hex>","mac":"<hex>"}
 *   acceptor -> {"v":1,"ok":true,"node":"n2","mac":"<hex>"}
 *            or {"v":1,"ok":false,"code":"ERR_CLUSTER_PEER_AUTH"} and the connection is closed
 *
 * Nothing of the secret travels; see `peer-auth.ts`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { onAbort } from '../../shared/abort.js';
import type { Clock } from '../../shared/clock.js';
import { TunnelError } from '../../shared/errors.js';
import type { Secret } from '../../shared/secret.js';
import { requireHostPort } from '../../shared/validate.js';
import type { PeerTlsOptions } from './cluster-config.js';
import { helloMac, macEquals, MAX_PEER_CLOCK_SKEW_MS, newNonce, welcomeMac, type NonceCache } from './peer-auth.js';
import { parseJsonLine, readLine } from './read-line.js';

/** Largest handshake line, in bytes. */
const MAX_HANDSHAKE_LINE_BYTES = 1024;

/** What the dialing side needs. */
export interface PeerDialOptions {
  /** `host:port` of the peer listener. */
  address: string;
  fromNodeId: string;
  toNodeId: string;
  secret: Secret;
  tls: PeerTlsOptions | null;
  timeoutMs: number;
  clock: Clock;
  signal?: AbortSignal;
}

/**
 * Connects to a peer and authenticates both ways; resolves with the
 * connection, ready for yamux. Rejects with `ERR_CLUSTER_PEER_UNREACHABLE`
 * when no connection could be made, `ERR_CLUSTER_PEER_AUTH` when either side
 * refused the other, `ERR_CLUSTER_PEER_PROTOCOL` for a garbled answer.
 */
export async function dialPeer(o: PeerDialOptions): Promise<Socket> {
  const { host, port } = requireHostPort('peer address', o.address);
  const socket: Socket =
    o.tls === null
      ? netConnect({ host, port, noDelay: true })
      : tlsConnect({ host, port, servername: isIp(host) ? undefined : host, cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }) });
  socket.setNoDelay(true);
  const removeAbort = onAbort(o.signal, () => socket.destroy());
  const timer = o.clock.setTimeout(() => socket.destroy(new TunnelError('ERR_CLUSTER_PEER_UNREACHABLE', `peer handshake timed out (timeout: ${o.timeoutMs}ms, node: ${o.toNodeId})`)), o.timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once(o.tls === null ? 'connect' : 'secureConnect', () => resolve());
      socket.once('error', (err) => reject(err instanceof TunnelError ? err : new TunnelError('ERR_CLUSTER_PEER_UNREACHABLE', `cannot reach peer ${o.toNodeId} at ${o.address}: ${err.message}`, { cause: err })));
    });
    const nonce = newNonce();
    const ts = o.clock.now();
    socket.write(`${JSON.stringify({ v: 1, from: o.fromNodeId, to: o.toNodeId, ts, nonce, mac: helloMac(o.secret, o.fromNodeId, o.toNodeId, ts, nonce) })}\n`);
    const answer = parseJsonLine(await readLine(socket, { maxBytes: MAX_HANDSHAKE_LINE_BYTES, timeoutMs: o.timeoutMs, clock: o.clock, what: 'peer welcome' }), 'peer welcome');
    if (answer.ok !== true) {
      throw new TunnelError('ERR_CLUSTER_PEER_AUTH', `peer ${o.toNodeId} refused the link (code: ${String(answer.code)})`);
    }
    if (answer.node !== o.toNodeId || !macEquals(welcomeMac(o.secret, o.toNodeId, o.fromNodeId, nonce), answer.mac)) {
      throw new TunnelError('ERR_CLUSTER_PEER_AUTH', `the node at ${o.address} could not prove it is ${o.toNodeId} of this cluster`);
    }
    return socket;
  } catch (err) {
    socket.destroy();
    throw err instanceof TunnelError ? err : new TunnelError('ERR_CLUSTER_PEER_UNREACHABLE', `peer link to ${o.toNodeId} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    o.clock.clearTimeout(timer);
    removeAbort();
  }
}

/** What the accepting side needs. */
export interface PeerAcceptOptions {
  nodeId: string;
  secret: Secret;
  nonces: NonceCache;
  timeoutMs: number;
  clock: Clock;
}

/**
 * Authenticates a connection that reached the peer listener; resolves with
 * the dialer's node id. On any failure the dialer gets a refusal line (when
 * it can be told) and the connection is destroyed; rejects with the reason.
 */
export async function acceptPeer(socket: Duplex, o: PeerAcceptOptions): Promise<string> {
  const refuse = (code: string, message: string): TunnelError => {
    if (!socket.destroyed) socket.end(`${JSON.stringify({ v: 1, ok: false, code })}\n`);
    const timer = o.clock.setTimeout(() => socket.destroy(), 1000);
    timer.unref?.();
    return new TunnelError(code === 'ERR_CLUSTER_PEER_AUTH' ? 'ERR_CLUSTER_PEER_AUTH' : 'ERR_CLUSTER_PEER_PROTOCOL', message);
  };
  let hello: Record<string, unknown>;
  try {
    hello = parseJsonLine(await readLine(socket, { maxBytes: MAX_HANDSHAKE_LINE_BYTES, timeoutMs: o.timeoutMs, clock: o.clock, what: 'peer hello' }), 'peer hello');
  } catch (err) {
    throw refuse('ERR_CLUSTER_PEER_PROTOCOL', (err as Error).message);
  }
  const { from, to, ts, nonce } = hello;
  if (hello.v !== 1 || typeof from !== 'string' || typeof to !== 'string' || typeof ts !== 'number' || typeof nonce !== 'string' || !/^[0-9a-f]{32}$/.test(nonce)) {
    throw refuse('ERR_CLUSTER_PEER_PROTOCOL', 'malformed peer hello');
  }
  const now = o.clock.now();
  // Every check runs before the answer, and the answer is the same for all of them.
  const macOk = macEquals(helloMac(o.secret, from, to, ts, nonce), hello.mac);
  if (!macOk || to !== o.nodeId || Math.abs(now - ts) > MAX_PEER_CLOCK_SKEW_MS || from === o.nodeId) {
    throw refuse('ERR_CLUSTER_PEER_AUTH', `peer link refused (from: ${JSON.stringify(from).slice(0, 80)}, reason: ${!macOk ? 'bad proof' : to !== o.nodeId ? 'meant for another node' : from === o.nodeId ? 'own node id' : 'clock skew'})`);
  }
  if (!o.nonces.remember(nonce, now)) throw refuse('ERR_CLUSTER_PEER_AUTH', `peer link refused (from: ${from}, reason: replayed hello)`);
  socket.write(`${JSON.stringify({ v: 1, ok: true, node: o.nodeId, mac: welcomeMac(o.secret, o.nodeId, from, nonce) })}\n`);
  return from;
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
