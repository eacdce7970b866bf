/**
 * One hop of the "2 Node HTTP proxies" column of `npm run bench:e2e`: a
 * minimal keep-alive HTTP proxy (`http.createServer` + `http.request` with a
 * keep-alive agent) to `--to HOST:PORT`, bodies piped both ways and upgrades
 * (WebSocket) piped raw. No routing, access checks, logging or metrics: two
 * of these in series are the least work a tunnel that parses HTTP at both ends
 * with Node's own HTTP code (as ours does, relay and agent) can do per request.
 *
 *   node bench/e2e/http-hop.mjs --to 127.0.0.1:PORT   # prints {"event":"listening","addr":...}
 */
import { Agent, createServer, request } from 'node:http';
import { connect } from 'node:net';
import { listenAndAnnounce, parseHopTarget, splice } from './hop-common.mjs';

const { host, port } = parseHopTarget('http-hop.mjs');
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

const server = createServer((req, res) => {
  const upstream = request({ host, port, agent, method: req.method, path: req.url, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => res.destroy());
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
});
server.on('upgrade', (req, socket, head) => {
  const upstream = connect({ host, port, noDelay: true });
  // Written while connecting: a socket sends queued writes in order once connected, before what splice() pipes.
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) upstream.write(head);
  splice(socket, upstream);
});
server.keepAliveTimeout = 60_000;
listenAndAnnounce(server);
