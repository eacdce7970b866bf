/**
 * Load generator for chaos scenario 4: one process running many agents
 * (`TunnelClient` from the library, default settings: backoff with +/-20 %
 * jitter, keepalive every 10 s) against one relay. Prints one JSON line per
 * hook event on stdout:
 *   {"event":"dial","i":N,"attempt":A,"atMs":T}
 *   {"event":"up","i":N,"atMs":T}
 *   {"event":"down","i":N,"code":"...","atMs":T}
 *   {"event":"retry","i":N,"attempt":A,"delayMs":D,"atMs":T}
 * (T is Date.now()). Stops every client on SIGTERM/SIGINT, prints
 * {"event":"stopped"} and exits.
 *
 * Usage: node --import tsx test/chaos/agent-swarm.ts CONFIG.json
 * CONFIG: { "relayUrl": "ws://...", "localAddr": "127.0.0.1:PORT", "tokens": ["vt_...", ...] }
 */
import { readFileSync } from 'node:fs';
import { TunnelClient } from '../../src/agent/index.js';

interface SwarmConfig {
  relayUrl: string;
  localAddr: string;
  tokens: string[];
}

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as SwarmConfig;
const out: string[] = [];
let flushScheduled = false;
/** Lines are batched per tick: 500 agents would otherwise make 500 writes in a burst. */
function emit(line: Record<string, unknown>): void {
  out.push(JSON.stringify({ ...line, atMs: Date.now() }));
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    process.stdout.write(out.splice(0).join('\n') + '\n');
  });
}

const clients = config.tokens.map(
  (token, i) =>
    new TunnelClient({
      relayUrl: config.relayUrl,
      token,
      localAddr: config.localAddr,
      hooks: {
        onDialAttempt: (attempt) => emit({ event: 'dial', i, attempt }),
        onSessionUp: () => emit({ event: 'up', i }),
        onSessionDown: (err) => emit({ event: 'down', i, code: (err as { code?: unknown } | undefined)?.code ?? null }),
        onRetryScheduled: (attempt, delayMs) => emit({ event: 'retry', i, attempt, delayMs }),
      },
    }),
);
for (const client of clients) client.start();

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(clients.map((c) => c.stop()));
  const rest = out.splice(0).map((l) => l + '\n');
  process.stdout.write(rest.join('') + JSON.stringify({ event: 'stopped' }) + '\n', () => process.exit(0));
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
