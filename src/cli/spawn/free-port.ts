/**
 * Picks a free TCP port on a loopback address by binding port 0 and
 * releasing it. Another process could take the port before it is used again;
 * on a loopback address that is rare, and the spawned service then fails
 * visibly (it exits and is restarted) instead of serving the wrong thing.
 */
import { createServer, type AddressInfo } from 'node:net';

/** A port that was free on `host` a moment ago. */
export async function pickFreePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
