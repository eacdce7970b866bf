/**
 * One benchmark peer process, forked by `mux-bench.ts` (one receiving, one
 * sending), so the two ends of every link run on their own core as in a real
 * deployment. It obeys `PeerCommand`s over the IPC channel.
 */
import { dialForSetup, listenForSetup, type BenchListener } from './bench-links.js';
import type { PeerCommand, PeerReply } from './bench-types.js';
import { handleChannel, runWorkload } from './bench-workloads.js';

const listeners = new Map<number, BenchListener>();

function reply(message: PeerReply): void {
  process.send?.(message);
}

async function execute(command: PeerCommand): Promise<PeerReply> {
  switch (command.op) {
    case 'listen': {
      const listener = await listenForSetup(command.setup, (channel) => handleChannel(command.handler, channel));
      listeners.set(listener.port, listener);
      return { id: command.id, ok: true, port: listener.port };
    }
    case 'unlisten': {
      await listeners.get(command.port)?.close();
      listeners.delete(command.port);
      return { id: command.id, ok: true };
    }
    case 'run': {
      const dialer = await dialForSetup(command.setup, command.port);
      try {
        return { id: command.id, ok: true, result: await runWorkload(dialer, command.workload) };
      } finally {
        dialer.close();
      }
    }
    case 'cpu': {
      const cpu = process.cpuUsage();
      return { id: command.id, ok: true, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'exit':
      return { id: command.id, ok: true };
  }
}

process.on('message', (command: PeerCommand) => {
  execute(command).then(
    (message) => {
      reply(message);
      // Exit normally (not killed) so `--cpu-prof` writes its profile.
      if (command.op === 'exit') process.disconnect();
    },
    (err: unknown) => reply({ id: command.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});

process.on('disconnect', () => {
  for (const listener of listeners.values()) void listener.close();
  process.exit(0);
});
