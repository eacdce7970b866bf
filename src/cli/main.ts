/**
 * The `visiona-tunnel` command: dispatches to a subcommand, owns the one
 * AbortController of the process (SIGINT/SIGTERM), picks the log sink, and
 * maps errors to exit codes.
 */
import { TunnelError, type TunnelErrorCode } from '../shared/errors.js';
import { ExitCode, type CliContext, UsageError } from './cli-context.js';
import { createCliLogger, createLineBatcher, LOG_LEVELS, type LogLevel } from './log-sink.js';
import { packageVersion } from '../shared/package-version.js';
import { closestName } from './option-suggestion.js';

// Commands are loaded on demand, so `agent` does not load the relay, SQLite,
// prom-client and jose (about 10 MiB of idle memory), nor `relay` the agent.

export const MAIN_HELP = `visiona-tunnel: a reverse tunnel for edge devices.

Usage:
  visiona-tunnel demo                          relay + agent + a local web app, prints a visitor URL
  visiona-tunnel relay --agent-listen ... --domain ... --db ... [--config FILE]
  visiona-tunnel agent --relay ws(s)://.../tunnel/connect --local HOST:PORT --token-file FILE [--config FILE]
  visiona-tunnel token create|list|revoke ...
  visiona-tunnel access set|show AGENT ...
  visiona-tunnel COMMAND --help                details and examples
  visiona-tunnel --version | -v                version of the tunnel and of Node

Settings: flags > environment (VISIONA_TUNNEL_<FLAG>) > config file (--config
FILE, YAML or TOML; relay and agent) > defaults. Logging:
VISIONA_TUNNEL_LOG_LEVEL=debug|info|warn|error, VISIONA_TUNNEL_LOG_FORMAT=json|pretty.
SIGINT/SIGTERM stop relay, agent and demo gracefully.

Examples:
  visiona-tunnel demo
  T=$(visiona-tunnel token create edge-01 --db relay.db)
  visiona-tunnel relay --config /etc/visiona-tunnel/relay.yaml

Exit codes: 0 success, 1 runtime failure, 2 bad command line or configuration
(an unknown option or command, a bad value), 3 the agent gave up: the relay
refused it the same way --max-refusals times (wrong token, wrong path).
`;

/** Error codes that mean the command line or configuration is wrong (exit code 2). */
const USAGE_ERROR_CODES: ReadonlySet<TunnelErrorCode> = new Set<TunnelErrorCode>([
  'ERR_CONFIG_INVALID',
  'ERR_STORE_INVALID_INPUT',
  'ERR_STORE_INVALID_AGENT_NAME',
]);

/** The commands; anything else is a usage error. */
const COMMANDS: ReadonlySet<string> = new Set(['demo', 'relay', 'agent', 'token', 'access']);

/** `visiona-tunnel 0.1.0 (node v20.20.2)`: the package's version (src/ and dist/ both sit two levels below it). */
export function versionLine(): string {
  return `visiona-tunnel ${packageVersion()} (node ${process.version})\n`;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], context?: Partial<CliContext>): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  const ownSignals = context?.signal === undefined;
  if (ownSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const ctx: CliContext = {
    env: context?.env ?? process.env,
    stdout: context?.stdout ?? ((t) => process.stdout.write(t)),
    stderr: context?.stderr ?? ((t) => process.stderr.write(t)),
    signal: context?.signal ?? controller.signal,
    isTty: context?.isTty ?? process.stderr.isTTY === true,
  };
  const level = ctx.env.VISIONA_TUNNEL_LOG_LEVEL as LogLevel | undefined;
  const format = ctx.env.VISIONA_TUNNEL_LOG_FORMAT;
  // Lines of one event-loop turn leave in one write (ctx.stderr is looked up
  // at flush time: the agent's status panel replaces it while it runs).
  const logLines = createLineBatcher((text) => ctx.stderr(text));
  const logger = createCliLogger({
    level: level !== undefined && (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info',
    // The demo is for a person, even when its output goes through a pipe (npm run demo | tee).
    format: format === 'json' || format === 'pretty' ? format : ctx.isTty || argv[0] === 'demo' ? 'pretty' : 'json',
    write: (line) => logLines.push(line),
  });
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        return await (await import('./commands/demo.js')).demoCommand(rest, ctx, logger);
      case 'relay':
        return await (await import('./commands/relay.js')).relayCommand(rest, ctx, logger);
      case 'agent':
        return await (await import('./commands/agent.js')).agentCommand(rest, ctx, logger);
      case 'token':
        return await (await import('./commands/token.js')).tokenCommand(rest, ctx);
      case 'access':
        return await (await import('./commands/access.js')).accessCommand(rest, ctx);
      case '--version':
      case '-v':
      case '-V':
      case 'version':
        ctx.stdout(versionLine());
        return ExitCode.Ok;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        ctx.stdout(MAIN_HELP);
        return command === undefined ? ExitCode.Usage : ExitCode.Ok;
      default: {
        const hint = command.startsWith('-') ? undefined : closestName(command, COMMANDS);
        throw new UsageError(`unknown ${command.startsWith('-') ? 'option' : 'command'} ${command}${hint === undefined ? '' : ` (did you mean ${hint}?)`}`);
      }
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TunnelError && USAGE_ERROR_CODES.has(err.code))) {
      const helpCommand = command !== undefined && COMMANDS.has(command) ? `visiona-tunnel ${command} --help` : 'visiona-tunnel --help';
      ctx.stderr(`visiona-tunnel: ${err.message}\nRun '${helpCommand}' for usage.\n`);
      return ExitCode.Usage;
    }
    ctx.stderr(`visiona-tunnel: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.Failure;
  } finally {
    logLines.flush();
    if (ownSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
