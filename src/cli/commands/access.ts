/**
 * `visiona-tunnel access set|show`: who may visit an agent. New agents are
 * private (every visitor gets 401) until a policy says otherwise.
 */
import { readFileSync } from 'node:fs';
import type { AccessPolicyInput, JwtAlgorithm } from '../../relay/access/index.js';
import { redactAccessPolicy } from '../../relay/access/index.js';
import { openRelayStore } from '../../relay/store/index.js';
import { ExitCode, parseCommandArgs, requireFlag, UsageError, type CliContext } from '../cli-context.js';

export const ACCESS_HELP = `Usage:
  visiona-tunnel access set AGENT private|public [--db FILE|URL]
  visiona-tunnel access set AGENT basic --user NAME --password-file FILE [--db FILE|URL]
  visiona-tunnel access set AGENT bearer [--db FILE|URL]          (prints a new visitor token)
  visiona-tunnel access set AGENT jwt --alg HS256 --secret-file FILE [--issuer ISS] [--audience AUD]
  visiona-tunnel access set AGENT jwt --alg RS256|ES256 --public-key-file PEM [--issuer ISS] [--audience AUD]
  visiona-tunnel access show AGENT [--db FILE|URL]

Visitors are denied unless the agent's policy lets them in. JWTs must carry
an "agent" claim equal to the agent's name; a JWT may also be given once as
?access_token=..., which the relay turns into an HttpOnly cookie.

Examples:
  visiona-tunnel access set edge-01 public --db relay.db
  visiona-tunnel access set edge-01 basic --user admin --password-file ./pw --db relay.db
  VT=$(visiona-tunnel access set edge-01 bearer --db relay.db)   # then: curl -H "Authorization: Bearer $VT" ...
  visiona-tunnel access set edge-01 jwt --alg HS256 --secret-file ./jwt-secret --issuer https://id.example.com --db relay.db
  visiona-tunnel access show edge-01 --db relay.db

Exit codes:
  0  done
  1  the store cannot be opened, or a file cannot be read
  2  bad command line, unknown agent (show), or an invalid policy
`;

const OPTIONS = {
  db: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  alg: { type: 'string' },
  'secret-file': { type: 'string' },
  'public-key-file': { type: 'string' },
  issuer: { type: 'string' },
  audience: { type: 'string' },
} as const;

/** Runs `access ...`; returns the exit code. */
export async function accessCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ctx.env);
  const [sub, agent, mode] = positionals;
  if (values.help === true || sub === undefined) {
    ctx.stdout(ACCESS_HELP);
    return values.help === true ? ExitCode.Ok : ExitCode.Usage;
  }
  if (agent === undefined) throw new UsageError(`access ${sub} needs an AGENT name`);
  const store = await openRelayStore(typeof values.db === 'string' ? values.db : 'visiona-tunnel.db');
  try {
    if (sub === 'show') {
      const policy = await store.access.getPolicyConfig(agent);
      if (policy === undefined) throw new UsageError(`unknown agent: ${agent}`);
      ctx.stdout(JSON.stringify(redactAccessPolicy(policy), null, 2) + '\n');
      return ExitCode.Ok;
    }
    if (sub !== 'set') throw new UsageError(`unknown access subcommand: ${sub}`);
    await store.tokens.ensureAgent(agent);
    const readSecret = (flag: string) => readFileSync(requireFlag(values, flag), 'utf8').trim();
    let policy: AccessPolicyInput;
    switch (mode) {
      case 'private':
      case 'public':
      case 'bearer':
        policy = { mode };
        break;
      case 'basic':
        policy = { mode };
        break;
      case 'jwt': {
        const alg = requireFlag(values, 'alg') as JwtAlgorithm;
        const common = {
          mode: 'jwt' as const,
          algorithm: alg,
          ...(typeof values.issuer === 'string' ? { issuer: values.issuer } : {}),
          ...(typeof values.audience === 'string' ? { audience: values.audience } : {}),
        };
        policy = alg === 'HS256' ? { ...common, secret: readSecret('secret-file') } : { ...common, publicKeyPem: readSecret('public-key-file') };
        break;
      }
      default:
        throw new UsageError(`access set needs a mode: private, public, basic, bearer or jwt (got: ${String(mode)})`);
    }
    await store.access.setPolicy(agent, policy);
    if (mode === 'basic') {
      await store.access.addBasicUser(agent, requireFlag(values, 'user'), readSecret('password-file'), { replace: true });
    }
    if (mode === 'bearer') {
      const created = await store.access.addVisitorToken(agent);
      ctx.stdout(created.token.reveal() + '\n');
      ctx.stderr(`visitor token ${created.tokenId} created for agent ${agent}; it is shown only once\n`);
    } else {
      ctx.stderr(`access policy of ${agent}: ${mode}\n`);
    }
    return ExitCode.Ok;
  } finally {
    await store.close();
  }
}
