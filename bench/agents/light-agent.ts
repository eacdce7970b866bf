/**
 * An idle agent as light as it can be, for opening thousands from one
 * process: our own WebSocket dial and yamux `Session` (client role,
 * keepalive every 10 s, answering the relay's pings), redialled by the
 * agent's own `ReconnectLoop` (same backoff, jitter and stability rules as
 * `TunnelClient`). Given more relay URLs, it moves to the next one after a
 * failed dial or an ended session, as `TunnelClient` does with several
 * `--relay`. It has no local service: any stream the relay opens is
 * answered with a fixed `200 pong`.
 */
import { buildConnectHeaders, buildConnectUrl } from '../../src/agent/connect-url.js';
import { ReconnectLoop, type LoopConnection } from '../../src/agent/reconnect-loop.js';
import type { TunnelClientHooks } from '../../src/agent/tunnel-client-hooks.js';
import { Session, type MuxStream } from '../../src/mux/index.js';
import { dialWebSocket } from '../../src/transport/index.js';

/** The answer to any visitor request that reaches a light agent. */
const PONG_RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong');

/** Settings of one light agent. */
export interface LightAgentOptions {
  relayUrl: string;
  /** Further relays (a cluster's other nodes), tried in turn after `relayUrl`. */
  moreRelayUrls?: readonly string[];
  /** Called with the relay URL of each dial, before it starts. */
  onDial?: (relayUrl: string) => void;
  token: string;
  localAddress: string | undefined;
  keepAliveIntervalMs: number;
  hooks: TunnelClientHooks;
}

/** Starts a light agent's dial loop; returns a function that stops it. */
export function startLightAgent(options: LightAgentOptions): () => Promise<void> {
  const urls = [options.relayUrl, ...(options.moreRelayUrls ?? [])].map((relayUrl) => ({ relayUrl, url: buildConnectUrl(relayUrl, options.token) }));
  const headers = buildConnectHeaders(options.token);
  let next = 0;
  const advance = (): void => {
    next = (next + 1) % urls.length;
  };
  const connect = async (_attempt: number, signal: AbortSignal): Promise<LoopConnection> => {
    const target = urls[next] as (typeof urls)[number];
    options.onDial?.(target.relayUrl);
    let duplex: Awaited<ReturnType<typeof dialWebSocket>>;
    try {
      duplex = await dialWebSocket(target.url, {
        headers,
        signal,
        handshakeTimeoutMs: 10_000,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      });
    } catch (err) {
      advance();
      throw err;
    }
    const session = new Session(duplex, {
      role: 'client',
      keepAliveIntervalMs: options.keepAliveIntervalMs,
      keepAliveTimeoutMs: options.keepAliveIntervalMs + 5_000,
    });
    session.on('stream', answerPong);
    return {
      closed: session.closed.finally(() => {
        if (urls.length > 1) advance();
      }),
      close: async () => {
        await session.close({ graceMs: 0 });
        await duplex.closeGracefully({ timeoutMs: 1_000 });
      },
    };
  };
  const loop = new ReconnectLoop({ connect, hooks: options.hooks });
  loop.start();
  return () => loop.stop();
}

function answerPong(stream: MuxStream): void {
  stream.on('error', () => {});
  stream.resume();
  stream.end(PONG_RESPONSE);
}
