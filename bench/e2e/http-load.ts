/**
 * Closed-loop HTTP load: N keep-alive connections, each sending the next
 * request as soon as the previous answer is in, for a fixed time. Uses `wrk`
 * (Debian) when installed, with a Lua script that checks every response;
 * otherwise a small generator in this process (heavier on the CPU, so its
 * figures are lower; the table names the generator).
 */
import { execFile, execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

/** What one load run measured. */
export interface LoadResult {
  generator: 'wrk' | 'node';
  /** Responses with the expected status and body length. */
  good: number;
  /** Responses with another status or length, plus connection errors and timeouts. */
  bad: number;
  /** The first wrong answer, for the report. */
  firstBad: string | undefined;
  durationMs: number;
  /** Good responses per second. */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** A load run. */
export interface LoadSpec {
  /** Full URL, e.g. `http://127.0.0.1:8081/hello`. */
  url: string;
  /** Host header; undefined: the URL's. */
  host: string | undefined;
  connections: number;
  durationMs: number;
  expectStatus: number;
  expectBodyBytes: number;
}

const WRK_SCRIPT = fileURLToPath(new URL('./wrk-check.lua', import.meta.url));

let wrkAvailable: boolean | undefined;

/** True when `wrk` is on the PATH. */
export function hasWrk(): boolean {
  if (wrkAvailable === undefined) {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' });
      wrkAvailable = true;
    } catch (err) {
      // wrk --version exits 1 after printing its version.
      wrkAvailable = (err as { status?: number }).status === 1;
    }
  }
  return wrkAvailable;
}

/** Runs the load with wrk when available (unless `forceNode`), else in-process. */
export function runHttpLoad(spec: LoadSpec, forceNode = false): Promise<LoadResult> {
  return !forceNode && hasWrk() ? runWrk(spec) : runNodeLoad(spec);
}

function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round(spec.durationMs / 1000));
  const args = ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', WRK_SCRIPT];
  if (spec.host !== undefined) args.push('-H', `Host: ${spec.host}`);
  args.push(spec.url, '--', String(spec.expectStatus), String(spec.expectBodyBytes));
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`wrk failed: ${err.message} ${stderr}`));
        return;
      }
      const line = stdout.split('\n').find((l) => l.startsWith('{"event":"wrk"'));
      if (line === undefined) {
        reject(new Error(`wrk printed no result: ${stdout}`));
        return;
      }
      const r = JSON.parse(line) as Record<string, number | string>;
      const n = (k: string): number => Number(r[k] ?? 0);
      const errors = n('errConnect') + n('errRead') + n('errWrite') + n('errTimeout');
      const durationMs = n('durationUs') / 1000;
      const firstBad =
        n('bad') > 0 ? String(r.firstBad) : errors > 0 ? `${errors} socket errors or timeouts (connect ${n('errConnect')}, read ${n('errRead')}, write ${n('errWrite')}, timeout ${n('errTimeout')})` : undefined;
      resolve({
        generator: 'wrk',
        good: n('good'),
        bad: n('bad') + errors,
        firstBad,
        durationMs,
        requestsPerSecond: (n('good') * 1000) / durationMs,
        p50Ms: n('p50Us') / 1000,
        p99Ms: n('p99Us') / 1000,
      });
    });
  });
}

async function runNodeLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const latenciesUs: number[] = [];
  let good = 0;
  let bad = 0;
  let firstBad: string | undefined;
  const noteBad = (why: string): void => {
    bad += 1;
    firstBad ??= why;
  };
  const startNs = process.hrtime.bigint();
  const endNs = startNs + BigInt(spec.durationMs) * 1_000_000n;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const req = request(spec.url, { agent, headers: spec.host === undefined ? {} : { host: spec.host }, timeout: 10_000 }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => {
          latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
          if (res.statusCode === spec.expectStatus && bytes === spec.expectBodyBytes) good += 1;
          else noteBad(`${res.statusCode} with ${bytes} bytes`);
          resolve();
        });
        res.on('error', (err) => {
          noteBad(err.message);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        noteBad(err.message);
        resolve();
      });
      req.end();
    });
  const loop = async (): Promise<void> => {
    while (process.hrtime.bigint() < endNs) await one();
  };
  await Promise.all(Array.from({ length: spec.connections }, loop));
  const durationMs = Number(process.hrtime.bigint() - startNs) / 1e6;
  agent.destroy();
  latenciesUs.sort((a, b) => a - b);
  const pct = (p: number): number => (latenciesUs.length === 0 ? 0 : (latenciesUs[Math.min(latenciesUs.length - 1, Math.floor((p / 100) * latenciesUs.length))] as number));
  return {
    generator: 'node',
    good,
    bad,
    firstBad,
    durationMs,
    requestsPerSecond: (good * 1000) / durationMs,
    p50Ms: pct(50) / 1000,
    p99Ms: pct(99) / 1000,
  };
}
