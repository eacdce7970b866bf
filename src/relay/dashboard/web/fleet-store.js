// @ts-check
/**
 * The page's copy of the fleet, kept by the event stream: rows by name
 * (from the snapshot, then deltas), the overview with five minutes of
 * traffic, the cluster's nodes. `view()` filters and sorts, cached until
 * something changes.
 */

/**
 * @typedef {{ name: string, state: 'online' | 'offline', since: string | null, neverConnected: boolean,
 *   remoteAddress: string | null, version: string | null, rttMs: number | null, streams: number, requests: number,
 *   bytesToAgent: number, bytesFromAgent: number, accessMode: string | null, registered: boolean, sessions: number,
 *   activeTokens: number }} FleetRow
 * @typedef {{ query: string, state: 'all' | 'online' | 'offline' | 'never', sortKey: string, sortDir: 1 | -1 }} ViewOptions
 * @typedef {{ bucketMs: number, t: number[], requests: number[], bytesToAgent: number[], bytesFromAgent: number[], errors: number[] }} Traffic
 */

/** Seconds of fleet traffic kept. */
const TRAFFIC_WINDOW_MS = 300_000;

export class FleetStore {
  constructor() {
    /** @type {Map<string, FleetRow>} */
    this.rows = new Map();
    /** @type {string[]} */
    this.fields = [];
    /** Bumped on every row change. */
    this.version = 0;
    /** @type {any} */
    this.overview = null;
    /** @type {Traffic} */
    this.traffic = { bucketMs: 1000, t: [], requests: [], bytesToAgent: [], bytesFromAgent: [], errors: [] };
    /** @type {any[] | null} */
    this.cluster = null;
    /** @type {{ key: string, rows: FleetRow[] } | null} */
    this._view = null;
  }

  /** A snapshot begins: forget every row. @param {{ fields: string[], cluster: any[] | null }} reset */
  reset(reset) {
    this.fields = reset.fields;
    this.rows.clear();
    this.cluster = reset.cluster;
    this.traffic = { bucketMs: 1000, t: [], requests: [], bytesToAgent: [], bytesFromAgent: [], errors: [] };
    this.version += 1;
  }

  /** @param {{ upsert: unknown[][], remove: string[] }} delta @returns {Set<string>} the names touched */
  apply(delta) {
    const touched = new Set();
    const fields = this.fields;
    for (const tuple of delta.upsert) {
      /** @type {any} */
      const row = {};
      for (let i = 0; i < fields.length; i++) row[fields[i]] = tuple[i];
      this.rows.set(row.name, row);
      touched.add(row.name);
    }
    for (const name of delta.remove) {
      this.rows.delete(name);
      touched.add(name);
    }
    if (touched.size > 0) this.version += 1;
    return touched;
  }

  /** @param {any} overview */
  setOverview(overview) {
    this.overview = overview;
    const incoming = overview.traffic;
    const t = this.traffic;
    t.bucketMs = incoming.bucketMs;
    for (let i = 0; i < incoming.t.length; i++) {
      const at = incoming.t[i];
      const last = t.t.length - 1;
      // The newest bucket comes again, updated, while it fills: replace it.
      const index = last >= 0 && t.t[last] === at ? last : t.t.push(at) - 1;
      t.requests[index] = incoming.requests[i];
      t.bytesToAgent[index] = incoming.bytesToAgent[i];
      t.bytesFromAgent[index] = incoming.bytesFromAgent[i];
      t.errors[index] = incoming.errors[i];
    }
    const oldest = (t.t[t.t.length - 1] ?? 0) - TRAFFIC_WINDOW_MS;
    let drop = 0;
    while (drop < t.t.length && t.t[drop] <= oldest) drop += 1;
    if (drop > 0) for (const column of [t.t, t.requests, t.bytesToAgent, t.bytesFromAgent, t.errors]) column.splice(0, drop);
  }

  /** The rows matching `options`, sorted (cached). @param {ViewOptions} options @returns {FleetRow[]} */
  view(options) {
    const key = `${this.version}|${options.query}|${options.state}|${options.sortKey}|${options.sortDir}`;
    if (this._view !== null && this._view.key === key) return this._view.rows;
    const query = options.query.trim().toLowerCase();
    /** @type {FleetRow[]} */
    const rows = [];
    for (const row of this.rows.values()) {
      if (query !== '' && !row.name.includes(query)) continue;
      if (options.state === 'online' && row.state !== 'online') continue;
      if (options.state === 'offline' && row.state !== 'offline') continue;
      if (options.state === 'never' && !row.neverConnected) continue;
      rows.push(row);
    }
    const { sortKey, sortDir } = options;
    const value = sortValue(sortKey);
    rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va === vb) return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      if (va === null) return 1;
      if (vb === null) return -1;
      return (va < vb ? -1 : 1) * sortDir;
    });
    this._view = { key, rows };
    return rows;
  }
}

/** @param {string} key @returns {(row: FleetRow) => string | number | null} */
function sortValue(key) {
  switch (key) {
    case 'bytes':
      return (r) => r.bytesToAgent + r.bytesFromAgent;
    case 'state':
      return (r) => (r.state === 'online' ? 0 : r.neverConnected ? 2 : 1);
    case 'since':
      return (r) => (r.since === null ? null : r.since);
    default:
      return (r) => /** @type {any} */ (r)[key] ?? null;
  }
}
