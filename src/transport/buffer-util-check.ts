/**
 * Whether `ws` masks and unmasks frames natively. Without `bufferutil` the
 * JavaScript fallback caps throughput near 270 MiB/s (docs/architecture.md),
 * so the dialer and listener warn once when it is missing.
 */
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { Logger } from '../shared/logger.js';

let checked: boolean | undefined;
let warned = false;

/**
 * True when `ws` uses native masking: Node's own `http.websocketMask`, or the
 * `bufferutil` addon resolvable from `ws` itself and not disabled by
 * `WS_NO_BUFFER_UTIL` (the same rule as `ws/lib/buffer-util.js`).
 */
export function isBufferUtilActive(): boolean {
  if (checked !== undefined) return checked;
  checked = computeBufferUtilActive();
  return checked;
}

function computeBufferUtilActive(): boolean {
  if (typeof (http as { websocketMask?: unknown }).websocketMask === 'function') return true;
  if (process.env.WS_NO_BUFFER_UTIL) return false;
  try {
    const requireFromWs = createRequire(createRequire(import.meta.url).resolve('ws'));
    const bufferUtil = requireFromWs('bufferutil') as { mask?: unknown };
    return typeof bufferUtil.mask === 'function';
  } catch {
    return false;
  }
}

/** Logs one warning per process when native masking is missing. */
export function warnIfBufferUtilMissing(logger: Logger): void {
  if (warned || isBufferUtilActive()) return;
  warned = true;
  logger.warn('bufferutil is not loaded: WebSocket masking runs in JavaScript and caps throughput');
}
