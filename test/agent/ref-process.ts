/**
 * Runs the Go reference binaries (ref-relay, ref-origin, ref-tap from
 * ../shared/interop/go, built into .interop-bin/ by
 * `bash scripts/build-interop.sh`) for agent interop tests: parses their
 * JSON-lines events, waits for events, stops them by PID.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Folder of the built Go binaries. */
export const INTEROP_BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.interop-bin');

/** The reference binaries. */
export type RefBinary = 'ref-relay' | 'ref-origin' | 'ref-tap' | 'ref-agent';

/** One JSON line of a reference binary. */
export interface RefEvent {
  event: string;
  ts_ms?: number;
  [field: string]: unknown;
}

/** Absolute path of `name`; throws with the build command when it is missing. */
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
  readonly events: RefEvent[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<number | null>;
  #stderr = '';
  #exitCode: number | null | undefined;

  private constructor(name: RefBinary, args: string[]) {
    this.name = name;
    this.#child = spawn(requireRefBinary(name), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdin.on('error', () => {});
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-8192);
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
      this.#child.on('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      });
    });
  }

  /** Starts `name` with `args` and waits for its first event (`listening`, which carries the bound addresses). */
  static async start(name: RefBinary, args: string[]): Promise<{ process: RefProcess; listening: RefEvent }> {
    const p = new RefProcess(name, args);
    const listening = await p.waitForEvent('listening', () => true, 15_000);
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

  /** Resolves with the first event (past or future) named `name` that matches `predicate`; fails after `timeoutMs`. */
  waitForEvent(name: string, predicate: (e: RefEvent) => boolean = () => true, timeoutMs = 20_000): Promise<RefEvent> {
    const match = (e: RefEvent): boolean => e.event === name && predicate(e);
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate: match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: timed out waiting for event ${name}; exit: ${String(this.#exitCode)}; stderr: ${this.#stderr.slice(-2000)}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Sends SIGTERM and resolves with the exit code; idempotent. Kills after `graceMs`. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (this.#exitCode !== undefined) return this.#exitCode;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }
}
