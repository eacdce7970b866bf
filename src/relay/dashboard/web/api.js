// @ts-check
/** Calls to the dashboard's API (relative URLs, so the page works behind a reverse proxy's path prefix). */

/** An API call answered with an error; `code` is the stable error code. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The session's CSRF token, held in memory only. @type {string | null} */
let csrfToken = null;

/** Sets the CSRF token sent with every POST. @param {string | null} token */
export function setCsrfToken(token) {
  csrfToken = token;
}

/**
 * Calls `dashboard/api/<path>`; resolves with the JSON answer, rejects with an `ApiError`.
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [options]
 * @returns {Promise<any>}
 */
export async function callApi(path, options = {}) {
  const method = options.method ?? 'GET';
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method === 'POST' && csrfToken !== null) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(`dashboard/api/${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'ERR_NETWORK', 'The relay cannot be reached');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data?.error ?? {};
    throw new ApiError(res.status, error.code ?? `HTTP_${res.status}`, error.message ?? res.statusText);
  }
  return data;
}
