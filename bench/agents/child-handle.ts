/**
 * The orchestrator's handle on one child process of `bench:agents`: spawned
 * through `sh -c 'ulimit -n ...; exec node ...'` (so its open-files soft
 * limit is raised to the hard limit of 20 000 before Node starts), with a
 * request / reply IPC channel and a deadline per request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { BenchReply, ReadyMessage } from './bench-agents-types.js';

/** Open files each child may use (the machines' hard limit; it cannot be raised). */
export const CHILD_OPEN_FILES_LIMIT = 20_000;

/** Distributes over a command union, minus the `id` the handle assigns. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A child process answering commands of type `C` over IPC. */
export class ChildHandle<C extends { id: number; op: string }> {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the child's 'ready' message (rejects if it exits first). */
  readonly ready: Promise<ReadyMessage>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  readonly #waiting = new Map<number, { resolve: (r: BenchReply) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #hasExited = false;

  /** Runs `node [execArgv] [--import tsx] <entry> <JSON settings>` (tsx for a .ts entry) with the raised open-files limit. */
  constructor(name: string, entry: string, settings: object, execArgv: string[] = []) {
    this.name = name;
    const args = [...execArgv, ...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), entry, JSON.stringify(settings)];
    this.child = spawn('sh', ['-c', `ulimit -n ${CHILD_OPEN_FILES_LIMIT} && exec "$0" "$@"`, process.execPath, ...args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let onReady: (m: ReadyMessage) => void = () => {};
    let onEarlyExit: (e: Error) => void = () => {};
    this.ready = new Promise<ReadyMessage>((resolve, reject) => {
      onReady = resolve;
      onEarlyExit = reject;
    });
    this.ready.catch(() => {});
    this.child.on('message', (message: BenchReply | ReadyMessage) => {
      if ('type' in message && message.type === 'ready') {
        onReady(message as ReadyMessage);
        return;
      }
      const reply = message as BenchReply;
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    this.exited = new Promise<void>((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#hasExited = true;
        const err = new Error(`${name} exited (code: ${code}, signal: ${signal})`);
        onEarlyExit(err);
        for (const w of this.#waiting.values()) w.reject(err);
        this.#waiting.clear();
        resolve();
      });
    });
  }

  /** Process id (the shell `exec`s node, so this is node's pid). */
  get pid(): number {
    return this.child.pid as number;
  }

  /** Sends `command`; resolves with the successful reply, rejects on error or after `timeoutMs`. */
  request(command: WithoutId<C>, timeoutMs = 30_000): Promise<BenchReply & { ok: true }> {
    if (this.#hasExited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`${this.name} did not answer ${command.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.ok) resolve(reply);
          else reject(new Error(`${this.name}: ${reply.error}`));
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.child.send({ ...command, id });
    });
  }

  /** Kills the process with SIGKILL (a crash, as far as its peers can tell) and waits for it to be gone. */
  async kill(): Promise<void> {
    if (!this.#hasExited) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Asks the child to exit and waits; kills it after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#hasExited) return;
    this.request({ op: 'exit' } as WithoutId<C>, timeoutMs).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Answers commands arriving on this (child) process's IPC channel with `handle`'s result. */
export function serveCommands<C extends { id: number; op: string }>(handle: (command: C) => Promise<Record<string, unknown>>): void {
  process.on('message', (command: C) => {
    handle(command).then(
      (fields) => process.send?.({ ...fields, id: command.id, ok: true }),
      (err: unknown) => process.send?.({ id: command.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // The orchestrator is gone: do not linger.
  process.on('disconnect', () => process.exit(0));
}
