/**
 * A load generator of `bench:cluster`: one light agent session per
 * `ClusterAgentSpec`, each with its relays in order (its own node first,
 * then the others), at most `dialConcurrency` upgrades in flight while
 * ramping up, then idle (keepalive only). After a `mark` it times how long
 * every agent whose session went down took to be up again, on any node.
 *
 * Usage (by run.ts): node --import tsx cluster-load-generator.ts '<ClusterLoadGeneratorSettings JSON>'
 */
import { readFileSync } from 'node:fs';
import { serveCommands } from '../agents/child-handle.js';
import { startLightAgent } from '../agents/light-agent.js';
import type { ClusterAgentSpec, ClusterLoadGeneratorCommand, ClusterLoadGeneratorSettings, ClusterLoadGeneratorStatus } from './bench-cluster-types.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as ClusterLoadGeneratorSettings;
const agents = JSON.parse(readFileSync(settings.agentsFile, 'utf8')) as ClusterAgentSpec[];

/** Per agent: the relay of its current (or last) dial, and whether its session is up. */
const dialledRelay: string[] = agents.map((a) => a.relayUrls[0] as string);
const isUp = new Uint8Array(agents.length);
let up = 0;
let markAtMs = Date.now();
let dialsSinceMark = 0;
let failedDialsSinceMark = 0;
/** Per agent, since the mark: 1 once its session went down; when it was up again (0: not yet). */
let wentDown = new Uint8Array(agents.length);
let backAtMs = new Float64Array(agents.length);
const stops: Array<() => Promise<void>> = [];

let started = 0;
let firstDialsPending = 0;
let rampDone: (() => void) | undefined;

function startNext(): void {
  while (started < agents.length && firstDialsPending < settings.dialConcurrency) {
    const index = started++;
    const spec = agents[index] as ClusterAgentSpec;
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
        relayUrl: spec.relayUrls[0] as string,
        moreRelayUrls: spec.relayUrls.slice(1),
        onDial: (relayUrl) => (dialledRelay[index] = relayUrl),
        token: spec.token,
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
            isUp[index] = 1;
            finishFirstDial();
            if (wentDown[index] === 1 && backAtMs[index] === 0) backAtMs[index] = Date.now();
            if (up === agents.length) rampDone?.();
          },
          onSessionDown: () => {
            up--;
            isUp[index] = 0;
            if (wentDown[index] === 0) wentDown[index] = 1;
            backAtMs[index] = 0;
          },
        },
      }),
    );
  }
}

function status(): ClusterLoadGeneratorStatus {
  const upByRelay: Record<string, number> = {};
  const back: number[] = [];
  let downSinceMark = 0;
  for (let i = 0; i < agents.length; i++) {
    if (isUp[i] === 1) upByRelay[dialledRelay[i] as string] = (upByRelay[dialledRelay[i] as string] ?? 0) + 1;
    if (wentDown[i] === 1) {
      downSinceMark++;
      if (isUp[i] === 1 && (backAtMs[i] as number) > 0) back.push((backAtMs[i] as number) - markAtMs);
    }
  }
  back.sort((a, b) => a - b);
  const at = (fraction: number): number | null => {
    const needed = Math.ceil(fraction * downSinceMark);
    return needed === 0 || back.length < needed ? null : (back[needed - 1] as number);
  };
  return {
    agents: agents.length,
    up,
    upByRelay,
    dialsSinceMark,
    failedDialsSinceMark,
    downSinceMark,
    backSinceMark: back.length,
    p50BackAfterMs: at(0.5),
    p90BackAfterMs: at(0.9),
    allBackAfterMs: at(1),
    markAtMs,
    rssBytes: process.memoryUsage.rss(),
  };
}

process.send?.({ type: 'ready', agentPort: 0, publicPort: 0, pid: process.pid });

serveCommands<ClusterLoadGeneratorCommand>(async (command) => {
  switch (command.op) {
    case 'connectAll': {
      const startedAtMs = Date.now();
      const allUp = new Promise<void>((resolve) => {
        rampDone = resolve;
        if (up === agents.length) resolve();
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
    case 'agentsOn':
      return { names: agents.filter((_, i) => isUp[i] === 1 && dialledRelay[i] === command.relayUrl).map((a) => a.name) };
    case 'mark':
      markAtMs = Date.now();
      dialsSinceMark = 0;
      failedDialsSinceMark = 0;
      wentDown = new Uint8Array(agents.length);
      backAtMs = new Float64Array(agents.length);
      return { status: status() };
    case 'exit':
      setImmediate(() => {
        void Promise.all(stops.map((stop) => stop())).finally(() => process.exit(0));
      });
      return {};
  }
});
