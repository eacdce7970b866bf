/**
 * The package's version, read once from the nearest package.json named
 * `visiona-tunnel` above this module. Walking up (instead of a fixed
 * `../../package.json`) keeps it right wherever the code was compiled to:
 * `src/`, `dist/`, or a benchmark's build folder under `node_modules/.cache`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'visiona-tunnel';
/** What we report when no package.json of ours is found (a bundled copy). */
export const UNKNOWN_VERSION = '0.0.0-unknown';

let cached: string | undefined;

/** `0.1.0`: the `version` field of the package's package.json. */
export function packageVersion(): string {
  cached ??= findVersion(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

function findVersion(startDir: string): string {
  for (let dir = startDir; ; dir = dirname(dir)) {
    const version = readOwnVersion(join(dir, 'package.json'));
    if (version !== undefined) return version;
    if (dirname(dir) === dir) return UNKNOWN_VERSION;
  }
}

function readOwnVersion(file: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
    return pkg.name === PACKAGE_NAME && typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}
