/**
 * What the two floor hops of `npm run bench:e2e` (pipe-hop.mjs, http-hop.mjs)
 * share: the `--to HOST:PORT` argument, joining two sockets both ways, and
 * listening on 127.0.0.1 with the `{"event":"listening"}` line the harness
 * waits for.
 */
import { parseArgs } from 'node:util';

/** `--to HOST:PORT` of the command line; exits 2 with a usage line naming `script` without it. */
export function parseHopTarget(script) {
  const { values } = parseArgs({ options: { to: { type: 'string' } } });
  const to = values.to ?? '';
  const colon = to.lastIndexOf(':');
  if (colon === -1) {
    process.stderr.write(`usage: ${script} --to HOST:PORT\n`);
    process.exit(2);
  }
  return { host: to.slice(0, colon), port: Number(to.slice(colon + 1)) };
}

/**
 * Pipes `a` and `b` into each other. A clean end of one side ends the other
 * once what is queued for it is written (`pipe` does that); an error or an
 * abrupt close on either destroys both. (Destroying both on any close cut the
 * last bytes of an echoed upload still queued towards the client.)
 */
export function splice(a, b) {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  for (const socket of [a, b]) {
    socket.on('error', close);
    socket.on('close', (hadError) => {
      if (hadError) close();
    });
  }
}

/** Listens on 127.0.0.1, port 0, prints the listening line, and exits 0 on SIGINT or SIGTERM. */
export function listenAndAnnounce(server) {
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ event: 'listening', addr: `127.0.0.1:${a.port}` })}\n`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
}
