/**
 * The address of whoever sent a request: the TCP peer, or, when the peer is
 * a trusted proxy, the nearest untrusted hop of its `X-Forwarded-For`.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { normalizeIpAddress, type ProxyTrust } from '../http/index.js';

/**
 * The client address of `req`: the socket's peer address, unless that peer is
 * trusted by `trust`; then `X-Forwarded-For` is read right to left and the
 * first address that is not itself a trusted proxy is returned. Returns
 * `'unknown'` when the socket has no address (already closed).
 */
export function clientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  const peerRaw = req.socket.remoteAddress;
  if (peerRaw === undefined) return 'unknown';
  const peer = normalizeIpAddress(peerRaw);
  if (!trust(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const list = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (let i = list.length - 1; i >= 0; i--) {
    const hop = normalizeIpAddress(list[i] as string);
    if (isIP(hop) === 0) return peer;
    if (!trust(hop)) return hop;
  }
  return peer;
}
