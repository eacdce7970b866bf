/**
 * What `agent` takes from its resolved settings beyond the flags it reads
 * itself: the settings written back as flag values (so the command reads one
 * place whatever the source), and the tunnel client's tuning options.
 */
import type { TunnelClientOptions } from '../../agent/index.js';
import type { AgentSettings } from './agent-config-schema.js';
import type { ConfigSchema } from './config-schema.js';

/**
 * Sets `values[flag]` for every field of `schema` that has a flag and a
 * resolved value, so code that reads flag values also sees config-file
 * values and defaults. Lists are joined with commas; numbers become text.
 */
export function exposeSettingsAsFlags(
  values: Record<string, string | boolean | undefined>,
  schema: ConfigSchema,
  settings: Readonly<Record<string, unknown>>,
): void {
  for (const field of schema.fields) {
    if (field.flag === undefined) continue;
    const v = settings[field.key];
    if (v === undefined) continue;
    values[field.flag] = typeof v === 'boolean' ? v : Array.isArray(v) ? v.join(',') : String(v);
  }
}

/** The tunnel client's timing and window options from the agent's settings. */
export function tunnelTuningFromSettings(
  settings: AgentSettings,
): Pick<TunnelClientOptions, 'handshakeTimeoutMs' | 'keepAliveIntervalMs' | 'stabilityThresholdMs' | 'maxStreamWindowBytes' | 'stopGraceMs'> {
  return {
    handshakeTimeoutMs: settings.handshakeTimeoutMs,
    keepAliveIntervalMs: settings.keepAliveIntervalMs,
    stabilityThresholdMs: settings.stabilityThresholdMs,
    maxStreamWindowBytes: settings.maxStreamWindowBytes,
    stopGraceMs: settings.stopGraceMs,
  };
}

/** The manager's `links` from the `links` setting (`auto`, or 1-8). */
export function linksFromSettings(settings: AgentSettings): number | 'auto' {
  return settings.links === 'auto' ? 'auto' : Number(settings.links);
}
