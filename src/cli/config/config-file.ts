/**
 * Reads a config file (`--config FILE`): YAML (`.yaml`, `.yml`), TOML
 * (`.toml`) or JSON (`.json`), chosen by extension, into flat dotted keys
 * (`limits: { offlineGraceMs: 500 }` becomes `limits.offlineGraceMs`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, resolve } from 'node:path';
import type * as SmolToml from 'smol-toml';
import type * as Yaml from 'yaml';
import { ConfigError } from '../../shared/errors.js';

// The YAML and TOML parsers are loaded only when a file of their format is
// read (through their CommonJS builds, so loading stays synchronous): the
// `yaml` package alone adds about 3 MiB to an idle relay or agent.
const requireParser = createRequire(import.meta.url);

function parseYaml(text: string): unknown {
  return (requireParser('yaml') as typeof Yaml).parse(text);
}

function parseToml(text: string): unknown {
  return (requireParser('smol-toml') as typeof SmolToml).parse(text);
}

/** A parsed config file. */
export interface ConfigFile {
  /** Absolute path of the file. */
  path: string;
  /** Its folder: relative paths inside the file are taken from here. */
  dir: string;
  /** Every leaf value by dotted key, in file order. */
  entries: ReadonlyMap<string, unknown>;
}

/** File extensions understood, with their format. */
export const CONFIG_FILE_FORMATS: Readonly<Record<string, 'yaml' | 'toml' | 'json'>> = Object.freeze({
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.toml': 'toml',
  '.json': 'json',
});

/** Reads and parses `path`; throws `ConfigError` (field `config`) when it cannot be read or parsed. */
export function loadConfigFile(path: string): ConfigFile {
  const abs = resolve(path);
  const format = CONFIG_FILE_FORMATS[extname(abs).toLowerCase()];
  if (format === undefined) {
    throw new ConfigError('config', 'must be a .yaml, .yml, .toml or .json file', path);
  }
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError('config', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, path);
  }
  return { path: abs, dir: dirname(abs), entries: flattenConfig(parseConfigText(text, format, path)) };
}

/** Parses config text in `format`; the top level must be a mapping (an empty file is an empty one). */
export function parseConfigText(text: string, format: 'yaml' | 'toml' | 'json', path = '<config>'): Record<string, unknown> {
  let data: unknown;
  try {
    data = format === 'yaml' ? parseYaml(text) : format === 'toml' ? parseToml(text) : JSON.parse(text);
  } catch (err) {
    // The parsers' messages carry line and column.
    const reason = (err as Error).message.split('\n')[0] ?? 'syntax error';
    throw new ConfigError('config', `is not valid ${format.toUpperCase()}: ${reason}`, path);
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) throw new ConfigError('config', 'must hold a mapping of settings at the top level', path);
  return data;
}

/** Flattens nested mappings into dotted keys; lists and scalars are leaves. */
export function flattenConfig(data: Record<string, unknown>, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(data)) {
    const key = prefix + k;
    if (isPlainObject(v)) flattenConfig(v, key + '.', out);
    else out.set(key, v);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
