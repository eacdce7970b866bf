/**
 * The "ours (library)" column of `npm run bench:e2e`: our relay or agent
 * embedded in a plain Node process, as a library user runs it
 * (`import { Relay, TunnelManager } from 'visiona-tunnel'`), started with
 * `node library-host.mjs` and no V8 flags (none can be set from inside a
 * process). Plain JavaScript, so nothing but our compiled package is loaded.
 * Log lines (info and up) go to stderr as JSON, one write per event-loop
 * turn, as an embedding application with a logger would do.
 *
 *   node bench/e2e/library-host.mjs --dist DIR relay --db FILE [--config JSON_FILE]
 *     prints {"event":"listening","agentUrl":...,"public":...}
 *   node bench/e2e/library-host.mjs --dist DIR agent --relay URL --local HOST:PORT [--config JSON_FILE]
 *     (token in VISIONA_TUNNEL_TOKEN) prints {"event":"online"} once the session is up
 * Exits 0 on SIGINT or SIGTERM after closing what it started.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate } from 'node:timers';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dist: { type: 'string' },
    db: { type: 'string' },
    config: { type: 'string' },
    relay: { type: 'string' },
    local: { type: 'string' },
  },
});
const role = positionals[0];
if (values.dist === undefined || (role !== 'relay' && role !== 'agent')) {
  process.stderr.write('usage: library-host.mjs --dist DIR relay|agent ...\n');
  process.exit(2);
}
const lib = await import(pathToFileURL(join(values.dist, 'index.js')).href);
const config = values.config === undefined ? {} : JSON.parse(readFileSync(values.config, 'utf8'));

// As cheap as the CLI's own logger (bench/README.md, "Costs found"): one ISO
// stamp per millisecond, no object spread, one write per event-loop turn.
let pending = [];
let stampMs = -1;
let stamp = '';
const logger = lib.createSinkLogger(
  (record) => {
    const now = Date.now();
    if (now !== stampMs) {
      stampMs = now;
      stamp = new Date(now).toISOString();
    }
    if (pending.length === 0) setImmediate(flushLog);
    pending.push(JSON.stringify(Object.assign({ time: stamp, level: record.level, msg: record.msg }, record.fields)));
  },
  {},
  { minLevel: 'info' },
);
function flushLog() {
  const lines = pending;
  pending = [];
  process.stderr.write(lines.join('\n') + '\n');
}

let stop;
if (role === 'relay') {
  const relay = new lib.Relay({
    agentListen: '127.0.0.1:0',
    publicListen: '127.0.0.1:0',
    baseDomain: 'localhost',
    dbPath: values.db,
    ...config,
    logger,
  });
  const addresses = await relay.listen();
  process.stdout.write(`${JSON.stringify({ event: 'listening', ...addresses })}\n`);
  stop = () => relay.close({ graceMs: 1000 });
} else {
  const manager = new lib.TunnelManager({
    relayUrl: values.relay,
    localAddr: values.local,
    token: process.env.VISIONA_TUNNEL_TOKEN ?? '',
    ...config,
    logger,
  });
  let announced = false;
  manager.subscribe((status) => {
    if (status.state === 'online' && !announced) {
      announced = true;
      process.stdout.write(`${JSON.stringify({ event: 'online' })}\n`);
    }
  });
  manager.start();
  stop = () => manager.stop();
}
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  });
}
