/**
 * Loopback listeners for tests: a server on 127.0.0.1 port 0 closed (with
 * its sockets) after the test, and a port nothing listens on.
 */
import { once } from 'node:events';
import * as net from 'node:net';

/** Anything that runs cleanup functions at its end: a `TestContext`, or a suite-wide cleanup scope. */
export interface CleanupTarget {
  after(fn: () => unknown): void;
}

/** Listens on 127.0.0.1:0 and closes the server (and its sockets) after the test; returns the port. */
export async function listenOnLoopback<S extends net.Server>(t: CleanupTarget, server: S): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A loopback port nothing listens on (bound, then closed): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
