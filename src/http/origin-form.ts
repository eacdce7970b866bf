/**
 * Request targets as forwarded to a local service: always origin-form
 * (`/path?query`), as Go's transport writes them. A visitor's absolute-form
 * target (`http://other.host/x`) keeps its path and query; its host never
 * chooses where the request goes.
 */

/** `target` in origin-form: absolute-form is reduced to path and query; anything else is returned as it is. */
export function toOriginForm(target: string | undefined): string {
  if (target === undefined || target === '') return '/';
  if (target.startsWith('/') || target === '*') return target;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*([^#]*)/.exec(target);
  if (m === null) return target;
  const rest = m[1] as string;
  if (rest === '') return '/';
  return rest.startsWith('?') ? `/${rest}` : rest;
}
