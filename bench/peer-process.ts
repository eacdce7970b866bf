/**
 * The orchestrator's handle on one forked `bench-peer.ts` process: request /
 * reply over IPC with a deadline.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PeerCommand, PeerReply } from './bench-types.js';

const PEER_ENTRY = fileURLToPath(new URL('./bench-peer.ts', import.meta.url));

/** Distributes a command type over its union members, minus the `id` the handle assigns. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A forked peer process that answers `PeerCommand`s. */
export class PeerProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (r: PeerReply) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exited = false;

  /** Forks the peer with the tsx loader plus `extraExecArgv` (e.g. `--cpu-prof`). */
  constructor(name: string, extraExecArgv: string[]) {
    this.name = name;
    this.#child = fork(PEER_ENTRY, [name], {
      execArgv: ['--import', 'tsx', ...extraExecArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: PeerReply) => {
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    this.#child.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiting.values()) w.reject(new Error(`peer ${name} exited (code: ${code}, signal: ${signal})`));
      this.#waiting.clear();
    });
  }

  /** Sends `command` and resolves with the peer's successful reply; rejects on error or after `timeoutMs`. */
  request(command: WithoutId<PeerCommand>, timeoutMs: number): Promise<PeerReply & { ok: true }> {
    if (this.#exited) return Promise.reject(new Error(`peer ${this.name} is not running`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`peer ${this.name} did not answer ${command.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.ok) resolve(reply);
          else reject(new Error(`peer ${this.name}: ${reply.error}`));
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.#child.send({ ...command, id });
    });
  }

  /** Asks the peer to exit normally (so a CPU profile gets written) and waits; kills it after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.request({ op: 'exit' }, timeoutMs).catch(() => {});
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the peer at once (after a hung request). */
  kill(): void {
    if (!this.#exited) this.#child.kill('SIGKILL');
  }
}
