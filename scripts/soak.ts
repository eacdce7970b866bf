/**
 * Soak test (`npm run soak`, not part of `npm test`): real relay and agent
 * processes (the CLI, run from the sources like the chaos tests), a local
 * service in this process, and N minutes of mixed visitor load: small GETs,
 * 10 MiB downloads, 2 MiB uploads and WebSocket echo sessions, every byte
 * checked (SHA-256), with a planned agent restart (SIGTERM, new process)
 * every minute.
 *
 * Each minute it prints the requests served, errors by code (planned: the
 * request overlapped a restart window; unplanned: any other), and the RSS of
 * both processes. At the end, the acceptance:
 *   - zero wrong bytes;
 *   - zero errors other than during the planned restarts (restart start ->
 *     agent back online + RESTART_SETTLE_MS);
 *   - RSS in the last minute within 10 % of minute 2 (medians of the 5 s
 *     samples of each minute; the agent is a new process each minute, so its
 *     figure compares like with like).
 * Exit code 0 when accepted, 1 otherwise.
 *
 * Usage: npm run soak -- [--minutes 10] [--workers 8] [--use-bin] [--json FILE]
 *   --use-bin   run bin/visiona-tunnel.js (dist/ when built) instead of the sources
 *   --json FILE also write the per-minute figures and the verdict as JSON
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CHAOS_DOMAIN,
  CLI_ARGS,
  CliProcess,
  REPO_ROOT,
  isAgentState,
  prepareAgents,
  readProcStatus,
} from '../test/chaos/chaos-fixtures.js';

const AGENT = 'soak';
const SMALL_BODY = 'hello from the soak origin\n';
const DOWNLOAD_BYTES = 10 * 1024 * 1024;
const UPLOAD_BYTES = 2 * 1024 * 1024;
const WS_MESSAGES = 20;
const RSS_SAMPLE_MS = 5_000;
/** After the restarted agent is online, errors are still counted as planned for this long (stragglers). */
const RESTART_SETTLE_MS = 2_000;
/** A request with no outcome after this long is a hang (counted as an error). */
const REQUEST_DEADLINE_MS = 60_000;

/** The mix: weights of each operation. */
const MIX = [
  { op: 'get', weight: 70 },
  { op: 'download', weight: 5 },
  { op: 'upload', weight: 15 },
  { op: 'websocket', weight: 10 },
] as const;
type Op = (typeof MIX)[number]['op'];

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    workers: { type: 'string', default: '8' },
    'use-bin': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const MINUTES = Number(flags.minutes);
const WORKERS = Number(flags.workers);
if (!Number.isInteger(MINUTES) || MINUTES < 2) throw new Error(`--minutes must be an integer >= 2 (got ${flags.minutes})`);
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error(`--workers must be a positive integer (got ${flags.workers})`);
const CLI = flags['use-bin'] === true ? [join(REPO_ROOT, 'bin', 'visiona-tunnel.js')] : [...CLI_ARGS];

/** Deterministic download bytes: byte i = i mod 251. */
function patternChunk(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}
const DOWNLOAD_SHA256 = createHash('sha256').update(patternChunk(0, DOWNLOAD_BYTES)).digest('hex');

/** The local service: /hello, /bytes?n=N, /upload (answers the body's SHA-256), /ws (echo). */
async function startOrigin(): Promise<{ addr: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/hello') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(SMALL_BODY) });
      res.end(SMALL_BODY);
    } else if (url.pathname === '/bytes') {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
      let offset = 0;
      const pump = (): void => {
        while (offset < n) {
          const len = Math.min(64 * 1024, n - offset);
          const ok = res.write(patternChunk(offset, len));
          offset += len;
          if (!ok) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => res.off('drain', pump));
      pump();
    } else if (url.pathname === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        const body = JSON.stringify({ bytes, sha256: hash.digest('hex') });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One finished operation. */
interface Outcome {
  op: Op;
  startedMs: number;
  endedMs: number;
  /** undefined = success. */
  error?: string;
  wrongBytes?: boolean;
  bytes: number;
}

let publicAddr = '';
const visitorAgent = new http.Agent({ keepAlive: true, maxSockets: WORKERS * 2 });

/** One HTTP exchange through the relay; retried once when a kept-alive socket turns out to be closed. */
function request(method: string, path: string, body?: Buffer, retried = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; sha256: string; bytes: number; text: string }> {
  const i = publicAddr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: publicAddr.slice(0, i), port: Number(publicAddr.slice(i + 1)), method, path, headers: { host: `${AGENT}.${CHAOS_DOMAIN}` }, agent: visitorAgent },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let text = '';
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
          if (text.length < 4096) text += c.toString('latin1');
        });
        res.once('end', () => {
          if (!res.complete) reject(Object.assign(new Error('incomplete body'), { code: 'INCOMPLETE_BODY' }));
          else resolve({ status: res.statusCode ?? 0, headers: res.headers, sha256: hash.digest('hex'), bytes, text });
        });
        res.once('error', reject);
        res.once('aborted', () => reject(Object.assign(new Error('aborted'), { code: 'ABORTED' })));
      },
    );
    req.setTimeout(REQUEST_DEADLINE_MS, () => req.destroy(Object.assign(new Error('hang'), { code: 'HANG' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket closed by the relay between two requests: resend once, as browsers do.
      if (req.reusedSocket && !retried && err.code === 'ECONNRESET') {
        request(method, path, body, true).then(resolve, reject);
        return;
      }
      reject(err);
    });
    req.end(body);
  });
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

async function runOp(op: Op): Promise<Outcome> {
  const startedMs = Date.now();
  const done = (fields: Partial<Outcome> & { bytes: number }): Outcome => ({ op, startedMs, endedMs: Date.now(), ...fields });
  try {
    switch (op) {
      case 'get': {
        const r = await request('GET', '/hello');
        if (r.status !== 200) return done({ error: String(r.headers['x-tunnel-error'] ?? `HTTP_${r.status}`), bytes: r.bytes });
        return done(r.text === SMALL_BODY ? { bytes: r.bytes } : { error: 'WRONG_BYTES', wrongBytes: true, bytes: r.bytes });
      }
      case 'download': {
        const r = await request('GET', `/bytes?n=${DOWNLOAD_BYTES}`);
        if (r.status !== 200) return done({ error: String(r.headers['x-tunnel-error'] ?? `HTTP_${r.status}`), bytes: r.bytes });
        return done(r.sha256 === DOWNLOAD_SHA256 && r.bytes === DOWNLOAD_BYTES ? { bytes: r.bytes } : { error: 'WRONG_BYTES', wrongBytes: true, bytes: r.bytes });
      }
      case 'upload': {
        const body = randomBytes(UPLOAD_BYTES);
        const expected = createHash('sha256').update(body).digest('hex');
        const r = await request('POST', '/upload', body);
        if (r.status !== 200) return done({ error: String(r.headers['x-tunnel-error'] ?? `HTTP_${r.status}`), bytes: UPLOAD_BYTES });
        const got = JSON.parse(r.text) as { bytes: number; sha256: string };
        return done(got.sha256 === expected && got.bytes === UPLOAD_BYTES ? { bytes: UPLOAD_BYTES } : { error: 'WRONG_BYTES', wrongBytes: true, bytes: UPLOAD_BYTES });
      }
      case 'websocket':
        return done(await webSocketSession());
    }
  } catch (err) {
    return done({ error: errorCode(err), bytes: 0 });
  }
}

/** Opens a WebSocket through the relay (path routing), echoes WS_MESSAGES random messages one by one, closes. */
function webSocketSession(): Promise<{ bytes: number; error?: string; wrongBytes?: boolean }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${publicAddr}/a/${AGENT}/ws`, { perMessageDeflate: false, handshakeTimeout: REQUEST_DEADLINE_MS });
    let pending: Buffer | undefined;
    let echoed = 0;
    let bytes = 0;
    let settled = false;
    const finish = (result: { bytes: number; error?: string; wrongBytes?: boolean }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      ws.terminate();
      resolve(result);
    };
    const deadline = setTimeout(() => finish({ bytes, error: 'HANG' }), REQUEST_DEADLINE_MS);
    const sendNext = (): void => {
      pending = randomBytes(1 + Math.floor(Math.random() * 64 * 1024));
      ws.send(pending);
    };
    ws.on('open', sendNext);
    ws.on('message', (data: Buffer) => {
      bytes += data.length;
      if (pending === undefined || !pending.equals(data)) return finish({ bytes, error: 'WRONG_BYTES', wrongBytes: true });
      pending = undefined;
      echoed += 1;
      if (echoed < WS_MESSAGES) return sendNext();
      ws.once('close', () => finish({ bytes }));
      ws.close(1000);
    });
    ws.on('unexpected-response', (_req, res) => finish({ bytes, error: String(res.headers['x-tunnel-error'] ?? `HTTP_${res.statusCode ?? 0}`) }));
    ws.on('error', (err: NodeJS.ErrnoException) => finish({ bytes, error: `WS_${err.code ?? err.message}` }));
    ws.on('close', (code) => {
      if (echoed < WS_MESSAGES) finish({ bytes, error: `WS_CLOSE_${code}` });
    });
  });
}

function pickOp(): Op {
  const total = MIX.reduce((s, m) => s + m.weight, 0);
  let r = Math.random() * total;
  for (const m of MIX) {
    r -= m.weight;
    if (r < 0) return m.op;
  }
  return 'get';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] as number);
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'visiona-soak-'));
  const processes: CliProcess[] = [];
  const origin = await startOrigin();
  try {
    const dbPath = join(dir, 'relay.db');
    const token = (await prepareAgents(dbPath, [AGENT])).get(AGENT) as string;
    const relay = new CliProcess(
      'relay',
      [...CLI, 'relay', '--agent-listen', '127.0.0.1:0', '--public-listen', '127.0.0.1:0', '--domain', CHAOS_DOMAIN, '--db', dbPath, '--grace-ms', '0'],
      {},
      // One access-log line per request: keep none (the soak counts outcomes itself).
      { keepLines: (l) => l.data.msg !== 'visitor request' },
    );
    processes.push(relay);
    const listening = (await relay.waitForLine((d) => d.event === 'listening', 'the relay to listen', 60_000)).data as { agentUrl: string; public: string };
    publicAddr = listening.public;

    const startAgent = async (n: number): Promise<CliProcess> => {
      const agent = new CliProcess(`agent-${n}`, [...CLI, 'agent', '--relay', listening.agentUrl, '--local', origin.addr], { VISIONA_TUNNEL_TOKEN: token }, { keepLines: (l) => l.data.msg !== 'request' });
      processes.push(agent);
      await agent.waitForLine(isAgentState('online'), `agent ${n} to come online`, 60_000);
      return agent;
    };
    let agent = await startAgent(1);
    console.log(`soak: ${MINUTES} min, ${WORKERS} workers, relay pid ${relay.pid}, public ${publicAddr}, ${flags['use-bin'] === true ? 'bin/visiona-tunnel.js' : 'sources (tsx)'}`);

    const outcomes: Outcome[] = [];
    const restartWindows: Array<{ startMs: number; endMs: number }> = [];
    const rssSamples: Array<{ atMs: number; relayKiB: number; agentKiB: number }> = [];
    const t0 = Date.now();
    const endMs = t0 + MINUTES * 60_000;
    const minuteOf = (ms: number): number => Math.min(MINUTES, Math.floor((ms - t0) / 60_000) + 1);

    const sampler = setInterval(() => {
      const relayKiB = readProcStatus(relay.pid, 'VmRSS');
      const agentKiB = readProcStatus(agent.pid, 'VmRSS');
      if (relayKiB !== undefined && agentKiB !== undefined) rssSamples.push({ atMs: Date.now(), relayKiB, agentKiB });
    }, RSS_SAMPLE_MS);

    const workers = Array.from({ length: WORKERS }, async () => {
      while (Date.now() < endMs) outcomes.push(await runOp(pickOp()));
    });

    // An agent restart at each minute mark, and a report of the minute just ended.
    const reports: Array<Record<string, unknown>> = [];
    const isPlanned = (o: Outcome): boolean => restartWindows.some((w) => o.startedMs <= w.endMs + RESTART_SETTLE_MS && o.endedMs >= w.startMs);
    const report = (minute: number): void => {
      const inMinute = outcomes.filter((o) => minuteOf(o.endedMs) === minute);
      const served = inMinute.filter((o) => o.error === undefined).length;
      const errors: Record<string, number> = {};
      for (const o of inMinute) {
        if (o.error === undefined) continue;
        const key = `${o.error}${isPlanned(o) ? ' (planned)' : ''}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
      const samples = rssSamples.filter((s) => minuteOf(s.atMs) === minute);
      const relayKiB = median(samples.map((s) => s.relayKiB));
      const agentKiB = median(samples.map((s) => s.agentKiB));
      const mibServed = inMinute.filter((o) => o.error === undefined).reduce((s, o) => s + o.bytes, 0) / 1024 / 1024;
      reports.push({ minute, served, errors, relayRssKiB: relayKiB, agentRssKiB: agentKiB, mibServed: Number(mibServed.toFixed(1)) });
      console.log(
        `minute ${String(minute).padStart(2)}: served ${String(served).padStart(6)} (${mibServed.toFixed(0)} MiB), ` +
          `errors ${Object.keys(errors).length === 0 ? 'none' : JSON.stringify(errors)}, RSS relay ${mib(relayKiB)} MiB, agent ${mib(agentKiB)} MiB`,
      );
    };
    for (let minute = 1; minute <= MINUTES; minute++) {
      const markMs = t0 + minute * 60_000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, markMs - Date.now())));
      if (minute < MINUTES) {
        const window = { startMs: Date.now(), endMs: Number.POSITIVE_INFINITY };
        restartWindows.push(window);
        await agent.kill('SIGTERM');
        agent = await startAgent(minute + 1);
        window.endMs = Date.now();
      } else {
        await Promise.all(workers);
      }
      // Let requests that ended in this minute land in `outcomes` first.
      report(minute);
    }
    clearInterval(sampler);

    const wrongBytes = outcomes.filter((o) => o.wrongBytes === true).length;
    const unplanned = outcomes.filter((o) => o.error !== undefined && !isPlanned(o));
    const planned = outcomes.filter((o) => o.error !== undefined && isPlanned(o));
    const m2 = reports[1] as { relayRssKiB: number; agentRssKiB: number };
    const mLast = reports[MINUTES - 1] as { relayRssKiB: number; agentRssKiB: number };
    const relayDrift = mLast.relayRssKiB / m2.relayRssKiB - 1;
    const agentDrift = mLast.agentRssKiB / m2.agentRssKiB - 1;
    const restartsMs = restartWindows.map((w) => w.endMs - w.startMs);
    const verdict = {
      minutes: MINUTES,
      workers: WORKERS,
      served: outcomes.filter((o) => o.error === undefined).length,
      byOp: Object.fromEntries(MIX.map((m) => [m.op, outcomes.filter((o) => o.op === m.op && o.error === undefined).length])),
      wrongBytes,
      plannedErrors: planned.length,
      unplannedErrors: unplanned.length,
      unplannedByCode: unplanned.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.error as string]: (acc[o.error as string] ?? 0) + 1 }), {}),
      restarts: restartWindows.length,
      restartMs: { min: Math.min(...restartsMs), max: Math.max(...restartsMs) },
      relayRssDrift: Number((relayDrift * 100).toFixed(1)),
      agentRssDrift: Number((agentDrift * 100).toFixed(1)),
      accepted: wrongBytes === 0 && unplanned.length === 0 && Math.abs(relayDrift) <= 0.1 && Math.abs(agentDrift) <= 0.1,
    };
    console.log(
      `\nserved ${verdict.served} (${JSON.stringify(verdict.byOp)}); ${verdict.restarts} agent restarts (${verdict.restartMs.min}-${verdict.restartMs.max} ms each); ` +
        `${verdict.plannedErrors} errors during planned restarts`,
    );
    console.log(`acceptance: wrong bytes ${wrongBytes} (want 0): ${wrongBytes === 0 ? 'ok' : 'FAIL'}`);
    console.log(`acceptance: unplanned errors ${unplanned.length} (want 0): ${unplanned.length === 0 ? 'ok' : `FAIL ${JSON.stringify(verdict.unplannedByCode)}`}`);
    console.log(
      `acceptance: relay RSS minute ${MINUTES} vs 2: ${mib(mLast.relayRssKiB)} vs ${mib(m2.relayRssKiB)} MiB (${verdict.relayRssDrift} %, want within 10 %): ${Math.abs(relayDrift) <= 0.1 ? 'ok' : 'FAIL'}`,
    );
    console.log(
      `acceptance: agent RSS minute ${MINUTES} vs 2: ${mib(mLast.agentRssKiB)} vs ${mib(m2.agentRssKiB)} MiB (${verdict.agentRssDrift} %, want within 10 %): ${Math.abs(agentDrift) <= 0.1 ? 'ok' : 'FAIL'}`,
    );
    console.log(`SOAK ${verdict.accepted ? 'PASSED' : 'FAILED'}`);
    if (typeof flags.json === 'string') writeFileSync(flags.json, JSON.stringify({ minutes: reports, verdict }, null, 2) + '\n');
    return verdict.accepted ? 0 : 1;
  } finally {
    visitorAgent.destroy();
    for (const p of processes.reverse()) await p.kill('SIGKILL');
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
