/**
 * Reads one `\n`-terminated line from a byte stream, bounded in size and
 * time, and puts back whatever followed it, so the stream can be piped on
 * from the next byte. Used by the peer handshake and the per-stream preamble,
 * which are one JSON line each.
 */
import type { Duplex } from 'node:stream';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { TunnelError } from '../../shared/errors.js';

/** Resolves with the line (UTF-8, without its `\n`); rejects with `ERR_CLUSTER_PEER_PROTOCOL` on overflow, end or timeout. */
export function readLine(stream: Duplex, options: { maxBytes: number; timeoutMs: number; clock: Clock; what: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const cleanup = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      options.clock.clearTimeout(timer);
    };
    const fail = (message: string): void => {
      cleanup();
      reject(new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', `${message} (reading: ${options.what})`));
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        const newline = chunk.indexOf(0x0a);
        if (newline === -1) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes > options.maxBytes) {
            fail(`line longer than ${options.maxBytes} bytes`);
            return;
          }
          continue;
        }
        if (pendingBytes + newline > options.maxBytes) {
          fail(`line longer than ${options.maxBytes} bytes`);
          return;
        }
        pending.push(chunk.subarray(0, newline));
        const line = Buffer.concat(pending).toString('utf8');
        pending = [];
        const rest = chunk.subarray(newline + 1);
        cleanup();
        if (rest.length > 0) stream.unshift(rest);
        resolve(line);
        return;
      }
    };
    const onEnd = (): void => fail('the stream ended before the line');
    const onError = (err: Error): void => {
      cleanup();
      reject(new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', `the stream failed before the line (reading: ${options.what})`, { cause: err }));
    };
    const timer: TimerHandle = options.clock.setTimeout(() => fail(`no line within ${options.timeoutMs}ms`), options.timeoutMs);
    timer.unref?.();
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
    onReadable();
  });
}

/** Parses a line as a JSON object; rejects other values with `ERR_CLUSTER_PEER_PROTOCOL`. */
export function parseJsonLine(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', `not JSON (reading: ${what})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', `not a JSON object (reading: ${what})`);
  }
  return value as Record<string, unknown>;
}
