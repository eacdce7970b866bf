/**
 * The local service as a child process of the agent (`agent --spawn CMD`),
 * the way the original desktop shell ran its server: a free loopback port is
 * passed as `PORT`, the service counts as ready once the port accepts
 * connections, it is restarted with backoff when it exits, its output lines
 * go to the log, and `stop()` ends it with SIGTERM, then SIGKILL after a
 * grace period.
 *
 * Events: `'ready'` ({ pid, address }) each time a (re)started child accepts
 * connections; `'exit'` (ServiceExit) each time a child exits;
 * `'restart-scheduled'` ({ attempt, delayMs }).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { raceAbort } from '../../shared/abort.js';
import { backoff, withJitter } from '../../shared/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import { AbortError, ConfigError } from '../../shared/errors.js';
import { noopLogger, type Logger } from '../../shared/logger.js';
import { pickFreePort } from './free-port.js';
import { probePort } from './port-probe.js';
import { isProcessGroupAlive, signalProcessGroup } from './process-group.js';
import { DEFAULT_SERVICE_STOP_GRACE_MS } from './service-defaults.js';

export { DEFAULT_SERVICE_STOP_GRACE_MS };

/** After SIGKILL, how long `stop()` waits for the process group to be gone, in milliseconds. */
const KILL_WAIT_MS = 2_000;

/** Longest output line forwarded to the log, in characters; the rest is cut. */
const MAX_LOG_LINE_CHARS = 8_192;

/** Options of a `ServiceProcess`. */
export interface ServiceProcessOptions {
  /** Shell command line (run with `/bin/sh -c`). */
  command: string;
  /** Address the service is expected on (default `127.0.0.1`). */
  host?: string;
  /** Port given to the service as `PORT`; 0 (default) picks a free one, kept across restarts. */
  port?: number;
  /** Environment the child inherits (default `process.env`), without `VISIONA_TUNNEL_*` variables. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the child (default: the agent's). */
  cwd?: string;
  logger?: Logger;
  clock?: Clock;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Time between SIGTERM and SIGKILL on `stop()`. */
  stopGraceMs?: number;
  /** First restart delay (backoff base). */
  restartInitialMs?: number;
  /** Largest restart delay, before jitter. */
  restartMaxMs?: number;
  /** Spread of the restart delay, 0.2 = +/-20 %; 0 turns jitter off. */
  jitterRatio?: number;
  /** A child that was ready at least this long before it exited restarts at the first backoff step. */
  stabilityThresholdMs?: number;
  /** Pause between readiness probes. */
  probeIntervalMs?: number;
  /** A warning is logged when the port does not accept connections within this time. */
  readyWarnAfterMs?: number;
}

/** How a child process ended. */
export interface ServiceExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A local service run and supervised by the agent. `start()` once, `stop()` is idempotent. */
export class ServiceProcess extends EventEmitter {
  /** The shell command line. */
  readonly command: string;
  /** Address the service is expected on. */
  readonly host: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #cwd: string | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #stopGraceMs: number;
  readonly #restartInitialMs: number;
  readonly #restartMaxMs: number;
  readonly #jitterRatio: number;
  readonly #stabilityThresholdMs: number;
  readonly #probeIntervalMs: number;
  readonly #readyWarnAfterMs: number;
  #port: number;
  #child: ChildProcess | undefined;
  #childExit: Promise<ServiceExit> | undefined;
  #attempt = 0;
  #restarts = 0;
  #readyAtMs: number | undefined;
  #restartTimer: TimerHandle | undefined;
  #starting: Promise<string> | undefined;
  #settleStart: { resolve: (address: string) => void; reject: (err: Error) => void } | undefined;
  #stopping: Promise<void> | undefined;
  readonly #killOnParentExit = () => {
    if (this.#child?.pid !== undefined) this.#signal(this.#child, 'SIGKILL');
  };

  /** Validates the options; nothing runs until `start()`. */
  constructor(options: ServiceProcessOptions) {
    super();
    if (typeof options.command !== 'string' || options.command.trim() === '') {
      throw new ConfigError('spawn', 'must be a non-empty command line', options.command);
    }
    this.command = options.command;
    this.host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) throw new ConfigError('port', 'must be 0-65535', options.port);
    this.#env = options.env ?? process.env;
    this.#cwd = options.cwd;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'service' });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#stopGraceMs = options.stopGraceMs ?? DEFAULT_SERVICE_STOP_GRACE_MS;
    this.#restartInitialMs = options.restartInitialMs ?? 1_000;
    this.#restartMaxMs = options.restartMaxMs ?? 30_000;
    this.#jitterRatio = options.jitterRatio ?? 0.2;
    this.#stabilityThresholdMs = options.stabilityThresholdMs ?? 10_000;
    this.#probeIntervalMs = options.probeIntervalMs ?? 100;
    this.#readyWarnAfterMs = options.readyWarnAfterMs ?? 30_000;
  }

  /** The port given as `PORT` (0 until `start()` picked one). */
  get port(): number {
    return this.#port;
  }

  /** `host:port` of the service, for the agent's `localAddr`. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.#port}`;
  }

  /** Pid of the running child, if any. */
  get pid(): number | undefined {
    return this.#isRunning(this.#child) ? this.#child?.pid : undefined;
  }

  /** How many times the child was restarted after exiting. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Starts the child; resolves with `host:port` once the port accepts
   * connections. Rejects with `AbortError` when `stop()` comes first, or when
   * `signal` aborts (which only abandons the wait: call `stop()` to end the
   * child). A second call returns the same result.
   */
  start(options: { signal?: AbortSignal } = {}): Promise<string> {
    if (this.#stopping !== undefined) return Promise.reject(new AbortError('The local service was stopped'));
    this.#starting ??= this.#start();
    return raceAbort(this.#starting, options.signal);
  }

  /**
   * Stops the child: SIGTERM to its process group, SIGKILL after `graceMs`
   * (default `stopGraceMs`) if anything in the group still runs; resolves once
   * the child has exited. Idempotent; pending restarts are cancelled.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.graceMs ?? this.#stopGraceMs);
    return this.#stopping;
  }

  async #start(): Promise<string> {
    const ready = new Promise<string>((resolve, reject) => {
      this.#settleStart = { resolve, reject };
    });
    if (this.#port === 0) this.#port = await pickFreePort(this.host);
    if (this.#stopping === undefined) {
      process.on('exit', this.#killOnParentExit);
      this.#launch();
    }
    return ready;
  }

  #launch(): void {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(this.#env)) {
      // The agent's token and settings are not the service's business.
      if (!k.startsWith('VISIONA_TUNNEL_')) env[k] = v;
    }
    env.PORT = String(this.#port);
    const detached = process.platform !== 'win32';
    const child = spawn(this.command, {
      shell: true,
      env,
      ...(this.#cwd === undefined ? {} : { cwd: this.#cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stop() reaches the shell's children too.
      detached,
    });
    this.#child = child;
    this.#readyAtMs = undefined;
    const pid = child.pid ?? -1;
    this.#logger.info('local service starting', { pid, port: this.#port, attempt: this.#attempt });
    this.#childExit = new Promise<ServiceExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ pid, code, signal }));
      child.once('error', (err) => {
        this.#logger.error('local service could not be started', { error: err.message });
        if (child.pid === undefined) resolve({ pid, code: null, signal: null });
      });
    });
    void this.#childExit.then((exit) => this.#onExit(child, exit));
    this.#forwardLines(child, 'stdout');
    this.#forwardLines(child, 'stderr');
    void this.#probeUntilReady(child);
  }

  #forwardLines(child: ChildProcess, stream: 'stdout' | 'stderr'): void {
    const input = child[stream];
    if (input === null) return;
    const lines = createInterface({ input, crlfDelay: Infinity });
    lines.on('line', (line) => {
      this.#logger.info(line.length > MAX_LOG_LINE_CHARS ? line.slice(0, MAX_LOG_LINE_CHARS) + '...' : line, { stream, pid: child.pid });
    });
  }

  async #probeUntilReady(child: ChildProcess): Promise<void> {
    const startedAtMs = this.#clock.now();
    let warned = false;
    while (this.#child === child && this.#isRunning(child) && this.#stopping === undefined) {
      if (await probePort(this.host, this.#port)) {
        if (this.#child !== child || !this.#isRunning(child) || this.#stopping !== undefined) return;
        this.#readyAtMs = this.#clock.now();
        this.#logger.info('local service ready', { pid: child.pid, address: this.address });
        this.emit('ready', { pid: child.pid, address: this.address });
        this.#settleStart?.resolve(this.address);
        this.#settleStart = undefined;
        return;
      }
      if (!warned && this.#clock.now() - startedAtMs >= this.#readyWarnAfterMs) {
        warned = true;
        this.#logger.warn('local service does not accept connections yet; is it listening on PORT?', { address: this.address });
      }
      await this.#sleep(this.#probeIntervalMs).promise;
    }
  }

  #onExit(child: ChildProcess, exit: ServiceExit): void {
    this.emit('exit', exit);
    if (this.#stopping !== undefined || this.#child !== child) return;
    const upMs = this.#readyAtMs === undefined ? 0 : this.#clock.now() - this.#readyAtMs;
    this.#logger.warn('local service exited', { pid: exit.pid, code: exit.code, signal: exit.signal });
    // What the shell left behind would hold the port.
    this.#signal(child, 'SIGKILL');
    this.#attempt = this.#readyAtMs !== undefined && upMs >= this.#stabilityThresholdMs ? 1 : this.#attempt + 1;
    const delayMs = withJitter(backoff(this.#attempt, this.#restartInitialMs, this.#restartMaxMs), this.#jitterRatio, this.#random);
    this.#logger.info('restarting local service', { attempt: this.#attempt, delayMs });
    this.emit('restart-scheduled', { attempt: this.#attempt, delayMs });
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping !== undefined) return;
      this.#restarts++;
      this.#launch();
    }, delayMs);
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#restartTimer !== undefined) this.#clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#settleStart?.reject(new AbortError('The local service was stopped before it was ready'));
    this.#settleStart = undefined;
    // start() may still be picking the port.
    await this.#starting?.catch(() => undefined);
    const child = this.#child;
    try {
      if (child === undefined) return;
      const exited = this.#childExit as Promise<ServiceExit>;
      if (this.#isRunning(child) || this.#groupAlive(child)) {
        this.#signal(child, 'SIGTERM');
        const deadlineMs = this.#clock.now() + graceMs;
        const grace = this.#sleep(graceMs);
        await Promise.race([exited, grace.promise]);
        grace.cancel();
        // The shell may be gone while the service it started shuts down.
        while (this.#groupAlive(child) && this.#clock.now() < deadlineMs) {
          await this.#sleep(Math.min(25, deadlineMs - this.#clock.now())).promise;
        }
        if (this.#isRunning(child) || this.#groupAlive(child)) {
          this.#logger.warn('local service did not stop in time; killing it', { pid: child.pid, graceMs });
          this.#signal(child, 'SIGKILL');
          // SIGKILL cannot be caught, but the kernel takes a moment to end the group.
          const killDeadlineMs = this.#clock.now() + KILL_WAIT_MS;
          while (this.#groupAlive(child) && this.#clock.now() < killDeadlineMs) await this.#sleep(10).promise;
        }
      }
      await exited;
      this.#logger.info('local service stopped', { pid: child.pid });
    } finally {
      process.off('exit', this.#killOnParentExit);
    }
  }

  #isRunning(child: ChildProcess | undefined): boolean {
    return child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** True while any process of the child's group runs (the child itself when groups are not used). */
  #groupAlive(child: ChildProcess): boolean {
    if (child.pid === undefined) return false;
    if (process.platform === 'win32') return this.#isRunning(child);
    return isProcessGroupAlive(child.pid);
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    if (process.platform !== 'win32') signalProcessGroup(child.pid, signal);
    else if (this.#isRunning(child)) child.kill(signal);
  }

  #sleep(ms: number): { promise: Promise<void>; cancel: () => void } {
    let handle: TimerHandle | undefined;
    let wake: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
      handle = this.#clock.setTimeout(resolve, Math.max(0, ms));
    });
    return {
      promise,
      cancel: () => {
        if (handle !== undefined) this.#clock.clearTimeout(handle);
        wake();
      },
    };
  }
}
