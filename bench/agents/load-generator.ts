/**
 * The load generator: opens one light agent session per token to the relay,
 * at most `dialConcurrency` upgrades in flight while ramping up, then leaves
 * them idle (keepalive only). It counts sessions and, after a `mark`, how
 * fast every agent came back (the relay-restart measurement).
 *
 * Usage (by run.ts): node --import tsx load-generator.ts '<LoadGeneratorSettings JSON>'
 */
import { readFileSync } from 'node:fs';
import type { LoadGeneratorCommand, LoadGeneratorSettings, LoadGeneratorStatus } from './bench-agents-types.js';
import { serveCommands } from './child-handle.js';
import { startLightAgent } from './light-agent.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as LoadGeneratorSettings;
const tokens = JSON.parse(readFileSync(settings.tokensFile, 'utf8')) as string[];

let up = 0;
let markAtMs = Date.now();
let dialsSinceMark = 0;
let failedDialsSinceMark = 0;
/** Per agent: when its session came up since the mark (0 = not yet). */
let upAfterMark = new Float64Array(tokens.length);
let reconnectedSinceMark = 0;
let firstUpAtMs: number | null = null;
let firstDownAtMs: number | null = null;
let lastDownAtMs: number | null = null;
let lastUpAtMs: number | null = null;
const stops: Array<() => Promise<void>> = [];

/** Ramp-up state: agents started but whose first dial has not finished. */
let started = 0;
let firstDialsPending = 0;
let rampDone: (() => void) | undefined;

function startNext(): void {
  while (started < tokens.length && firstDialsPending < settings.dialConcurrency) {
    const index = started++;
    firstDialsPending++;
    let firstDialDone = false;
    const finishFirstDial = (): void => {
      if (firstDialDone) return;
      firstDialDone = true;
      firstDialsPending--;
      startNext();
    };
    const addresses = settings.localAddresses;
    stops.push(
      startLightAgent({
        relayUrl: settings.relayUrl,
        token: tokens[index] as string,
        localAddress: addresses.length === 0 ? undefined : addresses[index % addresses.length],
        keepAliveIntervalMs: settings.keepAliveIntervalMs,
        hooks: {
          onDialAttempt: () => {
            dialsSinceMark++;
          },
          onDialFailed: () => {
            failedDialsSinceMark++;
            finishFirstDial();
          },
          onSessionUp: () => {
            up++;
            finishFirstDial();
            const now = Date.now();
            if (upAfterMark[index] === 0) {
              upAfterMark[index] = now;
              reconnectedSinceMark++;
              firstUpAtMs ??= now;
              lastUpAtMs = now;
            }
            if (up === tokens.length) rampDone?.();
          },
          onSessionDown: () => {
            up--;
            const now = Date.now();
            firstDownAtMs ??= now;
            lastDownAtMs = now;
          },
        },
      }),
    );
  }
}

function percentileAfterMark(fraction: number): number | null {
  const times = Array.from(upAfterMark).filter((t) => t > 0).sort((a, b) => a - b);
  const needed = Math.ceil(fraction * tokens.length);
  if (times.length < needed || needed === 0) return null;
  return (times[needed - 1] as number) - markAtMs;
}

function status(): LoadGeneratorStatus {
  return {
    agents: tokens.length,
    up,
    dialsSinceMark,
    failedDialsSinceMark,
    reconnectedSinceMark,
    firstUpAtMs,
    lastUpAtMs,
    firstDownAtMs,
    lastDownAtMs,
    p50UpAfterMs: percentileAfterMark(0.5),
    p90UpAfterMs: percentileAfterMark(0.9),
    markAtMs,
    rssBytes: process.memoryUsage.rss(),
  };
}

process.send?.({ type: 'ready', agentPort: 0, publicPort: 0, pid: process.pid });

serveCommands<LoadGeneratorCommand>(async (command) => {
  switch (command.op) {
    case 'connectAll': {
      const startedAtMs = Date.now();
      const allUp = new Promise<void>((resolve) => {
        rampDone = resolve;
        if (up === tokens.length) resolve();
      });
      startNext();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, command.timeoutMs)));
      await Promise.race([allUp, timedOut]);
      clearTimeout(timer);
      return { status: status(), rampMs: Date.now() - startedAtMs };
    }
    case 'status':
      return { status: status() };
    case 'mark':
      markAtMs = Date.now();
      dialsSinceMark = 0;
      failedDialsSinceMark = 0;
      upAfterMark = new Float64Array(tokens.length);
      reconnectedSinceMark = 0;
      firstUpAtMs = null;
      lastUpAtMs = null;
      firstDownAtMs = null;
      lastDownAtMs = null;
      return { status: status() };
    case 'exit':
      setImmediate(() => {
        void Promise.all(stops.map((stop) => stop())).finally(() => process.exit(0));
      });
      return {};
  }
});
