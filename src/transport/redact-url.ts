/**
 * URL redaction for logs and error messages: the relay URL carries the agent
 * token as `?token=` (wire contract), so it must never be logged as is.
 */

/** Query and fragment parameter names whose values are secrets (compared case-insensitively). */
const SECRET_PARAMS = new Set(['token', 'access_token']);

/** What replaces a secret value. */
const REDACTED = '[redacted]';

/**
 * `url` with the values of `token`/`access_token` query (and fragment)
 * parameters and any userinfo password replaced by `[redacted]`. Works on
 * strings that do not parse as URLs too; everything else is kept as written.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  // Fast path (a visitor path on every access log line): nothing to redact.
  if (!text.includes('?') && !text.includes('#') && !text.includes('@')) return text;
  const hashAt = text.indexOf('#');
  const beforeHash = hashAt === -1 ? text : text.slice(0, hashAt);
  const fragment = hashAt === -1 ? undefined : text.slice(hashAt + 1);
  const queryAt = beforeHash.indexOf('?');
  const base = queryAt === -1 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = queryAt === -1 ? undefined : beforeHash.slice(queryAt + 1);

  let out = redactPassword(base);
  if (query !== undefined) out += `?${redactParams(query)}`;
  if (fragment !== undefined) out += `#${redactParams(fragment)}`;
  return out;
}

function redactParams(params: string): string {
  return params
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const rawName = eq === -1 ? part : part.slice(0, eq);
      return SECRET_PARAMS.has(decodeName(rawName)) ? `${rawName}=${REDACTED}` : part;
    })
    .join('&');
}

// Servers decode parameter names, so `tok%65n=` is a token too.
function decodeName(rawName: string): string {
  try {
    return decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return rawName.toLowerCase();
  }
}

function redactPassword(base: string): string {
  // Greedy up to the last '@' of the authority: a password may contain '@'.
  return base.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/]*@/i, `$1:${REDACTED}@`);
}
