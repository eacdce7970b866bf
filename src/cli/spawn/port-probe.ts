/**
 * One readiness probe: does `host:port` accept a TCP connection? The
 * connection is closed at once; nothing is sent.
 */
import { connect } from 'node:net';

/** Resolves true when a connection to `host:port` opens, false when it fails or `timeoutMs` passes. */
export function probePort(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
