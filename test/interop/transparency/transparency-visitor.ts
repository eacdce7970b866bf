/**
 * What the transparency cases share: request ids, the visitor's standard
 * headers, the check that a visitor connection is still clean after a
 * response, and running curl with its defaults.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { RawHttpConnection, headerValue, type RawHeader, type RawHttpResponse } from '../../helpers/raw-http-client.js';
import type { CleanupTarget } from '../../helpers/loopback.js';
import type { SeenRequest } from './transparency-service.js';
import type { TransparencyCell } from './transparency-cells.js';

/** Options of every case: a deadline well below the file's, so one hang fails one case, not the whole cell. */
export const CASE_OPTIONS = { timeout: 60_000 };

let nextId = 0;

/** A request id unique in this process (`X-Request-Id`, how the service names what it saw). */
export function requestId(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** `Host` for the cell's main agent and `X-Request-Id: id`, then `extra`. */
export function visitorHeaders(cell: TransparencyCell, id: string, extra: readonly RawHeader[] = []): RawHeader[] {
  return [['Host', cell.host], ['X-Request-Id', id], ...extra];
}

/** A raw connection to the cell's public listener, destroyed after `t`. */
export function connectVisitor(t: CleanupTarget, cell: TransparencyCell): Promise<RawHttpConnection> {
  return RawHttpConnection.connect(t, cell.public);
}

/** Every value of the header `name` in what the service saw, in order. */
export function seenHeaderValues(seen: SeenRequest, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < seen.rawHeaders.length; i += 2) {
    if ((seen.rawHeaders[i] as string).toLowerCase() === lower) out.push(seen.rawHeaders[i + 1] as string);
  }
  return out;
}

/** The first value of the header `name` the service saw, or undefined. */
export function seenHeader(seen: SeenRequest, name: string): string | undefined {
  return seenHeaderValues(seen, name)[0];
}

/** How a visitor connection ended up after a response: closed by the relay, or still usable. */
export type ConnectionAfter = 'closed' | 'reused';

/**
 * Checks that nothing is left on `c` that could be taken for a response
 * (the keep-alive connection is not corrupted): either the relay closed it
 * (announced with `Connection: close` or not), or a next GET on it gets the
 * right answer. Returns which.
 */
export async function assertConnectionClean(c: RawHttpConnection, cell: TransparencyCell, previous: RawHttpResponse): Promise<ConnectionAfter> {
  if (headerValue(previous.headers, 'connection')?.toLowerCase() === 'close') {
    const rest = await c.waitForEnd();
    assert.equal(rest.length, 0, `no byte after a response that announced Connection: close (got ${JSON.stringify(rest.subarray(0, 80).toString('latin1'))})`);
    return 'closed';
  }
  if (c.ended) {
    assert.equal(c.unread.length, 0, 'no stray bytes before the connection ended');
    return 'closed';
  }
  try {
    await c.write(`GET /hello HTTP/1.1\r\nHost: ${cell.host}\r\n\r\n`);
  } catch {
    return 'closed';
  }
  await c.waitForBytes(1);
  if (c.ended && c.unread.length === 0) return 'closed';
  const next = await c.readResponse('GET');
  assert.equal(next.status, 200, 'the next request on the same connection gets its own answer');
  assert.equal(next.body.toString(), 'hello from main\n', 'the next response is the right one');
  return 'reused';
}

/** What curl printed and wrote. */
export interface CurlResult {
  /** `%{http_code}`. */
  status: number;
  /** curl's `-v` trace (stderr). */
  trace: string;
  stdout: string;
}

/** Runs curl with its defaults plus `args` (`-sS -v`, `-w %{http_code}`), against the cell's public listener. */
export function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-v', '-w', '\n%{http_code}', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`curl failed: ${err.message}\n${stderr}`));
        return;
      }
      const lines = stdout.split('\n');
      resolve({ status: Number(lines.at(-1)), trace: stderr, stdout: lines.slice(0, -1).join('\n') });
    });
  });
}
