/**
 * `visiona-tunnel agent`: keeps a tunnel to the relay up and forwards its
 * streams to the local service, until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { RequestRecorder } from '../../agent/request-recorder.js';
import { TunnelManager } from '../../agent/tunnel-manager.js';
import type { Logger } from '../../shared/logger.js';
import { Secret } from '../../shared/secret.js';
import { ExitCode, parseCommandArgs, requireFlag, untilAborted, UsageError, type CliContext } from '../cli-context.js';
import { StatusPanel } from '../status-panel.js';
import { AGENT_CONFIG_SCHEMA } from '../config/agent-config-schema.js';
import { exposeSettingsAsFlags, linksFromSettings, tunnelTuningFromSettings } from '../config/agent-options.js';
import { flagOptionsOf } from '../config/config-schema.js';
import { CONFIG_FLAG_OPTION, loadCommandSettings, readSettingFile } from '../config/load-command-settings.js';
import { createSpawnedService } from '../spawn/spawned-service.js';

// The status page (--status-listen) and the service process (--spawn) are
// loaded only when asked for, so a plain agent holds less idle memory.

export const AGENT_HELP = `Usage:
  visiona-tunnel agent --relay ws(s)://HOST:PORT/tunnel/connect --local HOST:PORT
                       (--token-file FILE | VISIONA_TUNNEL_TOKEN=...) [--ca-file FILE]
                       [--host-header preserve|local|VALUE]
                       [--status-listen HOST:PORT] [--visitor-url URL]
                       [--max-refusals N | --retry-forever]
                       [--spawn 'COMMAND'] [--links auto|N] [--config FILE]

Dials the relay (reconnecting with backoff 1, 2, 4, 8, 16, 30 s and jitter),
and serves every visitor request on the local service. --token TOKEN also
works but the token is then visible in the process list.

On a terminal, a live panel shows the connection and the last requests;
otherwise one JSON log line is written per state change and per request.
--status-listen 127.0.0.1:4040 serves a status page (live requests with their
headers, replay to the local service) and GET /status; loopback only.
Once online it prints 'Forwarding <public URL> -> <local>' (on stdout when
stderr is not a terminal), with the URL our relay announces for this agent
(relay --agent-public-url), or --visitor-url, which wins; with a relay that
announces none (the Go relay) and no --visitor-url, there is no such line.

--spawn 'COMMAND' starts the local service too: it runs COMMAND with a free
loopback port in PORT (--local is then optional: 127.0.0.1:PORT), opens the
tunnel once the port accepts connections, restarts COMMAND with backoff when
it exits, logs its output, and stops it (SIGTERM, then SIGKILL) on exit.
--ca-file FILE trusts a private CA for wss:// instead of the system CAs.

HA links: --relay may be given several times (nodes of a relay cluster).
--links N holds N sessions at once, each on another node, so the device
stays reachable while a node dies or is restarted; the default, auto, holds
two when there are two or more --relay URLs or the relay is a cluster node.
When a draining node asks a link to move, the agent opens the replacement
first and lets the old session finish its requests (make before break).

A refusal that does not fix itself (401/403: wrong or revoked token; 404: a
--relay path other than /tunnel/connect) is logged at error with a hint and
shown in the panel; after --max-refusals (5) identical ones in a row the
agent exits with code 3, unless --retry-forever.

Settings: flags > VISIONA_TUNNEL_<FLAG> > --config FILE (YAML or TOML, see
docs/configuration.md) > defaults. The token is never read from --config.

Examples:
  VISIONA_TUNNEL_TOKEN=$T visiona-tunnel agent --relay wss://relay.example.com/tunnel/connect --local 127.0.0.1:3000
  visiona-tunnel agent --relay ws://127.0.0.1:8080/tunnel/connect --token-file /etc/visiona-tunnel/token --local localhost:5173
  VISIONA_TUNNEL_TOKEN=$T visiona-tunnel agent --relay wss://relay.example.com/tunnel/connect --spawn 'node server.js'
  visiona-tunnel agent --config /etc/visiona-tunnel/agent.yaml --ca-file /etc/visiona-tunnel/ca.pem

Exit codes:
  0  stopped by SIGINT/SIGTERM (the tunnel closed, the spawned service stopped)
  1  runtime failure (the status listener could not bind ...)
  2  bad command line or configuration (the message names the setting and value)
  3  gave up: the relay refused the agent --max-refusals times in a row the same
     way (wrong or revoked token, wrong path); not with --retry-forever
`;

const OPTIONS = {
  ...flagOptionsOf(AGENT_CONFIG_SCHEMA),
  ...CONFIG_FLAG_OPTION,
  local: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'host-header': { type: 'string' },
  'status-listen': { type: 'string' },
  'visitor-url': { type: 'string' },
} as const;

/** Reads the agent's token from --token-file, VISIONA_TUNNEL_TOKEN or --token (warned). */
export function readAgentToken(values: Record<string, string | boolean | undefined>, ctx: CliContext, argv: string[]): Secret {
  const file = values['token-file'];
  if (typeof file === 'string') return new Secret(readFileSync(file, 'utf8').trim());
  if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
    ctx.stderr('warning: --token makes the token visible in the process list; prefer --token-file or VISIONA_TUNNEL_TOKEN\n');
  }
  const token = values.token;
  if (typeof token !== 'string' || token === '') {
    throw new UsageError('a token is required: --token-file FILE or VISIONA_TUNNEL_TOKEN');
  }
  return new Secret(token);
}

/** Runs `agent`; returns the exit code once stopped. */
export async function agentCommand(args: string[], ctx: CliContext, logger: Logger): Promise<number> {
  const parsed = parseCommandArgs(args, OPTIONS, ctx.env);
  const { values } = parsed;
  if (values.help === true) {
    ctx.stdout(AGENT_HELP);
    return ExitCode.Ok;
  }
  // Config-file values and defaults become flag values: the code below reads one place.
  const { values: settings } = loadCommandSettings(AGENT_CONFIG_SCHEMA, parsed, ctx.env);
  exposeSettingsAsFlags(values, AGENT_CONFIG_SCHEMA, settings);
  const service = await createSpawnedService(settings, logger, ctx.env);
  if (service !== undefined) values.local = service.address;
  else if (settings.local === undefined) throw new UsageError('--local HOST:PORT (or --spawn COMMAND) is required');
  const caFile = values['ca-file'];
  const recorder = new RequestRecorder();
  const [relayUrl, ...moreRelayUrls] = settings.relay;
  const manager = new TunnelManager({
    relayUrl: relayUrl ?? requireFlag(values, 'relay'),
    ...(moreRelayUrls.length === 0 ? {} : { moreRelayUrls }),
    localAddr: requireFlag(values, 'local'),
    token: readAgentToken(values, ctx, args),
    ...(typeof caFile === 'string' ? { ca: readSettingFile('caFile', caFile) } : {}),
    ...tunnelTuningFromSettings(settings),
    links: linksFromSettings(settings),
    maxRefusals: settings.retryForever ? 0 : settings.maxRefusals,
    ...(typeof values['host-header'] === 'string' ? { hostHeader: values['host-header'] } : {}),
    hooks: recorder.hooks,
    // Bodies are kept only for the status page's replay.
    recordRequestBodyBytes: typeof values['status-listen'] === 'string' ? recorder.maxBodyBytes : 0,
    logger,
  });
  const stopStatus = await startAgentStatus(manager, recorder, values, ctx, logger);
  const stopAnnouncing = announceForwarding(manager, values, ctx, logger);
  try {
    // With --spawn, the tunnel opens once the local service accepts connections.
    await service?.start({ signal: ctx.signal }).catch((err: unknown) => {
      if (!ctx.signal.aborted) throw err;
    });
    if (!ctx.signal.aborted) manager.start();
    const gaveUp = await Promise.race([untilAborted(ctx.signal).then(() => null), manager.whenGaveUp()]);
    await manager.stop();
    if (gaveUp !== null) return ExitCode.Refused;
  } finally {
    stopAnnouncing();
    await stopStatus();
    await service?.stop();
  }
  return ExitCode.Ok;
}

/**
 * Prints `Forwarding <public URL> -> <local>` each time the tunnel comes
 * online with a URL not printed yet: --visitor-url, else the one the relay
 * announced (`X-Tunnel-Public-Url`; the Go relay sends none, so then no
 * line). On a terminal it goes above the panel; elsewhere to stdout (stderr
 * carries the JSON log, which gets a `forwarding` line too).
 */
function announceForwarding(
  manager: TunnelManager,
  values: Record<string, string | boolean | undefined>,
  ctx: CliContext,
  logger: Logger,
): () => void {
  const visitorUrl = typeof values['visitor-url'] === 'string' ? values['visitor-url'] : undefined;
  const local = values.local as string;
  let printed: string | undefined;
  return manager.subscribe((status) => {
    const url = visitorUrl ?? status.publicUrl;
    if (status.state !== 'online' || url === undefined || url === printed) return;
    printed = url;
    const line = `Forwarding ${url} -> ${local}\n`;
    if (ctx.isTty) {
      ctx.stderr(line);
      return;
    }
    ctx.stdout(line);
    logger.info('forwarding', { publicUrl: url, localAddr: local });
  });
}

/**
 * The live panel (or per-event log lines) and, with --status-listen, the
 * status page; returns what stops both. On a terminal, other stderr output
 * is routed through the panel so that it prints above it.
 */
async function startAgentStatus(
  manager: TunnelManager,
  recorder: RequestRecorder,
  values: Record<string, string | boolean | undefined>,
  ctx: CliContext,
  logger: Logger,
): Promise<() => Promise<void>> {
  const visitorUrl = typeof values['visitor-url'] === 'string' ? values['visitor-url'] : undefined;
  const listen = values['status-listen'];
  const common = { relayUrl: (values.relay as string).split(',')[0] as string, localAddr: values.local as string, ...(visitorUrl ? { visitorUrl } : {}) };
  const server =
    typeof listen === 'string'
      ? new (await import('../../agent/status-server.js')).StatusServer({
          listen,
          source: manager,
          recorder,
          ...common,
          ...(typeof values['host-header'] === 'string' ? { hostHeader: values['host-header'] } : {}),
          logger,
        })
      : undefined;
  if (server !== undefined) {
    try {
      const { url } = await server.listen();
      logger.info('status page', { url });
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  const stderr = ctx.stderr;
  const panel = new StatusPanel({ source: manager, recorder, isTty: ctx.isTty, write: stderr, logger, columns: () => process.stderr.columns ?? 80, ...common });
  if (ctx.isTty) ctx.stderr = (text) => panel.print(text);
  panel.start();
  return async () => {
    panel.stop();
    ctx.stderr = stderr;
    await server?.close();
  };
}
