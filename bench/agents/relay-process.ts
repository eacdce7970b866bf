/**
 * The relay under test, as its own process: our `Relay` (library), an agent
 * listener and a public listener on 127.0.0.1, the SQLite store prepared by
 * the orchestrator, no logging. Answers `RelayCommand`s over IPC.
 *
 * Usage (by run.ts): node --import tsx relay-process.ts '<RelayProcessSettings JSON>'
 */
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { Relay } from '../../src/relay/index.js';
import type { RelayCommand, RelayProcessSettings } from './bench-agents-types.js';
import { serveCommands } from './child-handle.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as RelayProcessSettings;

/** Binds the relay; retries for a few seconds while the old process's ports are still being released. */
async function startRelay(): Promise<{ relay: Relay; agentPort: number; publicPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const relay = new Relay({
      agentListen: `127.0.0.1:${settings.agentPort}`,
      publicListen: `127.0.0.1:${settings.publicPort}`,
      baseDomain: 'tunnel.test',
      dbPath: settings.dbPath,
    });
    try {
      const addresses = await relay.listen();
      const port = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
      return { relay, agentPort: port(addresses.agent), publicPort: port(addresses.public) };
    } catch (err) {
      await relay.close({ graceMs: 0 });
      if (attempt >= 50 || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const { relay, agentPort, publicPort } = await startRelay();
process.send?.({ type: 'ready', agentPort, publicPort, pid: process.pid });

serveCommands<RelayCommand>(async (command) => {
  switch (command.op) {
    case 'agents':
      return { agents: relay.registry.size, sessions: relay.registry.connections().length };
    case 'memory': {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (command.gc === true && gc !== undefined) gc();
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, { size: sp.space_size, used: sp.space_used_size }]));
      return { memory: process.memoryUsage(), spaces };
    }
    case 'heapSnapshot':
      return { path: writeHeapSnapshot(command.path) };
    case 'exit':
      setImmediate(() => {
        void relay.close({ graceMs: 0 }).finally(() => process.exit(0));
      });
      return {};
  }
});
