/**
 * `visiona-tunnel relay`: runs the relay until SIGINT/SIGTERM, then drains.
 * Settings: flags > VISIONA_TUNNEL_* > --config file > defaults.
 */
import { Relay } from '../../relay/index.js';
import type { Logger } from '../../shared/logger.js';
import { ExitCode, parseCommandArgs, untilAborted, type CliContext } from '../cli-context.js';
import { flagOptionsOf } from '../config/config-schema.js';
import { CONFIG_FLAG_OPTION, loadCommandSettings } from '../config/load-command-settings.js';
import { RELAY_CONFIG_SCHEMA } from '../config/relay-config-schema.js';
import { relayOptionsFromSettings } from '../config/relay-options.js';

export const RELAY_HELP = `Usage:
  visiona-tunnel relay --agent-listen HOST:PORT [--public-listen HOST:PORT] [--admin-listen HOST:PORT]
                       --domain DOMAIN --db FILE [--config FILE]
                       [--tls-cert FILE --tls-key FILE] [--trust-proxy ADDR[,ADDR...]] [--grace-ms MS]
                       [--admin-token-file FILE] [--admin-metrics-public] [--admin-dashboard on|off] [--drain-grace-ms MS]
                       [--node-id ID --peer-listen HOST:PORT --cluster-secret-file FILE
                        [--peer-advertise HOST:PORT] [--peer-tls-cert FILE --peer-tls-key FILE [--peer-ca FILE]]]

Accepts agents on GET /tunnel/connect (token as ?token= or Authorization:
Bearer) and visitors at http(s)://AGENT.DOMAIN/ or /a/AGENT/. Without
--public-listen one listener serves both. With --tls-cert and --tls-key it
serves https:// and wss:// itself; behind a TLS-terminating proxy, list the
proxy's address in --trust-proxy so its X-Forwarded-* headers are believed.

The admin listener serves /healthz and /readyz to anyone; /metrics
(Prometheus) and the admin API under /api/ need Authorization: Bearer with
the admin token from --admin-token-file or VISIONA_TUNNEL_ADMIN_TOKEN (at
least 16 characters). Without a token they answer 403;
--admin-metrics-public opens /metrics alone. A browser opening the admin
listener's / gets the operator dashboard: log in with the admin token
(exchanged for a session cookie), watch the fleet live, kick agents, revoke
tokens, set access (--admin-dashboard off turns it off).

A cluster: several relays on one PostgreSQL store (--db postgres://...), each
with its own --node-id and --peer-listen, and the same --cluster-secret-file.
Any node serves a visitor for any agent: the visitor's node checks access,
then forwards the request over an authenticated peer link to the agent's
node (one hop). Agents may list several --relay URLs, or dial a load balancer.

Prints one JSON line on stdout once listening:
  {"event":"listening","agent":"HOST:PORT","public":"HOST:PORT","agentUrl":"ws://...","publicUrl":"http://..."}
On SIGINT/SIGTERM it stops taking new visitors and agents, lets requests in
flight finish (--grace-ms, default 10000), then exits 0. A cluster node
drains instead (also on POST /api/drain): /readyz answers 503, its agents
are asked to move to other nodes (spread over cluster.drainSpreadMs) and
open their new link before the old one ends, visitors keep being served,
and it exits 0 once it holds nothing or --drain-grace-ms (default 30000)
has passed.

Settings: flags > VISIONA_TUNNEL_<FLAG> > --config FILE (YAML or TOML, see
docs/configuration.md; limits.* live there) > defaults.

Examples:
  visiona-tunnel relay --agent-listen 127.0.0.1:8080 --domain localhost --db relay.db
  visiona-tunnel relay --agent-listen 0.0.0.0:443 --domain tunnel.example.com --db /var/lib/visiona-tunnel/relay.db \\
    --tls-cert /etc/letsencrypt/live/tunnel.example.com/fullchain.pem --tls-key /etc/letsencrypt/live/tunnel.example.com/privkey.pem
  visiona-tunnel relay --config /etc/visiona-tunnel/relay.yaml --trust-proxy 127.0.0.1
  head -c 32 /dev/urandom | base64 > admin.token
  visiona-tunnel relay --agent-listen 127.0.0.1:8080 --admin-listen 127.0.0.1:9090 --admin-token-file admin.token --domain localhost --db relay.db
  curl -H "Authorization: Bearer $(cat admin.token)" http://127.0.0.1:9090/api/agents
  head -c 32 /dev/urandom | base64 > cluster.secret
  visiona-tunnel relay --agent-listen 10.0.0.11:8080 --domain tunnel.example.com --db postgres://tunnel@db.internal/tunnel \
    --node-id n1 --peer-listen 10.0.0.11:7401 --cluster-secret-file cluster.secret

Exit codes:
  0  stopped by SIGINT/SIGTERM after draining
  1  runtime failure (a listener could not bind, the store cannot be opened ...)
  2  bad command line or configuration (the message names the setting and value)
`;

const OPTIONS = { ...flagOptionsOf(RELAY_CONFIG_SCHEMA), ...CONFIG_FLAG_OPTION };

/** Runs `relay`; returns the exit code once stopped. */
export async function relayCommand(args: string[], ctx: CliContext, logger: Logger): Promise<number> {
  const parsed = parseCommandArgs(args, OPTIONS, ctx.env);
  if (parsed.values.help === true) {
    ctx.stdout(RELAY_HELP);
    return ExitCode.Ok;
  }
  const { values: settings } = loadCommandSettings(RELAY_CONFIG_SCHEMA, parsed, ctx.env);
  const relay = new Relay(relayOptionsFromSettings(settings, logger, ctx.env));
  try {
    const addresses = await relay.listen();
    ctx.stdout(JSON.stringify({ event: 'listening', ...addresses }) + '\n');
    // A drain asked through the admin API (POST /api/drain) ends in a closed relay too.
    await Promise.race([untilAborted(ctx.signal), relay.closed]);
    if (relay.cluster !== null) {
      // A cluster node drains: its agents move to the other nodes first, so no visitor notices.
      logger.info('relay draining', { graceMs: settings['cluster.drainGraceMs'] });
      await relay.drain({ graceMs: settings['cluster.drainGraceMs'] });
    } else logger.info('relay stopping', { graceMs: settings.graceMs });
  } finally {
    await relay.close({ graceMs: settings.graceMs });
  }
  logger.info('relay stopped');
  return ExitCode.Ok;
}
