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
import { listenAndAnnounce, parseHopTarget, splice } from './hop-common.mjs';

const { host, port } = parseHopTarget('pipe-hop.mjs');

const server = createServer({ noDelay: true }, (inbound) => splice(inbound, connect({ host, port, noDelay: true })));
listenAndAnnounce(server);
