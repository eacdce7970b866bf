/**
 * The settings of a long-running command (`relay`, `agent`): the parsed
 * flags, the environment and the `--config` file merged by the schema, plus
 * reading the files that settings name.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/errors.js';
import type { ParsedCommandArgs } from '../cli-context.js';
import { loadConfigFile } from './config-file.js';
import type { ConfigField, ConfigSchema } from './config-schema.js';
import { resolveSettings, type Settings } from './resolve-settings.js';

/** The `parseArgs` option of `--config FILE` (also `VISIONA_TUNNEL_CONFIG`). */
export const CONFIG_FLAG_OPTION = Object.freeze({ config: Object.freeze({ type: 'string' as const }) });

/** Resolves `schema` from parsed flags (with their environment variables), the environment and `--config`. */
export function loadCommandSettings<F extends readonly ConfigField[]>(
  schema: ConfigSchema<F>,
  parsed: Pick<ParsedCommandArgs, 'values' | 'sources'>,
  env: NodeJS.ProcessEnv,
): Settings<F> {
  const configPath = parsed.values.config;
  const file = typeof configPath === 'string' && configPath !== '' ? loadConfigFile(configPath) : undefined;
  return resolveSettings(schema, { args: parsed, env, ...(file === undefined ? {} : { file }) });
}

/** Reads a file a setting names; a missing or unreadable file is a `ConfigError` naming the setting. */
export function readSettingFile(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(field, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, path);
  }
}
