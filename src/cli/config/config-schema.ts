/**
 * A small typed description of a command's settings: each field's key in a
 * config file, its flag, type, default and description. One description
 * drives parsing (flags, environment, config file), validation, and the
 * generated reference in docs/configuration.md.
 */

/**
 * How a field's value is written and checked:
 * - `string`: any non-empty text; `path`: a file path (relative paths in a
 *   config file are taken from the file's folder);
 * - `listen`: `HOST:PORT` to listen on (port 0 picks a free port);
 *   `hostPort`: `HOST:PORT` to connect to (port 1-65535);
 * - `url`: an absolute URL; `integer`: a whole number within `min`..`max`;
 * - `boolean`; `enum`: one of `values`;
 * - `list`: strings, written `a,b` on the command line and in the
 *   environment, or as a list in a config file.
 */
export type ConfigFieldType = 'string' | 'path' | 'listen' | 'hostPort' | 'url' | 'integer' | 'boolean' | 'enum' | 'list';

/** A default value of a field (its type follows the field's type). */
export type ConfigDefault = string | number | boolean | readonly string[];

/** One setting of a command. */
export interface ConfigField {
  /** Key in a config file; dots are nesting (`limits.offlineGraceMs` is `limits: { offlineGraceMs }`). */
  readonly key: string;
  readonly type: ConfigFieldType;
  /** One sentence for `--help` readers and docs/configuration.md. */
  readonly description: string;
  /** Command-line flag without the dashes; fields without one come from the environment or a config file only. */
  readonly flag?: string;
  /** Value used when no flag, variable or config file sets it. */
  readonly default?: ConfigDefault;
  /** The command refuses to start without it. */
  readonly required?: boolean;
  /** Smallest allowed value of an `integer`. */
  readonly min?: number;
  /** Largest allowed value of an `integer`. */
  readonly max?: number;
  /** The allowed values of an `enum`. */
  readonly values?: readonly string[];
  /** A `list` whose flag may be given several times, each adding to the list (as well as `a,b`). */
  readonly repeatable?: boolean;
}

/** The settings of one command. */
export interface ConfigSchema<F extends readonly ConfigField[] = readonly ConfigField[]> {
  /** The command they belong to: `relay`, `agent`. */
  readonly command: string;
  /** A paragraph for docs/configuration.md. */
  readonly summary: string;
  readonly fields: F;
}

type ValueOf<F extends ConfigField> = F['type'] extends 'integer'
  ? number
  : F['type'] extends 'boolean'
    ? boolean
    : F['type'] extends 'list'
      ? readonly string[]
      : string;

type IsAlwaysSet<F extends ConfigField> = F extends { readonly required: true } ? true : F extends { readonly default: ConfigDefault } ? true : false;

/** Resolved settings of a schema, keyed by field key: required or defaulted fields are always set. */
export type ResolvedSettings<F extends readonly ConfigField[]> = {
  readonly [G in F[number] as G['key']]: IsAlwaysSet<G> extends true ? ValueOf<G> : ValueOf<G> | undefined;
};

/** Prefix of every environment variable the CLI reads. */
export const ENV_PREFIX = 'VISIONA_TUNNEL_';

/**
 * The environment variable of a field: from its flag (`agent-listen` ->
 * `VISIONA_TUNNEL_AGENT_LISTEN`), or from its key for fields without a flag
 * (`limits.offlineGraceMs` -> `VISIONA_TUNNEL_LIMITS_OFFLINE_GRACE_MS`).
 */
export function envVarOf(field: ConfigField): string {
  const base = field.flag ?? field.key.replace(/\./g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2');
  return ENV_PREFIX + base.replace(/-/g, '_').toUpperCase();
}

/** The `parseArgs` options of a schema's flags (every flag takes a value, except booleans; repeatable lists may be given several times). */
export function flagOptionsOf(schema: ConfigSchema): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const f of schema.fields) {
    if (f.flag === undefined) continue;
    out[f.flag] = f.type === 'boolean' ? { type: 'boolean' } : f.repeatable === true ? { type: 'string', multiple: true } : { type: 'string' };
  }
  return out;
}
