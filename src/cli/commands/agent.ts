/**
 * `visiona-tunnel agent`: keeps a tunnel to the relay up and forwards its
 * streams to the local service, until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { TunnelManager } from '../../agent/index.js';
import type { Logger } from '../../shared/logger.js';
import { Secret } from '../../shared/secret.js';
import { ExitCode, parseCommandArgs, requireFlag, untilAborted, UsageError, type CliContext } from '../cli-context.js';

export const AGENT_HELP = `Usage:
  visiona-tunnel agent --relay ws(s)://HOST:PORT/tunnel/connect --local HOST:PORT
                       (--token-file FILE | VISIONA_TUNNEL_TOKEN=...) [--ca-file FILE]
                       [--host-header preserve|local|VALUE]

Dials the relay (reconnecting with backoff 1, 2, 4, 8, 16, 30 s and jitter),
and serves every visitor request on the local service. --token TOKEN also
works but the token is then visible in the process list.

Examples:
  VISIONA_TUNNEL_TOKEN=$T visiona-tunnel agent --relay wss://relay.example.com/tunnel/connect --local 127.0.0.1:3000
  visiona-tunnel agent --relay ws://127.0.0.1:8080/tunnel/connect --token-file /etc/visiona-tunnel/token --local localhost:5173
`;

const OPTIONS = {
  relay: { type: 'string' },
  local: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'host-header': { type: 'string' },
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
  const { values } = parseCommandArgs(args, OPTIONS, ctx.env);
  if (values.help === true) {
    ctx.stdout(AGENT_HELP);
    return ExitCode.Ok;
  }
  const caFile = values['ca-file'];
  const manager = new TunnelManager({
    relayUrl: requireFlag(values, 'relay'),
    localAddr: requireFlag(values, 'local'),
    token: readAgentToken(values, ctx, args),
    ...(typeof caFile === 'string' ? { ca: readFileSync(caFile) } : {}),
    ...(typeof values['host-header'] === 'string' ? { hostHeader: values['host-header'] } : {}),
    logger,
  });
  manager.subscribe((s) => logger.info('tunnel state', { state: s.state, attempt: s.attempt, lastError: s.lastError?.code }));
  manager.start();
  await untilAborted(ctx.signal);
  await manager.stop();
  return ExitCode.Ok;
}
