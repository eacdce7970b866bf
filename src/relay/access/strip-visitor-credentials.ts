/**
 * Applies a granted decision to the headers the relay forwards: credentials
 * meant for the relay never reach the agent.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { VisitorAccessGranted } from './visitor-access-decision.js';
import { removeCookies } from './visitor-credentials.js';

/**
 * A copy of `headers` without the decision's `stripHeaders` and with its
 * `stripCookies` removed from `Cookie` (the header goes when it becomes empty).
 * The request target to forward is `decision.forwardUrl`.
 */
export function stripVisitorCredentials(
  headers: IncomingHttpHeaders,
  decision: Pick<VisitorAccessGranted, 'stripHeaders' | 'stripCookies'>,
): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  for (const name of decision.stripHeaders) delete out[name.toLowerCase()];
  if (out.cookie !== undefined && decision.stripCookies.length > 0) {
    const cookie = removeCookies(out.cookie, decision.stripCookies);
    if (cookie === undefined) delete out.cookie;
    else out.cookie = cookie;
  }
  return out;
}

/**
 * The same for Node's `rawHeaders` list (name, value, name, value ...), for
 * proxies that forward header case and order as received.
 */
export function stripVisitorCredentialsRaw(
  rawHeaders: readonly string[],
  decision: Pick<VisitorAccessGranted, 'stripHeaders' | 'stripCookies'>,
): string[] {
  const drop = new Set(decision.stripHeaders.map((h) => h.toLowerCase()));
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    let value = rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    if (drop.has(lower)) continue;
    if (lower === 'cookie' && decision.stripCookies.length > 0) {
      const kept = removeCookies(value, decision.stripCookies);
      if (kept === undefined) continue;
      value = kept;
    }
    out.push(name, value);
  }
  return out;
}
