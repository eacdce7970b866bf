/**
 * Fixtures for admin API and metrics tests: a relay with an admin listener
 * and token, an admin HTTP client, and a small Prometheus text parser.
 */
import * as http from 'node:http';
import { Secret } from '../../src/shared/secret.js';
import type { RelayAddresses, RelayOptions } from '../../src/relay/index.js';
import { splitHostPort, startRelay, type RelayFixture, type Scope } from './relay-fixtures.js';

/** The admin token of `startAdminRelay` relays. */
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

/** Starts a relay with an admin listener guarded by `ADMIN_TOKEN` (unless `adminToken` is given). */
export function startAdminRelay(t: Scope, options: Partial<RelayOptions> & { shared?: boolean } = {}): Promise<RelayFixture> {
  return startRelay(t, { adminListen: '127.0.0.1:0', adminToken: new Secret(ADMIN_TOKEN), ...options });
}

/** An admin API response. */
export interface AdminResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Options of `admin`. */
export interface AdminRequestOptions {
  /** Bearer token sent; `ADMIN_TOKEN` by default, null for none. */
  token?: string | null;
  /** JSON-encoded unless a string or Buffer. */
  body?: unknown;
  headers?: http.OutgoingHttpHeaders;
}

/** Sends one request to the relay's admin listener. */
export function admin(addresses: RelayAddresses, method: string, path: string, options: AdminRequestOptions = {}): Promise<AdminResponse> {
  const [host, port] = splitHostPort(addresses.admin as string);
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string' || Buffer.isBuffer(options.body)
        ? options.body
        : JSON.stringify(options.body);
  const headers: http.OutgoingHttpHeaders = {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(body !== undefined && typeof options.body !== 'string' && !Buffer.isBuffer(options.body) ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough for prom-client's output). */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`Unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample `name` whose labels are exactly `labels`; 0 when absent (counters start at 0). */
export function metricValue(samples: MetricSample[], name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels);
  const found = samples.find(
    (s) => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}

/** Scrapes `/metrics` (with the admin token) and parses it. */
export async function scrape(addresses: RelayAddresses): Promise<MetricSample[]> {
  const res = await admin(addresses, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`);
  return parseMetrics(res.text);
}
