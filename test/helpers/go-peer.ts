/**
 * Drives `go-yamux-peer` (test/interop/go-peer, hashicorp/yamux df201c7) from
 * tests: starts the binary, parses its JSON-lines events, waits for events
 * with a failure deadline, and kills it on cleanup.
 *
 * The binary is built by `bash scripts/build-interop.sh`; when it is missing,
 * `GoPeer.start` throws; test files skip before that with `interopSkip`
 * (test/helpers/interop-skip.ts), except under VISIONA_REQUIRE_INTEROP=1 (CI).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Absolute path of the built peer binary. */
export const GO_PEER_BINARY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.interop-bin', 'go-yamux-peer');

/** Default failure deadline of `waitForEvent`, in milliseconds. */
export const DEFAULT_EVENT_TIMEOUT_MS = 30_000;

/** One JSON line printed by the peer: `event` names it; other fields depend on the event. */
export interface GoPeerEvent {
  event: string;
  ts_ms: number;
  [field: string]: unknown;
}

/** How to start the peer. Flags are those of test/interop/go-peer/README.md. */
export interface GoPeerOptions {
  /** yamux role of the Go side (ours is the other one). Not needed for `capture`. */
  role?: 'client' | 'server';
  /** `host:port` of our TCP listener. Not needed for `capture`. */
  connect?: string;
  /** The peer's mode (`echo`, `sink`, `source`, ...). */
  mode: string;
  /** Further flags, e.g. `{ bytes: 1024, open: 2 }` becomes `-bytes 1024 -open 2`. */
  flags?: Record<string, string | number>;
}

/** Throws, with the command that builds it, when the peer binary is missing. */
export function requireGoPeerBinary(): string {
  if (!existsSync(GO_PEER_BINARY)) {
    throw new Error(
      `go-yamux-peer binary not found at ${GO_PEER_BINARY}: run \`bash scripts/build-interop.sh\` (needs Debian's golang-go and golang-github-hashicorp-yamux-dev)`,
    );
  }
  return GO_PEER_BINARY;
}

interface Waiter {
  name: string;
  predicate: (e: GoPeerEvent) => boolean;
  resolve: (e: GoPeerEvent) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A running go-yamux-peer process. */
export class GoPeer {
  /** Every event received so far, in order. */
  readonly events: GoPeerEvent[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #description: string;
  #stderr = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly #exited: Promise<void>;
  readonly #waiters = new Set<Waiter>();

  private constructor(args: string[]) {
    this.#description = `go-yamux-peer ${args.join(' ')}`;
    this.#child = spawn(requireGoPeerBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdin.on('error', () => {});
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-8192);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#onLine(line));
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        // Give the stdout reader the last lines before failing waiters.
        setImmediate(() => {
          for (const w of [...this.#waiters]) this.#fail(w, `exited (code ${code}, signal ${signal})`);
          resolve();
        });
      });
      this.#child.on('error', (err) => {
        this.#exit = { code: null, signal: null };
        for (const w of [...this.#waiters]) this.#fail(w, `could not start: ${err.message}`);
        resolve();
      });
    });
  }

  /** Starts the peer. Throws when the binary is missing. */
  static start(options: GoPeerOptions): GoPeer {
    const args = ['-mode', options.mode];
    if (options.role !== undefined) args.push('-role', options.role);
    if (options.connect !== undefined) args.push('-connect', options.connect);
    for (const [k, v] of Object.entries(options.flags ?? {})) args.push(`-${k}`, String(v));
    return new GoPeer(args);
  }

  /** The last 8 KiB of the peer's stderr (yamux logs), for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Exit status once the process has ended, else null. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.#exit;
  }

  /** Events named `name` received so far. */
  eventsNamed(name: string): GoPeerEvent[] {
    return this.events.filter((e) => e.event === name);
  }

  /**
   * Resolves with the first event (already received or future) named `name`
   * that satisfies `predicate`. Rejects after `timeoutMs` (a failure
   * deadline, not a delay) or when the process exits first.
   */
  waitForEvent(
    name: string,
    predicate: (e: GoPeerEvent) => boolean = () => true,
    timeoutMs = DEFAULT_EVENT_TIMEOUT_MS,
  ): Promise<GoPeerEvent> {
    const seen = this.events.find((e) => e.event === name && predicate(e));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#exit !== null) {
      return Promise.reject(this.#error(`no "${name}" event: exited (code ${this.#exit.code}, signal ${this.#exit.signal})`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        name,
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => this.#fail(waiter, `not within ${timeoutMs} ms`), timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Resolves once `count` events named `name` (satisfying `predicate`) were received. */
  async waitForEvents(
    name: string,
    count: number,
    predicate: (e: GoPeerEvent) => boolean = () => true,
    timeoutMs = DEFAULT_EVENT_TIMEOUT_MS,
  ): Promise<GoPeerEvent[]> {
    let matched = 0;
    await this.waitForEvent(name, (e) => predicate(e) && ++matched >= count, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message} (${matched} of ${count} seen)`, { cause: err });
    });
    return this.events.filter((e) => e.event === name && predicate(e)).slice(0, count);
  }

  /** Sends one command line on stdin (`goaway`, `ping`, `silent`, `open`, `close`). */
  command(line: string): void {
    this.#child.stdin.write(`${line}\n`);
  }

  /** Resolves when the process has exited. */
  exited(): Promise<void> {
    return this.#exited;
  }

  /** Kills the process (SIGKILL) and waits for it; idempotent. */
  async stop(): Promise<void> {
    if (this.#exit === null) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  #onLine(line: string): void {
    let event: GoPeerEvent;
    try {
      event = JSON.parse(line) as GoPeerEvent;
    } catch {
      this.#stderr += `\n[stdout, not JSON] ${line}`;
      return;
    }
    this.events.push(event);
    for (const w of [...this.#waiters]) {
      if (w.name === event.event && w.predicate(event)) {
        this.#settle(w);
        w.resolve(event);
      }
    }
  }

  #settle(w: Waiter): void {
    clearTimeout(w.timer);
    this.#waiters.delete(w);
  }

  #fail(w: Waiter, why: string): void {
    this.#settle(w);
    w.reject(this.#error(`no "${w.name}" event: ${why}`));
  }

  #error(message: string): Error {
    const last = this.events
      .slice(-8)
      .map((e) => JSON.stringify(e))
      .join('\n  ');
    const stderr = this.#stderr.trim().split('\n').slice(-10).join('\n  ');
    return new Error(`${this.#description}: ${message}\n last events:\n  ${last || '(none)'}\n stderr:\n  ${stderr || '(empty)'}`);
  }
}
