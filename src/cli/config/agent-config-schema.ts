/**
 * The settings of `visiona-tunnel agent`: flags, environment variables and
 * config-file keys, with their defaults (taken from the tunnel client's own
 * defaults, so the two cannot drift). The token itself is never a config-file
 * key: it comes from `tokenFile`, `VISIONA_TUNNEL_TOKEN` or `--token`.
 */
import { DEFAULT_TUNNEL_CLIENT_CONFIG } from '../../agent/tunnel-client-config.js';
import { DEFAULT_SERVICE_STOP_GRACE_MS } from '../spawn/service-defaults.js';
import type { ConfigField, ConfigSchema, ResolvedSettings } from './config-schema.js';

const D = DEFAULT_TUNNEL_CLIENT_CONFIG;

const AGENT_FIELDS = [
  {
    key: 'relay',
    flag: 'relay',
    type: 'list',
    repeatable: true,
    required: true,
    description:
      'The relay\'s tunnel endpoint, `ws://HOST:PORT/tunnel/connect` or `wss://...` (TLS). Give it several times (or `a,b`) for the nodes of a relay cluster: they are tried in order, then round-robin, each failed dial or ended session moving to the next.',
  },
  {
    key: 'local',
    flag: 'local',
    type: 'hostPort',
    description: 'The local service, `HOST:PORT` (`localhost` works for 127.0.0.1 and ::1). Required unless `spawn` is set.',
  },
  {
    key: 'tokenFile',
    flag: 'token-file',
    type: 'path',
    description: 'File holding the agent token (else `VISIONA_TUNNEL_TOKEN`); keep it readable by the agent only.',
  },
  {
    key: 'caFile',
    flag: 'ca-file',
    type: 'path',
    description: 'PEM CA certificates trusted for `wss://` instead of the system CAs (a private CA or a self-signed relay).',
  },
  {
    key: 'links',
    flag: 'links',
    type: 'enum',
    values: ['auto', '1', '2', '3', '4', '5', '6', '7', '8'],
    default: 'auto',
    description:
      'HA links held at once, each on another relay node: `auto` is 2 when two or more `relay` URLs are given or the relay answers as a cluster node, else 1. A node refuses a second link of the same agent (`ERR_RELAY_LINK_ON_THIS_NODE`), so the links spread over the nodes.',
  },
  {
    key: 'hostHeader',
    flag: 'host-header',
    type: 'string',
    default: D.hostHeader,
    description: '`Host` sent to the local service: `preserve` (the visitor\'s), `local` (the `local` address) or a fixed value.',
  },
  {
    key: 'statusListen',
    flag: 'status-listen',
    type: 'listen',
    description: 'Address of the local status page and `GET /status` (off unless set; keep it on loopback).',
  },
  {
    key: 'visitorUrl',
    flag: 'visitor-url',
    type: 'url',
    description: 'The agent\'s public URL, only displayed (the `Forwarding URL -> local` line, the status panel and page); it wins over the URL the relay announces (`X-Tunnel-Public-Url`), which the Go relay never sends.',
  },
  {
    key: 'spawn',
    flag: 'spawn',
    type: 'string',
    description:
      'Shell command that starts the local service: it gets a free loopback port as `PORT`, is awaited until the port accepts connections, restarted with backoff when it exits, and stopped with the agent.',
  },
  {
    key: 'spawnStopGraceMs',
    type: 'integer',
    min: 0,
    default: DEFAULT_SERVICE_STOP_GRACE_MS,
    description: 'On shutdown, how long the spawned service has between SIGTERM and SIGKILL.',
  },
  {
    key: 'maxRefusals',
    flag: 'max-refusals',
    type: 'integer',
    min: 1,
    default: 5,
    description:
      'The agent exits with code 3 after this many identical refusals in a row from the relay (`401`/`403`: wrong or revoked token; `404`: wrong path, not `/tunnel/connect`), which do not fix themselves; a supervisor (systemd) then restarts it with its own policy.',
  },
  {
    key: 'retryForever',
    flag: 'retry-forever',
    type: 'boolean',
    default: false,
    description: 'Never give up on refusals (`maxRefusals` is ignored): retry them forever, every 30 s after the third.',
  },
  {
    key: 'handshakeTimeoutMs',
    type: 'integer',
    min: 1,
    default: D.handshakeTimeoutMs,
    description: 'Deadline of the WebSocket upgrade to the relay.',
  },
  {
    key: 'keepAliveIntervalMs',
    type: 'integer',
    min: 0,
    default: D.keepAliveIntervalMs,
    description: 'yamux keepalive ping interval; 0 = off.',
  },
  {
    key: 'stabilityThresholdMs',
    type: 'integer',
    min: 0,
    default: D.stabilityThresholdMs,
    description: 'A session that lived less than this counts as a failed attempt and backs off.',
  },
  {
    key: 'maxStreamWindowBytes',
    type: 'integer',
    min: 256 * 1024,
    max: 0x7fff_ffff,
    default: D.maxStreamWindowBytes,
    description: 'yamux receive window per stream (at least 256 KiB).',
  },
  {
    key: 'stopGraceMs',
    type: 'integer',
    min: 0,
    default: 5_000,
    description: 'On SIGINT/SIGTERM, how long open streams may finish before they are reset (the library default is 0).',
  },
] as const satisfies readonly ConfigField[];

/** The settings of `visiona-tunnel agent`. */
export const AGENT_CONFIG_SCHEMA: ConfigSchema<typeof AGENT_FIELDS> = Object.freeze({
  command: 'agent',
  summary:
    'The agent dials the relay, keeps the tunnel up (backoff 1, 2, 4, 8, 16, 30 s with jitter) and serves visitor requests on the local service. The token is not a config-file key: use `tokenFile` or `VISIONA_TUNNEL_TOKEN`.',
  fields: AGENT_FIELDS,
});

/** Resolved settings of `agent`, keyed by config-file key. */
export type AgentSettings = ResolvedSettings<(typeof AGENT_CONFIG_SCHEMA)['fields']>;
