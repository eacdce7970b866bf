/**
 * Whether the interop tests can run: the Go peers they start live in
 * .interop-bin/ (built by `bash scripts/build-interop.sh`). A fresh clone
 * has none of them, and the `ref-*` peers are built from sources that are
 * not in this repository (`../shared/interop/go`, beside the clone in CI).
 *
 * `interopSkip(...)` gives node:test's `skip` option: `false` when every
 * binary is there, else one line naming what is missing and how to get it.
 * With `VISIONA_REQUIRE_INTEROP=1` (set by .ci/run) it is always `false`, so
 * a missing peer fails the tests there instead of skipping them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder of the built Go binaries. */
export const INTEROP_BIN_DIR = join(REPO_ROOT, '.interop-bin');

/** Where scripts/build-interop.sh finds the sources of the `ref-*` peers. */
export const REF_PEER_SOURCES = join(REPO_ROOT, '..', 'shared', 'interop', 'go');

/** The Go binaries interop tests start. */
export type InteropBinary = 'ref-relay' | 'ref-agent' | 'ref-origin' | 'ref-tap' | 'go-yamux-peer';

/** The environment variable that turns a skip into a failure (CI). */
export const REQUIRE_INTEROP_ENV = 'VISIONA_REQUIRE_INTEROP';

/**
 * `false` when every binary of `names` is built (or `VISIONA_REQUIRE_INTEROP=1`),
 * else the reason to skip: what is missing and the command that builds it.
 */
export function interopSkip(...names: InteropBinary[]): false | string {
  return interopSkipReason(names, { binDir: INTEROP_BIN_DIR, refSources: REF_PEER_SOURCES, env: process.env });
}

/** `interopSkip` with its inputs explicit (tested on its own). */
export function interopSkipReason(
  names: readonly InteropBinary[],
  where: { binDir: string; refSources: string; env: NodeJS.ProcessEnv },
): false | string {
  if (where.env[REQUIRE_INTEROP_ENV] === '1') return false;
  const missing = names.filter((n) => !existsSync(join(where.binDir, n)));
  if (missing.length === 0) return false;
  const what = `Go interop peer${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not built in .interop-bin/`;
  const needsRefSources = missing.some((n) => n.startsWith('ref-'));
  if (needsRefSources && !existsSync(join(where.refSources, 'build.sh'))) {
    return `${what}; their sources (../shared/interop/go) are not beside this clone: put them there, then run bash scripts/build-interop.sh (${REQUIRE_INTEROP_ENV}=1 fails instead of skipping)`;
  }
  return `${what}: run bash scripts/build-interop.sh (needs Debian's golang-go, golang-github-hashicorp-yamux-dev, golang-github-gorilla-websocket-dev; ${REQUIRE_INTEROP_ENV}=1 fails instead of skipping)`;
}
