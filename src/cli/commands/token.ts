/**
 * `visiona-tunnel token create|list|revoke`: agents' tokens in the relay's
 * store (an SQLite file, or the
 * PostgreSQL database of a relay cluster). `token create` prints the token alone on stdout, so
 * `T=$(visiona-tunnel token create edge-01)` works.
 */
import { openRelayStore } from '../../relay/store/index.js';
import { ExitCode, parseCommandArgs, UsageError, type CliContext } from '../cli-context.js';

export const TOKEN_HELP = `Usage:
  visiona-tunnel token create AGENT [--db FILE|URL] [--label TEXT]
  visiona-tunnel token list [AGENT] [--db FILE|URL] [--json]
  visiona-tunnel token revoke AGENT|TOKEN_ID [--db FILE|URL]

Manages agent tokens in the relay's store (default --db ./visiona-tunnel.db,
or VISIONA_TUNNEL_DB): an SQLite file, or a postgres:// URL for a relay
cluster. A token is shown once, at creation, and stored only as a hash.
Revoking disconnects the agent's live session within a second, on whichever
node holds it.

Examples:
  T=$(visiona-tunnel token create edge-01 --db /var/lib/visiona-tunnel/relay.db)
  visiona-tunnel token list --db relay.db
  visiona-tunnel token revoke edge-01 --db relay.db
  visiona-tunnel token create edge-02 --db postgres://tunnel@db.internal:5432/tunnel

Exit codes:
  0  done
  1  nothing to revoke, or the store cannot be opened
  2  bad command line
`;

const OPTIONS = {
  db: { type: 'string' },
  label: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Runs `token ...`; returns the exit code. */
export async function tokenCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ctx.env);
  const [sub, target] = positionals;
  if (values.help === true || sub === undefined) {
    ctx.stdout(TOKEN_HELP);
    return sub === undefined && values.help !== true ? ExitCode.Usage : ExitCode.Ok;
  }
  const store = await openRelayStore(typeof values.db === 'string' ? values.db : 'visiona-tunnel.db');
  try {
    switch (sub) {
      case 'create': {
        if (target === undefined) throw new UsageError('token create needs an AGENT name');
        await store.tokens.ensureAgent(target);
        const created = await store.tokens.createToken(target, typeof values.label === 'string' ? { label: values.label } : {});
        ctx.stdout(created.token.reveal() + '\n');
        ctx.stderr(`token ${created.tokenId} created for agent ${target}; it is shown only once\n`);
        return ExitCode.Ok;
      }
      case 'list': {
        const tokens = await store.tokens.listTokens(target);
        if (values.json === true) {
          ctx.stdout(JSON.stringify(tokens, null, 2) + '\n');
        } else {
          ctx.stdout('TOKEN_ID          AGENT            CREATED                   LAST_USED                 REVOKED\n');
          for (const t of tokens) {
            const iso = (ms: number | null | undefined) => (ms == null ? '-' : new Date(ms).toISOString());
            ctx.stdout(
              `${t.tokenId.padEnd(17)} ${t.agentName.padEnd(16)} ${iso(t.createdAtMs).padEnd(25)} ${iso(t.lastUsedAtMs).padEnd(25)} ${iso(t.revokedAtMs)}\n`,
            );
          }
        }
        return ExitCode.Ok;
      }
      case 'revoke': {
        if (target === undefined) throw new UsageError('token revoke needs an AGENT name or a TOKEN_ID');
        const result = await store.tokens.revokeToken(target);
        ctx.stdout(`revoked ${result.revokedTokenIds.length} token(s): ${result.revokedTokenIds.join(', ') || '-'}\n`);
        return result.revokedTokenIds.length > 0 ? ExitCode.Ok : ExitCode.Failure;
      }
      default:
        throw new UsageError(`unknown token subcommand: ${sub}`);
    }
  } finally {
    await store.close();
  }
}
