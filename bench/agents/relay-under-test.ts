/**
 * The relay being measured, ours (`relay-process.ts`) or the Go reference
 * relay (`.interop-bin/ref-relay`), behind one interface: ports, pid (for
 * /proc readings), connected agents, SIGKILL and restart on the same ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RelayCommand } from './bench-agents-types.js';
import { ChildHandle } from './child-handle.js';

/** Where `scripts/build-interop.sh` puts the Go peers. */
export const GO_RELAY_BIN = fileURLToPath(new URL('../../.interop-bin/ref-relay', import.meta.url));

/** What our relay reports about its memory. */
export interface RelayMemory {
  usage: NodeJS.MemoryUsage;
  spaces: Record<string, { size: number; used: number }>;
}

/** Which relay implementation. */
export type RelayKind = 'ours' | 'go';

/** A running relay process. */
export interface RelayUnderTest {
  readonly kind: RelayKind;
  readonly pid: number;
  readonly agentPort: number;
  readonly publicPort: number;
  /** Agents with a live session, as the relay counts them. */
  agents(): Promise<number>;
  /** `process.memoryUsage()` and V8 heap spaces (size, used) of our relay (undefined for Go). */
  memory(gc?: boolean): Promise<RelayMemory | undefined>;
  /** Writes a heap snapshot (ours only); resolves with its path. */
  heapSnapshot(path: string): Promise<string | undefined>;
  /** SIGKILL, then waits for the process to be gone. */
  kill(): Promise<void>;
  /** Normal stop. */
  stop(): Promise<void>;
}

/** Where and how to start a relay. */
export interface RelayStartOptions {
  dbPath: string;
  agentPort: number;
  publicPort: number;
  /** Our relay: the compiled `relay-process.js` (see `compileRelayProcess`), or the .ts source to run with tsx. */
  entry: string;
  execArgv?: string[];
}

/** Starts a relay of `kind` on the given ports (0 = free ports). */
export async function startRelay(
  kind: RelayKind,
  options: RelayStartOptions,
): Promise<RelayUnderTest> {
  return kind === 'ours' ? startOurRelay(options) : startGoRelay(options);
}

async function startOurRelay(options: RelayStartOptions): Promise<RelayUnderTest> {
  const handle = new ChildHandle<RelayCommand>(
    'relay',
    options.entry,
    { dbPath: options.dbPath, agentPort: options.agentPort, publicPort: options.publicPort },
    options.execArgv ?? [],
  );
  const ready = await handle.ready;
  return {
    kind: 'ours',
    pid: handle.pid,
    agentPort: ready.agentPort,
    publicPort: ready.publicPort,
    agents: async () => (await handle.request({ op: 'agents' })).agents as number,
    memory: async (gc = false) => {
      const reply = await handle.request({ op: 'memory', gc });
      return { usage: reply.memory as NodeJS.MemoryUsage, spaces: reply.spaces as RelayMemory['spaces'] };
    },
    heapSnapshot: async (path) => (await handle.request({ op: 'heapSnapshot', path }, 300_000)).path as string,
    kill: () => handle.kill(),
    stop: () => handle.stop(),
  };
}

async function startGoRelay(options: RelayStartOptions): Promise<RelayUnderTest> {
  if (!existsSync(GO_RELAY_BIN)) throw new Error(`${GO_RELAY_BIN} is missing: run bash scripts/build-interop.sh`);
  const child: ChildProcess = spawn(
    'sh',
    ['-c', 'ulimit -n 20000 && exec "$0" "$@"', GO_RELAY_BIN, '-listen', `127.0.0.1:${options.agentPort}`, '-public', `127.0.0.1:${options.publicPort}`],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let connected = 0;
  const listening = new Promise<{ tunnel: string; public: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ref-relay exited (code: ${code})`)));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      let event: { event?: string; tunnel?: string; public?: string; remaining?: number };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.event === 'listening') resolve({ tunnel: event.tunnel as string, public: event.public as string });
      else if (event.event === 'agent_connected') connected++;
      else if (event.event === 'agent_disconnected') connected--;
    });
  });
  const bound = await listening;
  const port = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return {
    kind: 'go',
    pid: child.pid as number,
    agentPort: port(bound.tunnel),
    publicPort: port(bound.public),
    agents: () => Promise.resolve(connected),
    memory: () => Promise.resolve(undefined),
    heapSnapshot: () => Promise.resolve(undefined),
    kill,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
