/**
 * `agent --spawn COMMAND`: the service process built from the agent's
 * settings. Its port is fixed before the tunnel is built: the port of
 * `--local` when given, else a free loopback port.
 */
import type { Logger } from '../../shared/logger.js';
import { requireHostPort } from '../../shared/validate.js';
import type { AgentSettings } from '../config/agent-config-schema.js';
import { pickFreePort } from './free-port.js';
import type { ServiceProcess } from './service-process.js';

/** The spawned local service of `settings`, not yet started; undefined without `spawn`. */
export async function createSpawnedService(settings: AgentSettings, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<ServiceProcess | undefined> {
  if (settings.spawn === undefined) return undefined;
  const local = settings.local === undefined ? undefined : requireHostPort('local', settings.local);
  const host = local?.host ?? '127.0.0.1';
  const port = local?.port ?? (await pickFreePort(host));
  // Loaded only here: an agent without --spawn never loads child_process and readline.
  const { ServiceProcess } = await import('./service-process.js');
  return new ServiceProcess({ command: settings.spawn, host, port, env, stopGraceMs: settings.spawnStopGraceMs, logger });
}
