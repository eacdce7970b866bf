/**
 * The package's version, read once from package.json (src/ and dist/ both
 * sit one folder below `shared/`'s parent, two levels below the package root).
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** `0.1.0`: the `version` field of the package's package.json. */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
