/**
 * AbortSignal helpers: check before starting, one listener, always removed.
 */
import { AbortError } from './errors.js';

/** Throws an `AbortError` if `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw toAbortError(signal);
}

/** The error an aborted signal stands for, as an `AbortError`. */
export function toAbortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('The operation was aborted', { cause: reason });
}

/**
 * Calls `onAbort` once if `signal` aborts; returns a function that removes the
 * listener (call it on every exit path).
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: (err: Error) => void): () => void {
  if (signal === undefined) return () => {};
  const listener = () => onAbort(toAbortError(signal));
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * Settles with `promise`, or rejects with an `AbortError` as soon as `signal`
 * aborts; the listener is removed either way.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const remove = onAbort(signal, reject);
    promise.then(
      (v) => {
        remove();
        resolve(v);
      },
      (e: unknown) => {
        remove();
        reject(e);
      },
    );
  });
}
