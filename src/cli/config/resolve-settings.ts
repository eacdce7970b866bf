/**
 * Merges a command's settings from their four sources, in this order of
 * precedence: flags > environment (`VISIONA_TUNNEL_*`) > config file >
 * defaults, and validates each value against the schema. Every error names
 * the flag, variable or config-file key, and the bad value.
 */
import { basename, resolve } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { requireHostPort } from '../../shared/validate.js';
import { UsageError, type ParsedCommandArgs } from '../cli-context.js';
import type { ConfigFile } from './config-file.js';
import { envVarOf, type ConfigField, type ConfigSchema, type ResolvedSettings } from './config-schema.js';

/** Where a resolved setting came from. */
export type SettingSource = 'flag' | 'env' | 'file' | 'default';

/** What `resolveSettings` merges. */
export interface SettingsInput {
  /** Flags, and the environment variables of flags, as parsed by `parseCommandArgs`. */
  args: Pick<ParsedCommandArgs, 'values' | 'sources'>;
  /** The environment, for fields without a flag. */
  env: NodeJS.ProcessEnv;
  /** The parsed `--config` file, if any. */
  file?: ConfigFile;
}

/** Resolved, validated settings and where each came from. */
export interface Settings<F extends readonly ConfigField[]> {
  values: ResolvedSettings<F>;
  /** Source of every field that has a value, by key. */
  sources: Readonly<Record<string, SettingSource>>;
}

/** Keys that must never be read from a config file, with the reason given to the user. */
const FORBIDDEN_FILE_KEYS: Readonly<Record<string, string>> = Object.freeze({
  token: 'is not read from config files (they get copied and committed); use tokenFile or VISIONA_TUNNEL_TOKEN',
  adminToken: 'is not read from config files (they get copied and committed); use adminTokenFile or VISIONA_TUNNEL_ADMIN_TOKEN',
});

/** Unknown keys whose value may be a secret: their value is never echoed. */
const SECRET_LOOKING_KEY = /token|secret|password|passwd|credential|key/i;

/** Merges and validates `schema`'s settings from flags, environment, config file and defaults. */
export function resolveSettings<F extends readonly ConfigField[]>(schema: ConfigSchema<F>, input: SettingsInput): Settings<F> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  const { file } = input;
  if (file !== undefined) checkFileKeys(schema, file);

  for (const field of schema.fields) {
    const flagValue = field.flag === undefined ? undefined : input.args.values[field.flag];
    const envValue = field.flag === undefined ? nonEmpty(input.env[envVarOf(field)]) : undefined;
    if (flagValue !== undefined) {
      const source = input.args.sources[field.flag as string] === 'env' ? 'env' : 'flag';
      const label = source === 'env' ? envVarOf(field) : `--${field.flag as string}`;
      values[field.key] = typeof flagValue === 'boolean' ? flagValue : fromText(field, label, flagValue);
      sources[field.key] = source;
    } else if (envValue !== undefined) {
      values[field.key] = fromText(field, envVarOf(field), envValue);
      sources[field.key] = 'env';
    } else if (file !== undefined && file.entries.has(field.key)) {
      values[field.key] = fromFile(field, `${field.key} in ${basename(file.path)}`, file.entries.get(field.key), file.dir);
      sources[field.key] = 'file';
    } else if (field.default !== undefined) {
      values[field.key] = Array.isArray(field.default) ? [...(field.default as readonly string[])] : field.default;
      sources[field.key] = 'default';
    } else if (field.required === true) {
      const ways = [field.flag === undefined ? undefined : `--${field.flag}`, envVarOf(field), `${field.key} in --config FILE`];
      throw new UsageError(`${ways.filter((w) => w !== undefined).join(' or ')} is required`);
    }
  }
  return { values: Object.freeze(values) as ResolvedSettings<F>, sources: Object.freeze(sources) };
}

function checkFileKeys(schema: ConfigSchema, file: ConfigFile): void {
  const known = new Set(schema.fields.map((f) => f.key));
  const where = basename(file.path);
  for (const [key, value] of file.entries) {
    if (known.has(key)) continue;
    const forbidden = FORBIDDEN_FILE_KEYS[key];
    // Never echo what may be a secret.
    if (forbidden !== undefined) throw new ConfigError(`${key} in ${where}`, forbidden, '[redacted]');
    const hint = suggestKey(schema, key);
    const shown = SECRET_LOOKING_KEY.test(key) ? '[redacted]' : value;
    throw new ConfigError(`${key} in ${where}`, `is not a ${schema.command} setting${hint === undefined ? '' : ` (did you mean ${hint}?)`}`, shown);
  }
}

/** A known key that `key` probably meant: same letters ignoring case, dashes and underscores. */
function suggestKey(schema: ConfigSchema, key: string): string | undefined {
  const norm = (k: string) => k.replace(/[-_]/g, '').toLowerCase();
  return schema.fields.find((f) => norm(f.key) === norm(key) || (f.flag !== undefined && f.flag === key))?.key;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** A value written as text (a flag or an environment variable). */
function fromText(field: ConfigField, label: string, text: string): unknown {
  switch (field.type) {
    case 'integer':
      if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(label, 'must be an integer', text);
      return checkInteger(field, label, Number(text.trim()));
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(label, 'must be true or false', text);
    case 'list':
      return splitList(text);
    default:
      return checkText(field, label, text);
  }
}

/** A value from a config file, already typed by YAML/TOML/JSON. */
function fromFile(field: ConfigField, label: string, value: unknown, dir: string): unknown {
  switch (field.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new ConfigError(label, 'must be an integer', value);
      return checkInteger(field, label, value);
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(label, 'must be true or false', value);
      return value;
    case 'list':
      if (typeof value === 'string') return splitList(value);
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.trim() !== '')) {
        throw new ConfigError(label, 'must be a list of strings', value);
      }
      return value.map((v: string) => v.trim());
    default: {
      if (typeof value !== 'string') throw new ConfigError(label, 'must be a string', value);
      const text = checkText(field, label, value);
      return field.type === 'path' ? resolve(dir, text) : text;
    }
  }
}

function checkInteger(field: ConfigField, label: string, n: number): number {
  const min = field.min ?? Number.MIN_SAFE_INTEGER;
  const max = field.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = field.max === undefined ? `at least ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(label, `must be an integer ${range}`, n);
  }
  return n;
}

function checkText(field: ConfigField, label: string, text: string): string {
  if (text.trim() === '') throw new ConfigError(label, 'must not be empty', text);
  switch (field.type) {
    case 'listen':
      requireHostPort(label, text, true);
      return text;
    case 'hostPort':
      requireHostPort(label, text, false);
      return text;
    case 'url':
      if (!URL.canParse(text)) throw new ConfigError(label, 'must be an absolute URL', '[unparsable URL]');
      return text;
    case 'enum':
      if (!(field.values ?? []).includes(text)) throw new ConfigError(label, `must be one of ${(field.values ?? []).join(', ')}`, text);
      return text;
    default:
      return text;
  }
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
