/**
 * Bulk workloads of the end-to-end benchmark, run from this process against
 * a target's visitor URL: one large download, one large upload echoed back,
 * WebSocket ping-pong, and many concurrent downloads. Every answer is checked
 * (status, byte count, and the origin's byte pattern at each chunk's ends);
 * a wrong answer is reported as a failure, never as a figure.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

/** A figure, or why there is none. */
export type Measured = { value: number } | { fail: string };

/** Where a workload sends its requests. */
export interface Endpoint {
  baseUrl: string;
  hostHeader: string | undefined;
}

const MIB = 1024 * 1024;
/** ref-origin's `/bytes` pattern: byte i is i mod 251. */
const PATTERN_MODULUS = 251;
/** Upload chunk: a multiple of the pattern's period, so chunks can be repeated. */
const UPLOAD_CHUNK = Buffer.from(Array.from({ length: PATTERN_MODULUS * 4096 }, (_, i) => i % PATTERN_MODULUS));

/** Checks a response body against the pattern; counts bytes. */
class PatternChecker {
  bytes = 0;
  error: string | undefined;

  add(chunk: Buffer): void {
    if (this.error === undefined && chunk.length > 0) {
      const first = chunk[0] as number;
      const last = chunk[chunk.length - 1] as number;
      if (first !== this.bytes % PATTERN_MODULUS || last !== (this.bytes + chunk.length - 1) % PATTERN_MODULUS) {
        this.error = `wrong bytes near offset ${this.bytes}`;
      }
    }
    this.bytes += chunk.length;
  }

  verdict(status: number | undefined, expectBytes: number): string | undefined {
    if (status !== 200) return `status ${status}`;
    if (this.error !== undefined) return this.error;
    if (this.bytes !== expectBytes) return `${this.bytes} bytes instead of ${expectBytes}`;
    return undefined;
  }
}

function headersFor(e: Endpoint, extra: Record<string, string> = {}): Record<string, string> {
  return e.hostHeader === undefined ? extra : { host: e.hostHeader, ...extra };
}

/** Reads a response through the pattern checker; resolves with the failure, if any. */
function consume(res: IncomingMessage, expectBytes: number): Promise<string | undefined> {
  const checker = new PatternChecker();
  return new Promise((resolve) => {
    res.on('data', (c: Buffer) => checker.add(c));
    res.on('end', () => resolve(checker.verdict(res.statusCode, expectBytes)));
    res.on('error', (err) => resolve(`response failed after ${checker.bytes} bytes: ${err.message}`));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function download(e: Endpoint, bytes: number, agent: Agent | false): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(`${e.baseUrl}/bytes?n=${bytes}`, { agent, headers: headersFor(e) }, (res) => {
      void consume(res, bytes).then(resolve);
    });
    req.on('error', (err) => resolve(`request failed: ${err.message}`));
    req.end();
  });
}

/** One download of `bytes`; MiB/s from request to last byte. */
export async function measureDownload(e: Endpoint, bytes: number, timeoutMs: number): Promise<Measured> {
  const t0 = performance.now();
  const fail = await withTimeout(download(e, bytes, false), timeoutMs, () => `no complete answer within ${timeoutMs} ms`);
  if (fail !== undefined) return { fail };
  return { value: bytes / MIB / ((performance.now() - t0) / 1000) };
}

/** One upload of `bytes` to `/echo`, read back while it is sent; MiB/s of the upload. */
export async function measureUpload(e: Endpoint, bytes: number, timeoutMs: number): Promise<Measured> {
  const t0 = performance.now();
  let req: ReturnType<typeof request> | undefined;
  const done = new Promise<string | undefined>((resolve) => {
    req = request(
      `${e.baseUrl}/echo`,
      { method: 'POST', agent: false, headers: headersFor(e, { 'content-type': 'application/octet-stream', 'content-length': String(bytes) }) },
      (res) => void consume(res, bytes).then(resolve),
    );
    req.on('error', (err) => resolve(`request failed: ${err.message}`));
    const r = req;
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        const n = Math.min(UPLOAD_CHUNK.length, bytes - sent);
        sent += n;
        const ok = r.write(n === UPLOAD_CHUNK.length ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, n));
        if (!ok) {
          r.once('drain', pump);
          return;
        }
      }
      r.end();
    };
    pump();
  });
  const fail = await withTimeout(done, timeoutMs, () => {
    req?.destroy();
    return `no complete echo within ${timeoutMs} ms`;
  });
  if (fail !== undefined) return { fail };
  return { value: bytes / MIB / ((performance.now() - t0) / 1000) };
}

/** `count` downloads of `bytes` at once, each on its own connection; aggregate MiB/s. */
export async function measureConcurrentDownloads(e: Endpoint, count: number, bytes: number, timeoutMs: number): Promise<Measured> {
  const agent = new Agent({ keepAlive: false, maxSockets: count });
  const t0 = performance.now();
  try {
    const results = await withTimeout(
      Promise.all(Array.from({ length: count }, () => download(e, bytes, agent))),
      timeoutMs,
      () => [`not all ${count} downloads complete within ${timeoutMs} ms`],
    );
    const failures = results.filter((r): r is string => r !== undefined);
    if (failures.length > 0) return { fail: `${failures.length} of ${count} wrong: ${failures[0]}` };
    return { value: (count * bytes) / MIB / ((performance.now() - t0) / 1000) };
  } finally {
    agent.destroy();
  }
}

/** WebSocket echo at `/ws`: one binary message of `messageBytes` at a time, for `durationMs`; round trips per second. */
export function measureWebSocketPingPong(e: Endpoint, messageBytes: number, durationMs: number): Promise<Measured> {
  const payload = Buffer.alloc(messageBytes);
  for (let i = 0; i < messageBytes; i++) payload[i] = (i * 7) % 256;
  const url = `${e.baseUrl.replace(/^http/, 'ws')}/ws`;
  return new Promise((resolve) => {
    let settled = false;
    let count = 0;
    let t0 = 0;
    const ws = new WebSocket(url, { headers: headersFor(e), perMessageDeflate: false });
    const finish = (m: Measured): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      ws.terminate();
      resolve(m);
    };
    const guard = setTimeout(() => finish({ fail: `stalled after ${count} messages` }), durationMs + 10_000);
    ws.on('open', () => {
      t0 = performance.now();
      ws.send(payload);
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary || !payload.equals(data)) {
        finish({ fail: `wrong echo after ${count} messages (${data.length} bytes)` });
        return;
      }
      count += 1;
      const elapsedMs = performance.now() - t0;
      if (elapsedMs >= durationMs) finish({ value: (count * 1000) / elapsedMs });
      else ws.send(payload);
    });
    ws.on('unexpected-response', (_req, res) => finish({ fail: `upgrade refused: ${res.statusCode}` }));
    ws.on('error', (err) => finish({ fail: `WebSocket failed after ${count} messages: ${err.message}` }));
    ws.on('close', () => finish({ fail: `WebSocket closed after ${count} messages` }));
  });
}
