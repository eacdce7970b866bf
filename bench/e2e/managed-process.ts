/**
 * A child process of the end-to-end benchmark: started with its stderr in a
 * log file, its stdout read line by line (readiness events are JSON lines
 * there), its CPU time and memory read from /proc, and stopped with SIGTERM
 * (SIGKILL after a grace).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** CPU time and memory of a process, from /proc/<pid>/stat and /proc/<pid>/status. */
export interface ProcessSample {
  /** User plus system CPU time since the process started, in milliseconds. */
  cpuMs: number;
  /** Resident set size now, in bytes. */
  rssBytes: number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRssBytes: number;
}

let clockTicksPerSecond: number | undefined;

function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** Reads CPU time and memory of `pid`; undefined once the process is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { cpuMs: ((utime + stime) * 1000) / ticksPerSecond(), rssBytes: kib('VmRSS') * 1024, peakRssBytes: kib('VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

/** Options of `ManagedProcess.start`. */
export interface StartProcessOptions {
  /** Short name for messages (`relay`, `agent`). */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File that receives the process's stderr. */
  logFile: string;
}

/** A started child process. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #lineWaiters = new Set<() => void>();
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(options: StartProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const errFd = openSync(options.logFile, 'a');
    try {
      this.#child = spawn(options.command, options.args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', errFd],
      });
    } finally {
      closeSync(errFd);
    }
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal === null ? null : 128);
        for (const wake of this.#lineWaiters) wake();
        resolve(this.#exitCode);
      });
      this.#child.once('error', (err) => {
        this.#lines.push(`spawn failed: ${err.message}`);
        this.#exitCode = 127;
        for (const wake of this.#lineWaiters) wake();
        resolve(127);
      });
    });
    if (this.#child.stdout !== null) {
      createInterface({ input: this.#child.stdout }).on('line', (line) => {
        if (this.#lines.length < 10_000) this.#lines.push(line);
        for (const wake of this.#lineWaiters) wake();
      });
    }
  }

  /** Spawns the process. */
  static start(options: StartProcessOptions): ManagedProcess {
    return new ManagedProcess(options);
  }

  /** Process id. */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Resolves with the exit code once the process has exited. */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Stdout lines read so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** CPU time and memory now. */
  sample(): ProcessSample | undefined {
    return this.#child.pid === undefined ? undefined : sampleProcess(this.#child.pid);
  }

  /**
   * Waits for a stdout line that `match` accepts and returns what it returns.
   * Throws when the process exits first or after `timeoutMs`.
   */
  async waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.#lines.length; seen++) {
        const found = match(this.#lines[seen] as string);
        if (found !== undefined) return found;
      }
      if (this.#exitCode !== undefined) throw new Error(`${this.name} exited (code ${this.#exitCode}) before it was ready; see ${this.logFile}`);
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new Error(`${this.name} not ready after ${timeoutMs} ms; see ${this.logFile}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, leftMs);
        function wake(): void {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        const waiters = this.#lineWaiters;
        waiters.add(wake);
      });
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exitCode !== undefined) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** Parses a line as a JSON object; undefined when it is not one. */
export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
