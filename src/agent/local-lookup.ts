/**
 * Name resolution for the local service. `localhost` (and `*.localhost`,
 * RFC 6761) always resolves to both loopback addresses, 127.0.0.1 then ::1,
 * whatever `/etc/hosts` says, so that with `autoSelectFamily` a service
 * listening on either family is reached. Other names go to `dns.lookup`.
 */
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

/** True for `localhost` and names under it, in any case, with or without a trailing dot. */
export function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

const LOOPBACK: readonly dns.LookupAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

function wantedFamily(family: dns.LookupOptions['family']): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/** A `lookup` for `net.connect`/`http.request` with the `localhost` rule above. */
export const localLookup: LookupFunction = (hostname, options, callback) => {
  if (!isLocalhostName(hostname)) {
    dns.lookup(hostname, { ...options, all: options.all === true }, (err, address, family?: number) =>
      callback(err, address, family),
    );
    return;
  }
  const family = wantedFamily(options.family);
  const addresses = LOOPBACK.filter((a) => family === 0 || a.family === family);
  process.nextTick(() => {
    if (options.all === true) callback(null, addresses.map((a) => ({ ...a })));
    else callback(null, (addresses[0] as dns.LookupAddress).address, (addresses[0] as dns.LookupAddress).family);
  });
};
