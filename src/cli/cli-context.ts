/**
 * What every command gets: its arguments, the environment, output streams,
 * and the one AbortController of the process (SIGINT/SIGTERM).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TunnelError } from '../shared/errors.js';
import { describeArgsError, type OptionSpecs } from './option-suggestion.js';

/** Exit codes, documented in `visiona-tunnel --help` and docs/. */
export const ExitCode = {
  Ok: 0,
  /** A runtime failure (listener could not bind, store unreadable ...). */
  Failure: 1,
  /** Bad command line or configuration. */
  Usage: 2,
  /** The agent gave up: the relay refused it the same way `--max-refusals` times (wrong token, wrong path). */
  Refused: 3,
} as const;

/** The process around a command; tests pass their own. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop gracefully. */
  signal: AbortSignal;
  /** True when stderr is a terminal (pretty logs, live panel). */
  isTty: boolean;
}

/** A bad command line: printed with the command's usage, exit code 2. */
export class UsageError extends TunnelError {
  constructor(message: string) {
    super('ERR_CONFIG_INVALID', message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Where a parsed option came from: the command line or `VISIONA_TUNNEL_<NAME>`. */
export type ArgSource = 'flag' | 'env';

/** The result of `parseCommandArgs`. */
export interface ParsedCommandArgs {
  /** Option values by flag name (flags win over the environment). */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** For each option that has a value, where it came from. */
  sources: Record<string, ArgSource>;
}

/**
 * Parses `args` for one command. Each option may also come from the
 * environment as `VISIONA_TUNNEL_<NAME>` (flags win over the environment).
 */
export function parseCommandArgs<O extends Options>(
  args: string[],
  options: O,
  env: NodeJS.ProcessEnv,
): ParsedCommandArgs {
  let parsed;
  const allOptions = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  try {
    parsed = parseArgs({ args, options: allOptions, allowPositionals: true, strict: true });
  } catch (err) {
    // Our words (`unknown option --domian (did you mean --domain?)`), not parseArgs' own text.
    const code = (err as { code?: unknown }).code;
    const message = describeArgsError(typeof code === 'string' ? code : undefined, args, allOptions as OptionSpecs);
    throw new UsageError(message ?? (err as Error).message);
  }
  const values: Record<string, string | boolean | undefined> = {};
  // A flag given several times (a repeatable list) reads as one comma-separated list.
  for (const [name, value] of Object.entries(parsed.values)) values[name] = Array.isArray(value) ? value.join(',') : (value as string | boolean | undefined);
  const sources: Record<string, ArgSource> = {};
  for (const [name, spec] of Object.entries(options)) {
    if (values[name] !== undefined) {
      sources[name] = 'flag';
      continue;
    }
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === '') continue;
    values[name] = spec.type === 'boolean' ? /^(1|true|yes|on)$/i.test(fromEnv) : fromEnv;
    sources[name] = 'env';
  }
  return { values, positionals: parsed.positionals, sources };
}

/** `agent-listen` -> `VISIONA_TUNNEL_AGENT_LISTEN`. */
export function envName(flag: string): string {
  return `VISIONA_TUNNEL_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** A required string option, or a UsageError naming the flag. */
export function requireFlag(values: Record<string, string | boolean | undefined>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required (or ${envName(name)})`);
  return v;
}

/** Resolves when `signal` aborts. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
