/**
 * `jose`, loaded on first use: only a relay that checks or stores a `jwt`
 * policy needs it, and loading it at start costs every relay about 1 MiB of
 * idle memory.
 */
import type * as Jose from 'jose';

let loading: Promise<typeof Jose> | undefined;

/** The `jose` module, imported once (later calls return the same promise). */
export function loadJose(): Promise<typeof Jose> {
  loading ??= import('jose');
  return loading;
}
