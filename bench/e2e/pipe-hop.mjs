/**
 * One hop of the "2 Node pipes" column of `npm run bench:e2e`: a TCP server
 * that pipes each connection, byte for byte, to `--to HOST:PORT`. No parsing,
 * no framing, no logging: two of these in series are the least work any
 * tunnel with two Node processes on the path (relay and agent) can do on this
 * machine, so they show the floor under our pair's figures.
 *
 *   node bench/e2e/pipe-hop.mjs --to 127.0.0.1:PORT   # prints {"event":"listening","addr":...}
 */
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { to: { type: 'string' } } });
const to = values.to ?? '';
const colon = to.lastIndexOf(':');
if (colon === -1) {
  process.stderr.write('usage: pipe-hop.mjs --to HOST:PORT\n');
  process.exit(2);
}
const host = to.slice(0, colon);
const port = Number(to.slice(colon + 1));

const server = createServer({ noDelay: true }, (inbound) => {
  const outbound = connect({ host, port, noDelay: true });
  inbound.pipe(outbound);
  outbound.pipe(inbound);
  const close = () => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', close);
  outbound.on('error', close);
  inbound.on('close', close);
  outbound.on('close', close);
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', addr: `127.0.0.1:${a.port}` })}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
