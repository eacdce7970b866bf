// @ts-check
/** The fleet overview: counts, live charts of requests and bytes per second, errors by code, auth failures. */
import { Chart } from './chart.js';
import { formatBytes, formatCount } from './format.js';
import { html } from './view.js';

/** @param {number} v */
const perSecond = (v) => `${v % 1 === 0 ? v : v.toFixed(1)}/s`;
/** @param {number} v */
const bytesPerSecond = (v) => `${formatBytes(v)}/s`;

/** @param {{ overview: any, traffic: import('./fleet-store.js').Traffic }} props */
export function Overview({ overview, traffic }) {
  if (overview === null) return null;
  const { counts } = overview;
  const t = traffic.t.map((ms) => ms / 1000);
  const last = traffic.t.length - 2;
  // The newest bucket is still filling: "now" is the last complete second.
  const at = (/** @type {number[]} */ column) => (last >= 0 ? column[last] : 0);
  const requestData = [t, traffic.requests, traffic.errors];
  const byteData = [t, traffic.bytesToAgent, traffic.bytesFromAgent];
  return html`<section class="overview" aria-label="Fleet overview">
    <div class="card"><div class="label">Online</div><div class="value ok" id="count-online">${formatCount(counts.online)}</div></div>
    <div class="card"><div class="label">Offline</div><div class="value" id="count-offline">${formatCount(counts.offline)}</div></div>
    <div class="card"><div class="label">Never connected</div><div class="value" id="count-never">${formatCount(counts.neverConnected)}</div></div>
    <div class="card"><div class="label">Agents</div><div class="value" id="count-total">${formatCount(counts.total)}</div></div>
    <div class="card chart">
      <div class="label"><span>Visitor requests per second</span><span class="now">${perSecond(at(traffic.requests))}, errors ${perSecond(at(traffic.errors))}</span></div>
      <${Chart} title="Visitor requests and relay errors per second, last five minutes" data=${requestData} format=${perSecond}
        series=${[{ label: 'requests', stroke: '#2450c8', fill: 'rgba(36,80,200,0.08)' }, { label: 'errors', stroke: '#a3190f' }]} />
    </div>
    <div class="card chart">
      <div class="label"><span>Bytes per second</span><span class="now">↑ ${bytesPerSecond(at(traffic.bytesToAgent))} ↓ ${bytesPerSecond(at(traffic.bytesFromAgent))}</span></div>
      <${Chart} title="Bytes to and from agents per second, last five minutes" data=${byteData} format=${(v) => formatBytes(v)}
        series=${[{ label: 'to agents', stroke: '#0f6e4f' }, { label: 'from agents', stroke: '#8a4b00' }]} />
    </div>
  </section>
  <section class="lists" aria-label="Failures">
    <div class="card">
      <div class="label">Errors by X-Tunnel-Error code (since the relay started)</div>
      ${countList(overview.errorsByCode, 'No error answered by the relay.', 'errors-by-code')}
    </div>
    <div class="card">
      <div class="label">Authentication failures (agents and admin)</div>
      ${countList(overview.authFailures, 'No failed authentication.', 'auth-failures')}
    </div>
  </section>`;
}

/** @param {Record<string, number>} counts @param {string} empty @param {string} id */
function countList(counts, empty, id) {
  const entries = Object.entries(counts);
  if (entries.length === 0) return html`<p class="muted" id=${id}>${empty}</p>`;
  return html`<ul id=${id}>${entries.map(([code, n]) => html`<li key=${code}><code>${code}</code><span>${formatCount(n)}</span></li>`)}</ul>`;
}
