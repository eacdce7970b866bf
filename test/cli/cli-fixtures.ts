/**
 * Fixtures for CLI tests, all on 127.0.0.1 with port 0: `visiona-tunnel`
 * child processes with line-by-line waits on their output, in-process runs
 * of `main()`, a temp folder, an HTTP GET, a condition waiter, and TLS
 * certificates made with openssl at test time.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { waitFor as pollUntil } from '../helpers/wait-for.js';

/** Anything that runs cleanup functions at its end (a `TestContext`). */
export interface Scope {
  after(fn: () => unknown): void;
}

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `visiona-tunnel` executable, as a user runs it. */
export const CLI_BIN = join(REPO_ROOT, 'bin', 'visiona-tunnel.js');

/** A fresh temp folder, removed after the test. */
export function tempDir(t: Scope, prefix = 'cli-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `condition` until it holds (no fixed sleep: it checks every few milliseconds); 30 s for spawned processes. */
export function waitFor(condition: () => boolean, what = 'condition', timeoutMs = 30_000): Promise<void> {
  return pollUntil(condition, what, timeoutMs);
}

/** A response read whole. */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET (or another method) over http or https; `ca` trusts a test CA. */
export function httpGet(url: string, options: { headers?: http.OutgoingHttpHeaders; ca?: string | Buffer; method?: string } = {}): Promise<HttpResult> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false, ...(options.ca === undefined ? {} : { ca: options.ca }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The environment of a CLI child: this process's, without VISIONA_TUNNEL_* settings, JSON logs, plus `extra`. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VISIONA_TUNNEL_')) env[k] = v;
  return { ...env, VISIONA_TUNNEL_LOG_FORMAT: 'json', ...extra };
}

/** How a child process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `visiona-tunnel` child process. */
export interface CliProcess {
  child: ChildProcess;
  stdoutLines: string[];
  stderrLines: string[];
  /** Resolves with the first stdout line (already seen or coming) matching `match`; rejects if the process exits first. */
  waitForStdout(match: (line: string) => boolean, what: string): Promise<string>;
  /** The same for stderr. */
  waitForStderr(match: (line: string) => boolean, what: string): Promise<string>;
  /** The first JSON log line on stderr for which `match` holds. */
  waitForLog(match: (record: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
  exited: Promise<ProcessExit>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** Starts `node bin/visiona-tunnel.js ...args`; killed after the test if still running. */
export function startCli(t: Scope, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    env: options.env ?? cliEnv(),
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // 'close' comes after the exit and after every output line was read.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  t.after(async () => {
    if (!hasExited) child.kill('SIGKILL');
    await closed;
  });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters = { stdout: new Set<(line: string) => void>(), stderr: new Set<(line: string) => void>() };
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: child[stream], crlfDelay: Infinity }).on('line', (line) => {
      lines[stream].push(line);
      for (const w of [...waiters[stream]]) w(line);
    });
  }
  const waitLine = (stream: 'stdout' | 'stderr', match: (line: string) => boolean, what: string): Promise<string> => {
    const seen = lines[stream].find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = (line: string) => {
        if (!match(line)) return;
        waiters[stream].delete(waiter);
        resolve(line);
      };
      waiters[stream].add(waiter);
      void closed.then(async () => {
        if (!waiters[stream].delete(waiter)) return;
        const e = await exited;
        reject(new Error(`visiona-tunnel ${args[0]} exited (${e.code ?? e.signal}) before: ${what}\nstderr:\n${lines.stderr.join('\n')}`));
      });
    });
  };
  const parse = (line: string): Record<string, unknown> | undefined => {
    try {
      const v = JSON.parse(line) as unknown;
      return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    child,
    stdoutLines: lines.stdout,
    stderrLines: lines.stderr,
    waitForStdout: (match, what) => waitLine('stdout', match, what),
    waitForStderr: (match, what) => waitLine('stderr', match, what),
    waitForLog: async (match, what) => {
      const line = await waitLine('stderr', (l) => {
        const r = parse(l);
        return r !== undefined && match(r);
      }, what);
      return parse(line) as Record<string, unknown>;
    },
    exited,
    stop: (signal = 'SIGTERM') => {
      if (!hasExited) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a short `visiona-tunnel` command to its end. */
export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; asExecutable?: boolean } = {},
): Promise<ProcessExit & { stdout: string; stderr: string }> {
  // asExecutable: run the file itself (its `sh` line starts Node), as an installed command runs.
  const [command, argv] = options.asExecutable === true ? [CLI_BIN, args] : [process.execPath, [CLI_BIN, ...args]];
  const child = spawn(command, argv, {
    env: options.env ?? cliEnv(),
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

/** Output of an in-process `main()` run. */
export interface InProcessRun {
  exit: Promise<number>;
  stdout: string[];
  stderr: string[];
  /** Aborts the run's signal (what SIGINT/SIGTERM do). */
  abort(): void;
}

/** Runs `main(argv)` in this process with its own signal and captured output; aborted after the test. */
export function runMain(t: Scope, argv: string[], env: NodeJS.ProcessEnv = {}): InProcessRun {
  const controller = new AbortController();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = main(argv, {
    env: { VISIONA_TUNNEL_LOG_FORMAT: 'json', ...env },
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    signal: controller.signal,
    isTty: false,
  });
  t.after(async () => {
    controller.abort();
    await exit;
  });
  return { exit, stdout, stderr, abort: () => controller.abort() };
}

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it (PEM file paths). */
export interface TestCertificates {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** True when the openssl command is available. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Makes a throwaway CA and a server certificate for 127.0.0.1/localhost with openssl, in `dir`. */
export function makeTestCertificates(dir: string): TestCertificates {
  const p = (name: string) => join(dir, name);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'),
    '-days', '2', '-subj', '/CN=visiona-tunnel test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext')]);
  return { caCert: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key') };
}
