/**
 * `visiona-tunnel demo`: a relay, an agent and a small local web app on free
 * loopback ports, the demo agent public; prints the visitor URL and runs
 * until Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TunnelManager } from '../../agent/index.js';
import { Relay } from '../../relay/index.js';
import type { Logger } from '../../shared/logger.js';
import { ExitCode, parseCommandArgs, untilAborted, type CliContext } from '../cli-context.js';
import { startDemoApp } from '../demo-app.js';
import { createStartupLogGate } from '../startup-log-gate.js';

export const DEMO_HELP = `Usage:
  visiona-tunnel demo [--listen HOST:PORT]

Starts a relay (default 127.0.0.1 on a free port), a built-in local web app
(a page, an API at api/info, a WebSocket echo at ws) and an agent for it
named "demo", with public access. Prints the visitor URL first (routine
start-up log lines are left out; VISIONA_TUNNEL_LOG_LEVEL=debug shows them),
then logs, readable on a terminal. Ctrl-C stops all.

Examples:
  visiona-tunnel demo
  visiona-tunnel demo --listen 127.0.0.1:8080

Exit codes:
  0  stopped with Ctrl-C (SIGINT) or SIGTERM
  1  runtime failure (the listen address is taken ...)
  2  bad command line
`;

const OPTIONS = { listen: { type: 'string' } } as const;

/** Runs `demo`; returns the exit code once stopped. */
export async function demoCommand(args: string[], ctx: CliContext, logger: Logger): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS, ctx.env);
  if (values.help === true) {
    ctx.stdout(DEMO_HELP);
    return ExitCode.Ok;
  }
  // The URL block is the first thing a person sees: start-up info lines are
  // dropped (warnings and errors still show); VISIONA_TUNNEL_LOG_LEVEL=debug keeps them all.
  const gate = createStartupLogGate(logger);
  if (ctx.env.VISIONA_TUNNEL_LOG_LEVEL === 'debug') gate.open();
  logger = gate.logger;
  const dir = mkdtempSync(join(tmpdir(), 'visiona-tunnel-demo-'));
  const app = await startDemoApp();
  const relay = new Relay({
    agentListen: typeof values.listen === 'string' ? values.listen : '127.0.0.1:0',
    baseDomain: 'localhost',
    dbPath: join(dir, 'relay.db'),
    logger: logger.child({ component: 'relay' }),
  });
  let manager: TunnelManager | undefined;
  try {
    const addresses = await relay.listen();
    await relay.tokens.ensureAgent('demo');
    await relay.accessPolicies.setPolicy('demo', { mode: 'public' });
    const { token } = await relay.tokens.createToken('demo', { label: 'demo' });
    manager = new TunnelManager({
      relayUrl: `ws://${addresses.agent}/tunnel/connect`,
      token,
      localAddr: app.address,
      logger: logger.child({ component: 'agent' }),
    });
    const online = new Promise<void>((resolve) => {
      const off = manager!.subscribe((s) => {
        if (s.state === 'online') {
          off();
          resolve();
        }
      });
    });
    manager.start();
    await Promise.race([online, untilAborted(ctx.signal)]);
    if (!ctx.signal.aborted) {
      const port = addresses.public.slice(addresses.public.lastIndexOf(':') + 1);
      ctx.stdout(
        [
          '',
          'visiona-tunnel demo is running:',
          `  local service  http://${app.address}/`,
          `  relay          ${addresses.publicUrl}`,
          `  visitor URL    ${addresses.publicUrl}/a/demo/`,
          `                 http://demo.localhost:${port}/  (host routing)`,
          '',
          `Try: curl ${addresses.publicUrl}/a/demo/api/info`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      gate.open();
      await untilAborted(ctx.signal);
    }
  } finally {
    await manager?.stop();
    await relay.close({ graceMs: 1000 });
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return ExitCode.Ok;
}
