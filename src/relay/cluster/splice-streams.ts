/**
 * Splices two byte streams both ways, with backpressure and half-close: the
 * end of one (FIN) ends the other's writable side while data keeps flowing
 * the other way. The first error, or a close before both directions ended,
 * destroys both, so a reset on one side (RST) becomes a reset on the other.
 * Pumped by hand rather than with `pipeline()`, which costs an
 * AbortController and a dozen listeners per call on a path taken once per
 * visitor request.
 */
import type { Duplex } from 'node:stream';

/** How a splice ended. */
export interface SpliceResult {
  /** Both directions ended with a FIN and nothing failed. */
  clean: boolean;
  /** Bytes from `a` to `b`. */
  bytesAToB: number;
  /** Bytes from `b` to `a`. */
  bytesBToA: number;
}

/** Resolves (never rejects) once both streams are closed. */
export function spliceStreams(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const result: SpliceResult = { clean: true, bytesAToB: 0, bytesBToA: 0 };
    let ended = 0;
    let closed = 0;
    const fail = (err?: Error): void => {
      if (!result.clean) return;
      result.clean = false;
      a.destroy(err);
      b.destroy(err);
    };
    const pump = (src: Duplex, dst: Duplex, count: (n: number) => void): void => {
      src.on('data', (chunk: Buffer) => {
        count(chunk.length);
        if (!dst.write(chunk)) src.pause();
      });
      dst.on('drain', () => src.resume());
      src.once('end', () => {
        ended += 1;
        dst.end();
      });
      src.on('error', (err: Error) => fail(err));
    };
    pump(a, b, (n) => (result.bytesAToB += n));
    pump(b, a, (n) => (result.bytesBToA += n));
    const onClose = (): void => {
      closed += 1;
      // A close while a direction is still open is a cut, not an end.
      if (ended < 2) fail();
      if (closed === 2) resolve(result);
    };
    a.once('close', onClose);
    b.once('close', onClose);
  });
}
