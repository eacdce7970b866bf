/**
 * Which peer addresses are trusted proxies, whose `X-Forwarded-*` headers the
 * relay believes. Everyone else's are dropped, so a visitor cannot forge its
 * address or scheme.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../shared/errors.js';

/** True when the peer at `address` is a trusted proxy. */
export type ProxyTrust = (address: string | undefined) => boolean;

/** Trusts nobody: the default. */
export const trustNoProxy: ProxyTrust = () => false;

/**
 * `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) as `192.0.2.1`;
 * any other address unchanged.
 */
export function normalizeIpAddress(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m !== null ? (m[1] as string) : address;
}

/**
 * A `ProxyTrust` for a list of addresses (`127.0.0.1`, `::1`) and CIDR
 * ranges (`10.0.0.0/8`, `fd00::/8`). Throws `ConfigError` naming `field` for
 * an entry that is neither.
 */
export function createProxyTrust(entries: readonly string[], field = 'trustedProxies'): ProxyTrust {
  if (entries.length === 0) return trustNoProxy;
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = normalizeIpAddress(slash === -1 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family === 0) throw new ConfigError(field, 'must list IP addresses or CIDR ranges', entry);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) {
      list.addAddress(address, type);
      continue;
    }
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) {
      throw new ConfigError(field, 'has an invalid CIDR prefix length', entry);
    }
    list.addSubnet(address, bits, type);
  }
  return (address) => {
    if (address === undefined) return false;
    const normalized = normalizeIpAddress(address);
    const family = isIP(normalized);
    if (family === 0) return false;
    return list.check(normalized, family === 4 ? 'ipv4' : 'ipv6');
  };
}
