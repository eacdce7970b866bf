/**
 * Sends a recorded request again, directly to the local service (not through
 * the relay), as the forwarder would have sent it: hop-by-hop headers
 * dropped, `Host` set by the same rule, the body with its exact length.
 */
import http from 'node:http';
import { removeHopByHopRawHeaders } from '../http/index.js';
import { monotonicMs } from '../shared/clock.js';
import { requireHostPort } from '../shared/validate.js';
import type { HostHeaderMode } from './local-forwarder-config.js';
import { localLookup } from './local-lookup.js';
import { rewriteHostHeader } from './local-request-head.js';
import { classifyLocalError } from './local-service-error.js';
import type { ReplayableRequest } from './request-recorder.js';

/** Where and how to replay. */
export interface ReplayTarget {
  /** The local service, `host:port`. */
  localAddr: string;
  /** Same meaning as the forwarder's `hostHeader`; default `preserve`. */
  hostHeader?: HostHeaderMode;
  /** Aborts the replay (the result then has `error: 'ERR_ABORTED'`). */
  signal?: AbortSignal;
  /** Give up after this long; default 30 000 ms. */
  timeoutMs?: number;
}

/** What the local service answered to a replay. */
export interface ReplayResult {
  /** Response status, 0 when there was none. */
  status: number;
  statusText: string;
  durationMs: number;
  /** Response body bytes (read and discarded). */
  bytesOut: number;
  /** Response Content-Type, when sent. */
  contentType?: string;
  /** `ERR_AGENT_LOCAL_*`, `ERR_TIMEOUT` or `ERR_ABORTED` when no complete response came. */
  error?: string;
}

/** Sends `request` to `target.localAddr` and reads the whole response; never rejects. */
export function replayRequest(request: ReplayableRequest, target: ReplayTarget): Promise<ReplayResult> {
  const { host, port } = requireHostPort('localAddr', target.localAddr);
  const mode = target.hostHeader ?? 'preserve';
  const hostValue = mode === 'preserve' ? undefined : mode === 'local' ? target.localAddr : mode;
  const headers = rewriteHostHeader(removeHopByHopRawHeaders(request.rawHeaders), hostValue, target.localAddr);
  // The body is sent whole: its length replaces whatever framing it came with.
  const kept: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (/^content-length$/i.test(headers[i] as string)) continue;
    kept.push(headers[i] as string, headers[i + 1] as string);
  }
  if (request.body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(request.method)) {
    kept.push('Content-Length', String(request.body.length));
  }
  const timeoutMs = target.timeoutMs ?? 30_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(target.signal === undefined ? [] : [target.signal])];
  const signal = AbortSignal.any(signals);
  const started = monotonicMs();
  const elapsed = (): number => Math.round((monotonicMs() - started) * 10) / 10;
  return new Promise<ReplayResult>((resolve) => {
    let settled = false;
    const finish = (result: ReplayResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const failed = (err: unknown, status = 0, statusText = '', bytesOut = 0): void => {
      let error: string = classifyLocalError(err);
      if (signal.aborted) error = target.signal?.aborted === true ? 'ERR_ABORTED' : 'ERR_TIMEOUT';
      finish({ status, statusText, durationMs: elapsed(), bytesOut, error });
    };
    let req: http.ClientRequest;
    try {
      req = http.request({
        host,
        port,
        method: request.method,
        path: request.path,
        headers: kept,
        agent: false,
        lookup: localLookup,
        autoSelectFamily: true,
        signal,
      } as http.RequestOptions);
    } catch (err) {
      failed(err);
      return;
    }
    req.on('error', (err) => failed(err));
    req.on('response', (res) => {
      let bytesOut = 0;
      res.on('data', (chunk: Buffer) => {
        bytesOut += chunk.length;
      });
      res.on('error', (err) => failed(err, res.statusCode ?? 0, res.statusMessage ?? '', bytesOut));
      res.on('end', () => {
        const result: ReplayResult = {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          durationMs: elapsed(),
          bytesOut,
        };
        const type = res.headers['content-type'];
        if (typeof type === 'string') result.contentType = type;
        finish(result);
      });
    });
    req.end(request.body.length > 0 ? request.body : undefined);
  });
}
