/**
 * The byte pipe of an upgraded exchange (WebSocket, h2c, ...): the tunnel
 * stream and the local TCP connection spliced both ways with half-close
 * respected, both destroyed as soon as either fails.
 */
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Byte counters and the first bytes from the local side, for logs and metrics. */
export interface UpgradePipeObserver {
  /** Bytes written towards the local service (visitor -> local). */
  onBytesIn?(n: number): void;
  /** Bytes written towards the tunnel stream (local -> visitor). */
  onBytesOut?(n: number): void;
}

/**
 * Splices `stream` and `local`: the end of one (FIN) ends the other's
 * writable side, and data keeps flowing the other way until it ends too.
 * Both must be `allowHalfOpen`. Resolves when both directions ended cleanly;
 * on the first error, destroys both (`stream` with the error, so a mux stream
 * sends RST) and rejects with it.
 */
export async function pipeUpgrade(stream: Duplex, local: Duplex, observer: UpgradePipeObserver = {}): Promise<void> {
  if (observer.onBytesIn !== undefined) {
    const count = observer.onBytesIn;
    stream.on('data', (chunk: Buffer) => count(chunk.length));
  }
  if (observer.onBytesOut !== undefined) {
    const count = observer.onBytesOut;
    local.on('data', (chunk: Buffer) => count(chunk.length));
  }
  let failure: unknown;
  const fail = (err: unknown): void => {
    if (failure !== undefined) return;
    failure = err;
    const error = err instanceof Error ? err : new Error(String(err));
    local.destroy();
    stream.destroy(error);
  };
  await Promise.all([pipeline(stream, local).catch(fail), pipeline(local, stream).catch(fail)]);
  if (failure !== undefined) throw failure;
}
