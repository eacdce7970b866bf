/**
 * A visitor that keeps asking one agent's local service for `/ping` through
 * the relay's public listener, one request at a time (about 50 per second at
 * most), and tallies what it got: served (200 and the expected body), other
 * statuses, and connection errors (refused while the relay is down).
 */
import * as http from 'node:http';

/** What the visitor saw between two points in time. */
export interface VisitorTally {
  served: number;
  /** Non-200 statuses and wrong bodies, by status (`"200-bad-body"` for a 200 with the wrong body). */
  badStatus: Record<string, number>;
  /** Request failures, by error code (ECONNREFUSED while the relay is down ...). */
  errors: Record<string, number>;
  /** Longest time between two served requests, in ms. */
  longestGapMs: number;
  /** Slowest served request, in ms. */
  slowestMs: number;
}

interface Outcome {
  atMs: number;
  served: boolean;
  key: string;
  durationMs: number;
}

/** Pause between requests, so the visitor does not compete with the relay for the CPU. */
const PAUSE_MS = 20;
/** Pause after a failure (e.g. connection refused), so a dead relay is not hammered. */
const FAILURE_PAUSE_MS = 100;

/** A sequential visitor loop; `start()`, then `tally(fromMs, toMs)` over any window, then `stop()`. */
export class VisitorLoop {
  readonly #url: string;
  readonly #expectedBody: string;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly #outcomes: Outcome[] = [];
  #running = false;
  #done: Promise<void> | undefined;

  constructor(url: string, expectedBody: string) {
    this.#url = url;
    this.#expectedBody = expectedBody;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
    this.#agent.destroy();
  }

  /** Outcomes of requests that finished in [fromMs, toMs). */
  tally(fromMs: number, toMs: number): VisitorTally {
    const tally: VisitorTally = { served: 0, badStatus: {}, errors: {}, longestGapMs: 0, slowestMs: 0 };
    let lastServedMs = fromMs;
    for (const o of this.#outcomes) {
      if (o.atMs < fromMs || o.atMs >= toMs) continue;
      if (o.served) {
        tally.served++;
        tally.longestGapMs = Math.max(tally.longestGapMs, o.atMs - lastServedMs);
        tally.slowestMs = Math.max(tally.slowestMs, o.durationMs);
        lastServedMs = o.atMs;
      } else if (o.key.startsWith('status-')) {
        const k = o.key.slice('status-'.length);
        tally.badStatus[k] = (tally.badStatus[k] ?? 0) + 1;
      } else {
        tally.errors[o.key] = (tally.errors[o.key] ?? 0) + 1;
      }
    }
    tally.longestGapMs = Math.max(tally.longestGapMs, Math.min(toMs, Date.now()) - lastServedMs);
    return tally;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const startMs = Date.now();
      const key = await this.#once();
      const atMs = Date.now();
      const served = key === 'served';
      this.#outcomes.push({ atMs, served, key, durationMs: atMs - startMs });
      await new Promise((resolve) => setTimeout(resolve, served ? PAUSE_MS : FAILURE_PAUSE_MS));
    }
  }

  #once(): Promise<string> {
    return new Promise((resolve) => {
      const req = http.get(this.#url, { agent: this.#agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode === 200 && body === this.#expectedBody) resolve('served');
          else resolve(`status-${res.statusCode}${res.statusCode === 200 ? '-bad-body' : ''}`);
        });
        res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'response-error'));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('visitor timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'request-error'));
    });
  }
}
