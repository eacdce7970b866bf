/**
 * `visiona-tunnel relay`: runs the relay until SIGINT/SIGTERM, then drains.
 */
import { readFileSync } from 'node:fs';
import { Relay } from '../../relay/index.js';
import type { Logger } from '../../shared/logger.js';
import { ExitCode, parseCommandArgs, requireFlag, untilAborted, type CliContext } from '../cli-context.js';

export const RELAY_HELP = `Usage:
  visiona-tunnel relay --agent-listen HOST:PORT [--public-listen HOST:PORT] [--admin-listen HOST:PORT]
                       --domain DOMAIN --db FILE [--tls-cert FILE --tls-key FILE] [--grace-ms MS]

Accepts agents on GET /tunnel/connect (token as ?token= or Authorization:
Bearer) and visitors at http(s)://AGENT.DOMAIN/ or /a/AGENT/. Without
--public-listen one listener serves both. On SIGINT/SIGTERM it stops taking
new visitors and agents, lets requests in flight finish (--grace-ms, default
10000), then exits. Every flag may also come from VISIONA_TUNNEL_<FLAG>.

Examples:
  visiona-tunnel relay --agent-listen 0.0.0.0:8080 --public-listen 0.0.0.0:8081 \\
    --domain tunnel.example.com --db /var/lib/visiona-tunnel/relay.db
  visiona-tunnel relay --agent-listen 127.0.0.1:8080 --domain localhost --db relay.db
`;

const OPTIONS = {
  'agent-listen': { type: 'string' },
  'public-listen': { type: 'string' },
  'admin-listen': { type: 'string' },
  domain: { type: 'string' },
  db: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'grace-ms': { type: 'string' },
} as const;

/** Runs `relay`; returns the exit code once stopped. */
export async function relayCommand(args: string[], ctx: CliContext, logger: Logger): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS, ctx.env);
  if (values.help === true) {
    ctx.stdout(RELAY_HELP);
    return ExitCode.Ok;
  }
  const tlsCert = values['tls-cert'];
  const tlsKey = values['tls-key'];
  const relay = new Relay({
    agentListen: requireFlag(values, 'agent-listen'),
    ...(typeof values['public-listen'] === 'string' ? { publicListen: values['public-listen'] } : {}),
    ...(typeof values['admin-listen'] === 'string' ? { adminListen: values['admin-listen'] } : {}),
    baseDomain: requireFlag(values, 'domain'),
    dbPath: requireFlag(values, 'db'),
    ...(typeof tlsCert === 'string' && typeof tlsKey === 'string'
      ? { tls: { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } }
      : {}),
    logger,
  });
  const addresses = await relay.listen();
  ctx.stdout(JSON.stringify({ event: 'listening', ...addresses }) + '\n');
  await untilAborted(ctx.signal);
  const graceMs = typeof values['grace-ms'] === 'string' ? Number(values['grace-ms']) : undefined;
  await relay.close(graceMs === undefined ? {} : { graceMs });
  return ExitCode.Ok;
}
