/**
 * Fixtures for chaos tests: real `visiona-tunnel relay` and `agent`
 * processes (the CLI in bin/, JSON log lines on stderr), a store prepared
 * in-process before the relay starts, visitors that count and hash bytes,
 * and waiters on log lines and conditions (never sleeps).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SqliteRelayStore, type CreatedAgentToken } from '../../src/relay/store/index.js';
import { waitFor } from '../helpers/wait-for.js';

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The CLI, run from the sources (`node --import tsx test/chaos/run-cli.ts
 * ...`, the same `main()` that bin/visiona-tunnel.js runs without dist/).
 */
export const CLI_ARGS: readonly string[] = ['--import', 'tsx', join(REPO_ROOT, 'test', 'chaos', 'run-cli.ts')];
/** Base domain of every chaos relay. */
export const CHAOS_DOMAIN = 'tunnel.test';

/** Anything that runs cleanup functions at its end (a `TestContext`). */
export interface Scope {
  after(fn: () => unknown): void;
}

/** Waits until `condition()` is true (the tests' one poller), with the chaos tests' longer default deadline. */
export function waitUntil(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  return waitFor(condition, what, timeoutMs);
}

/** Rejects with `what` when `promise` does not settle within `ms` (a hang detector, not a synchronisation). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms (a hang)`)), ms);
    }),
  ]);
}

/** A temporary folder removed after the test. */
export function tempDir(t: Scope, prefix = 'chaos-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One parsed JSON line of a child process, with the time it was read (ms since the epoch, `Date.now()`). */
export interface ProcessLine {
  stream: 'stdout' | 'stderr';
  atMs: number;
  /** The parsed line; lines that are not JSON objects are kept as `{ text }`. */
  data: Record<string, unknown>;
}

interface LineWaiter {
  predicate: (line: ProcessLine) => boolean;
  resolve: (line: ProcessLine) => void;
}

/** A running `visiona-tunnel` (or any node script) child process whose JSON lines are collected. */
export class CliProcess {
  readonly name: string;
  readonly lines: ProcessLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiters = new Set<LineWaiter>();
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(name: string, args: string[], env: NodeJS.ProcessEnv = {}, options: { keepLines?: (line: ProcessLine) => boolean } = {}) {
    this.name = name;
    this.#child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, VISIONA_TUNNEL_LOG_FORMAT: 'json', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stdin.on('error', () => {});
    const keep = options.keepLines ?? (() => true);
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.#child[stream] }).on('line', (text) => {
        let data: Record<string, unknown>;
        try {
          const parsed = JSON.parse(text) as unknown;
          data = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : { text };
        } catch {
          data = { text };
        }
        const line: ProcessLine = { stream, atMs: Date.now(), data };
        if (keep(line)) this.lines.push(line);
        for (const w of [...this.#waiters]) {
          if (w.predicate(line)) {
            this.#waiters.delete(w);
            w.resolve(line);
          }
        }
      });
    }
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /**
   * Resolves with the first line (already seen with `since` undefined, else
   * read at or after `since`) matching `predicate`; fails after `timeoutMs`
   * or when the process exits first.
   */
  waitForLine(predicate: (data: Record<string, unknown>, line: ProcessLine) => boolean, what: string, timeoutMs = 30_000, since?: number): Promise<ProcessLine> {
    const match = (line: ProcessLine): boolean => (since === undefined || line.atMs >= since) && predicate(line.data, line);
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        predicate: match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
      void this.exited.then((exit) => {
        if (!this.#waiters.has(waiter)) return;
        // Let readline deliver the last lines first.
        setImmediate(() => {
          if (!this.#waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${this.name}: exited (${JSON.stringify(exit)}) before ${what}; last lines:\n${this.tail()}`));
        });
      });
    });
  }

  /** Lines whose `msg` (log lines) or `event` (stdout events) is `name`. */
  linesNamed(name: string): ProcessLine[] {
    return this.lines.filter((l) => l.data.msg === name || l.data.event === name);
  }

  /** The last lines, for failure messages. */
  tail(n = 15): string {
    return this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l.data))
      .join('\n');
  }

  /** Sends `signal` (SIGKILL by default) unless the process already exited; resolves once it has. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.#exit === undefined) this.#child.kill(signal);
    await this.exited;
  }

  /** Writes to the child's stdin (for load-generator scripts). */
  send(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Current resident set size in KiB (VmRSS), or undefined once gone. */
  rssKiB(): number | undefined {
    return readProcStatus(this.pid, 'VmRSS');
  }

  /** Peak resident set size in KiB (VmHWM), or undefined once gone. */
  peakRssKiB(): number | undefined {
    return readProcStatus(this.pid, 'VmHWM');
  }
}

/** A `kB` field of /proc/<pid>/status. */
export function readProcStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** A temp-dir relay store with one public agent: its path and the agent's token (removed after the test). */
export async function prepareSingleAgentStore(t: Scope, agent: string): Promise<{ dbPath: string; token: string }> {
  const dbPath = join(tempDir(t), 'relay.db');
  const token = (await prepareAgents(dbPath, [agent])).get(agent) as string;
  return { dbPath, token };
}

/** Creates (or opens) the store at `dbPath` and returns a token for each agent, all public. */
export async function prepareAgents(dbPath: string, agents: readonly string[]): Promise<Map<string, string>> {
  const store = new SqliteRelayStore(dbPath);
  const tokens = new Map<string, string>();
  try {
    // The SQLite store's writes run synchronously inside their call: collected here, they all
    // happen in one transaction, and are awaited after it.
    const created: Promise<CreatedAgentToken>[] = [];
    const createAll = store.db.transaction((names: readonly string[]) => {
      for (const name of names) {
        void store.tokens.ensureAgent(name);
        created.push(store.tokens.createToken(name));
      }
    });
    createAll(agents);
    for (const c of await Promise.all(created)) tokens.set(c.agentName, c.token.reveal());
    for (const name of agents) await store.access.setPolicy(name, { mode: 'public' });
  } finally {
    await store.close();
  }
  return tokens;
}

/** Addresses printed by the relay's `listening` line. */
export interface RelayListening {
  agent: string;
  public: string;
  agentUrl: string;
  publicUrl: string;
}

/** A relay child process with its addresses. */
export interface RelayProcess {
  proc: CliProcess;
  addresses: RelayListening;
  /** The agent listener's port (to restart on the same one). */
  agentPort: number;
}

/** Options of `startRelayProcess`. */
export interface RelayProcessOptions {
  dbPath: string;
  /** Agent listener port; 0 (default) picks a free one. */
  agentPort?: number;
  /** Written as a JSON config file (`--config`), e.g. `{ limits: { offlineGraceMs: 2000 } }`. */
  config?: Record<string, unknown>;
  /** Seconds of drain on SIGTERM (`--grace-ms`, default 0). */
  graceMs?: number;
  name?: string;
}

/** Starts `visiona-tunnel relay` on 127.0.0.1 and waits for its `listening` line; SIGKILLed after the test. */
export async function startRelayProcess(t: Scope, options: RelayProcessOptions): Promise<RelayProcess> {
  const args = [
    ...CLI_ARGS,
    'relay',
    '--agent-listen',
    `127.0.0.1:${options.agentPort ?? 0}`,
    '--public-listen',
    '127.0.0.1:0',
    '--domain',
    CHAOS_DOMAIN,
    '--db',
    options.dbPath,
    '--grace-ms',
    String(options.graceMs ?? 0),
  ];
  if (options.config !== undefined) {
    const configPath = join(dirname(options.dbPath), `relay-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(configPath, JSON.stringify(options.config));
    args.push('--config', configPath);
  }
  // The relay logs one line per visitor request: keep only the lines tests look at.
  const proc = new CliProcess(options.name ?? 'relay', args, {}, { keepLines: (l) => l.data.msg !== 'visitor request' || l.data.status !== 200 });
  t.after(() => proc.kill());
  const listening = await proc.waitForLine((d) => d.event === 'listening', 'the relay to listen', 30_000);
  const addresses = listening.data as unknown as RelayListening;
  return { proc, addresses, agentPort: Number(addresses.agent.slice(addresses.agent.lastIndexOf(':') + 1)) };
}

/** Options of `startAgentProcess`. */
export interface AgentProcessOptions {
  relayUrl: string;
  token: string;
  local: string;
  name?: string;
}

/** Starts `visiona-tunnel agent` (token through the environment); SIGKILLed after the test. */
export function startAgentProcess(t: Scope, options: AgentProcessOptions): CliProcess {
  const proc = new CliProcess(
    options.name ?? 'agent',
    [...CLI_ARGS, 'agent', '--relay', options.relayUrl, '--local', options.local],
    { VISIONA_TUNNEL_TOKEN: options.token },
    { keepLines: (l) => l.data.msg !== 'request' },
  );
  t.after(() => proc.kill());
  return proc;
}

/** True for the agent's `tunnel state` line with `state`. */
export function isAgentState(state: string): (d: Record<string, unknown>) => boolean {
  return (d) => d.msg === 'tunnel state' && d.state === state;
}

/** True for the relay's `agent connected` (or `disconnected`) line of `agent`. */
export function isRelayAgentEvent(event: 'agent connected' | 'agent disconnected', agent: string): (d: Record<string, unknown>) => boolean {
  return (d) => d.msg === event && d.agent === agent;
}

/** What a visitor got: a complete response, or a failure (with the bytes that arrived before it). */
export interface VisitorOutcome {
  status: number | undefined;
  headers: http.IncomingHttpHeaders;
  /** Body bytes received. */
  bytes: number;
  sha256: string;
  /** True when the body ended as its framing said (Content-Length reached or chunked terminator seen). */
  complete: boolean;
  /** Set when the request or response failed (`ECONNRESET`, `ECONNREFUSED`, `aborted` ...). */
  errorCode: string | undefined;
  body: Buffer | undefined;
  finishedAtMs: number;
}

/** Options of `visitAgent`. */
export interface VisitorOptions {
  method?: string;
  body?: Buffer;
  headers?: http.OutgoingHttpHeaders;
  /** Keep the body (default: only when smaller than 1 MiB). */
  keepBody?: boolean;
  /** Called with the response as soon as its head arrives (to pause it, count bytes ...). */
  onResponse?: (res: http.IncomingMessage) => void;
  /** Called once the whole request has been handed to the kernel. */
  onRequestSent?: () => void;
}

/** One request to `agent` through the relay's public listener `publicAddr`; never rejects. */
export function visitAgent(publicAddr: string, agent: string, path: string, options: VisitorOptions = {}): Promise<VisitorOutcome> {
  const i = publicAddr.lastIndexOf(':');
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let bytes = 0;
    let status: number | undefined;
    let headers: http.IncomingHttpHeaders = {};
    let settled = false;
    const finish = (complete: boolean, errorCode: string | undefined): void => {
      if (settled) return;
      settled = true;
      const keep = options.keepBody ?? bytes < 1024 * 1024;
      resolve({
        status,
        headers,
        bytes,
        sha256: hash.digest('hex'),
        complete,
        errorCode,
        body: keep ? Buffer.concat(chunks) : undefined,
        finishedAtMs: Date.now(),
      });
    };
    const req = http.request(
      {
        host: publicAddr.slice(0, i),
        port: Number(publicAddr.slice(i + 1)),
        method: options.method ?? 'GET',
        path,
        headers: { host: `${agent}.${CHAOS_DOMAIN}`, ...options.headers },
        agent: false,
      },
      (res) => {
        status = res.statusCode;
        headers = res.headers;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
          if (options.keepBody !== false && bytes < 1024 * 1024) chunks.push(c);
        });
        res.once('end', () => finish(res.complete, res.complete ? undefined : 'incomplete'));
        res.once('aborted', () => finish(false, 'aborted'));
        res.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
        res.once('close', () => finish(res.complete, res.complete ? undefined : 'closed'));
        options.onResponse?.(res);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    if (options.onRequestSent !== undefined) req.once('finish', options.onRequestSent);
    req.end(options.body);
  });
}

/** SHA-256 (hex) of `buffer`. */
export function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

/** KiB as MiB with one decimal, for reports. */
export function mib(kib: number | undefined): string {
  return kib === undefined ? '?' : (kib / 1024).toFixed(1);
}
