/**
 * Runs the Go reference binaries (`ref-relay`, `ref-agent`, `ref-origin`,
 * `ref-tap` from ../shared/interop/go, built into .interop-bin/ by
 * `bash scripts/build-interop.sh`) from interop tests: JSON-line events
 * parsed and waited for with a deadline, processes stopped (SIGTERM, by
 * PID). A missing binary fails the test with the command that builds it;
 * test files skip before that with `interopSkip` (test/helpers/interop-skip.ts).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Folder of the built Go binaries. */
export const INTEROP_BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.interop-bin');

/** The reference binaries. */
export type RefBinary = 'ref-relay' | 'ref-agent' | 'ref-origin' | 'ref-tap';

/** One JSON line printed by a reference binary. */
export interface RefEvent {
  event: string;
  ts_ms?: number;
  [field: string]: unknown;
}

/** Options of `RefProcess.waitForEvent` and `nextEvent`. */
export interface WaitForEventOptions {
  /** What the test waits for, in the timeout message (default: `event <name>`). */
  what?: string;
  /** Deadline; default 20 s. */
  timeoutMs?: number;
}

/** Anything that runs cleanup functions at its end (a `TestContext`, or a suite-wide cleanup scope). */
export interface RefScope {
  after(fn: () => unknown): void;
}

/** Absolute path of a reference binary; throws, naming the build command, when it is missing. */
export function requireRefBinary(name: RefBinary): string {
  const path = join(INTEROP_BIN_DIR, name);
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: run \`bash scripts/build-interop.sh\` (needs Debian's golang-go, golang-github-hashicorp-yamux-dev and golang-github-gorilla-websocket-dev)`);
  }
  return path;
}

interface Waiter {
  predicate: (e: RefEvent) => boolean;
  resolve: (e: RefEvent) => void;
}

/** A running reference binary. */
export class RefProcess {
  readonly name: RefBinary;
  /** Every event so far, in order. */
  readonly events: RefEvent[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<number | null>;
  #stderr = '';
  #exitCode: number | null | undefined;

  /** Spawns `name` with `args`; prefer `startRef` (stopped after the test) or `RefProcess.start`. */
  constructor(name: RefBinary, args: string[]) {
    this.name = name;
    this.#child = spawn(requireRefBinary(name), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdin.on('error', () => {});
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-16_384);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      let e: RefEvent;
      try {
        e = JSON.parse(line) as RefEvent;
      } catch {
        return;
      }
      this.events.push(e);
      for (const w of [...this.#waiters]) {
        if (w.predicate(e)) {
          this.#waiters.delete(w);
          w.resolve(e);
        }
      }
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      });
    });
  }

  /** Starts `name` with `args` and waits for its first event (`listening`, which carries the bound addresses). */
  static async start(name: RefBinary, args: string[]): Promise<{ process: RefProcess; listening: RefEvent }> {
    const p = new RefProcess(name, args);
    const listening = await p.waitForEvent('listening', () => true, { timeoutMs: 15_000 });
    return { process: p, listening };
  }

  /** Runs `name` to completion and returns its events (probe modes). */
  static async run(name: RefBinary, args: string[]): Promise<RefEvent[]> {
    const p = new RefProcess(name, args);
    await p.#exited;
    // Let readline deliver the last lines.
    await new Promise((resolve) => setImmediate(resolve));
    return p.events;
  }

  /** The tail of stderr, for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** True once the process exited. */
  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /** Resolves with the first event (past or future) named `name` that matches `predicate`; fails after the deadline. */
  waitForEvent(name: string, predicate: (e: RefEvent) => boolean = () => true, options: WaitForEventOptions = {}): Promise<RefEvent> {
    const match = (e: RefEvent): boolean => e.event === name && predicate(e);
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return this.#waitNext(match, options.what ?? `event ${name}`, options.timeoutMs ?? 20_000);
  }

  /** Resolves with the next event from now on named `name` that matches `predicate`; fails after the deadline. */
  nextEvent(name: string, predicate: (e: RefEvent) => boolean = () => true, options: WaitForEventOptions = {}): Promise<RefEvent> {
    return this.#waitNext((e) => e.event === name && predicate(e), options.what ?? `event ${name}`, options.timeoutMs ?? 20_000);
  }

  #waitNext(predicate: (e: RefEvent) => boolean, what: string, timeoutMs: number): Promise<RefEvent> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: timed out waiting for ${what}; exit: ${String(this.#exitCode)}; stderr tail:\n${this.#stderr.slice(-2000)}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Sends SIGTERM and resolves with the exit code (SIGKILL after `graceMs`); idempotent. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.#exitCode !== undefined || this.exited) return this.#exited;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }
}

/** Starts a reference binary, stopped after the test (or suite) of `t`. */
export function startRef(t: RefScope, name: RefBinary, args: string[]): RefProcess {
  const p = new RefProcess(name, args);
  t.after(() => p.stop());
  return p;
}

/** Starts `ref-origin` on 127.0.0.1:0, stopped after `t`, and returns it with its bound address. */
export async function startRefOrigin(t: RefScope): Promise<{ origin: RefProcess; addr: string }> {
  const origin = startRef(t, 'ref-origin', ['-listen', '127.0.0.1:0']);
  const listening = await origin.waitForEvent('listening', () => true, { what: 'ref-origin listening' });
  return { origin, addr: String(listening['addr']) };
}

/** Runs `ref-origin -ws-probe URL` to completion and returns its result line. */
export async function runWsProbe(url: string): Promise<RefEvent> {
  const probe = new RefProcess('ref-origin', ['-ws-probe', url, '-timeout', '20s']);
  const result = await probe.waitForEvent('ws_probe', () => true, { what: 'ws_probe result', timeoutMs: 30_000 });
  await probe.stop();
  return result;
}
