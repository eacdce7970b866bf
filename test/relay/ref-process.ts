/**
 * Runs the Go reference binaries (`ref-agent`, `ref-origin`, `ref-tap` from
 * ../shared/interop/go, built into .interop-bin/ by `bash
 * scripts/build-interop.sh`) from tests: JSON-line events parsed, waited for
 * with a deadline, processes stopped (SIGTERM, by PID) after the test.
 * A missing binary fails the test with the command that builds it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Scope } from './relay-fixtures.js';

/** Folder of the built Go binaries. */
export const INTEROP_BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.interop-bin');

/** One JSON line printed by a reference binary. */
export interface RefEvent {
  event: string;
  [field: string]: unknown;
}

/** Absolute path of a reference binary; throws, naming the build command, when it is missing. */
export function requireRefBinary(name: 'ref-agent' | 'ref-origin' | 'ref-tap' | 'ref-relay'): string {
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
  readonly name: string;
  /** Every event so far, in order. */
  readonly events: RefEvent[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<number | null>;
  #stderr = '';

  constructor(name: 'ref-agent' | 'ref-origin' | 'ref-tap', args: string[]) {
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
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  /** The last stderr output (for failure messages). */
  get stderr(): string {
    return this.#stderr;
  }

  /** True once the process exited. */
  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /** The first event (past or future) matching `predicate`; fails after `timeoutMs`. */
  waitForEvent(predicate: (e: RefEvent) => boolean, what: string, timeoutMs = 20_000): Promise<RefEvent> {
    const past = this.events.find(predicate);
    if (past !== undefined) return Promise.resolve(past);
    return this.#waitNext(predicate, what, timeoutMs);
  }

  /** The next event from now on matching `predicate`; fails after `timeoutMs`. */
  nextEvent(predicate: (e: RefEvent) => boolean, what: string, timeoutMs = 20_000): Promise<RefEvent> {
    return this.#waitNext(predicate, what, timeoutMs);
  }

  #waitNext(predicate: (e: RefEvent) => boolean, what: string, timeoutMs: number): Promise<RefEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: timed out waiting for ${what}; stderr tail:\n${this.#stderr.slice(-2000)}`));
      }, timeoutMs);
      const waiter: Waiter = {
        predicate,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** SIGTERM, then the exit code (SIGKILL after 10 s). Idempotent. */
  async stop(): Promise<number | null> {
    if (!this.exited) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      const code = await this.#exited;
      clearTimeout(timer);
      return code;
    }
    return this.#exited;
  }
}

/** Starts a reference binary, stopped after the test. */
export function startRef(t: Scope, name: 'ref-agent' | 'ref-origin' | 'ref-tap', args: string[]): RefProcess {
  const p = new RefProcess(name, args);
  t.after(() => p.stop());
  return p;
}

/** Starts `ref-origin` on 127.0.0.1:0 and returns it with its bound address. */
export async function startRefOrigin(t: Scope): Promise<{ origin: RefProcess; addr: string }> {
  const origin = startRef(t, 'ref-origin', ['-listen', '127.0.0.1:0']);
  const listening = await origin.waitForEvent((e) => e.event === 'listening', 'ref-origin listening');
  return { origin, addr: String(listening['addr']) };
}

/** Runs `ref-origin -ws-probe URL` to completion and returns its result line. */
export async function runWsProbe(url: string): Promise<RefEvent> {
  const probe = new RefProcess('ref-origin', ['-ws-probe', url, '-timeout', '20s']);
  const result = await probe.waitForEvent((e) => e.event === 'ws_probe', 'ws_probe result', 30_000);
  await probe.stop();
  return result;
}
