/**
 * The agent's status page: one self-contained HTML document (no external
 * assets) that shows the connection and the recent requests, kept live by
 * the status server's Server-Sent Events, with a replay button per request.
 * Data is only ever put in the DOM as text (`textContent`), never as HTML.
 */
import { createHash } from 'node:crypto';

/** The header a replay POST must carry; a cross-site form cannot set it without a CORS preflight, which is never granted. */
export const REPLAY_REQUEST_HEADER = 'X-Requested-By';
/** The value of `REPLAY_REQUEST_HEADER`. */
export const REPLAY_REQUEST_HEADER_VALUE = 'visiona-tunnel-status';

const STYLE = `
:root {
  --bg: #f5f6f8; --panel: #ffffff; --text: #1d2330; --muted: #667085; --line: #e4e7ec;
  --ok: #12805c; --ok-bg: #e3f6ee; --warn: #a15c07; --warn-bg: #fdf0d5;
  --bad: #b42318; --bad-bg: #fde8e6; --idle: #475467; --idle-bg: #eceef2; --accent: #2e5bda;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; align-items: center; gap: 12px; padding: 14px 24px; background: var(--panel);
  border-bottom: 1px solid var(--line); }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
header .since { color: var(--muted); font-size: 13px; }
header .link { margin-left: auto; color: var(--muted); font-size: 12px; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 40px; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px;
  font-weight: 600; font-size: 13px; background: var(--idle-bg); color: var(--idle); }
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.pill.online { background: var(--ok-bg); color: var(--ok); }
.pill.connecting, .pill.reconnecting { background: var(--warn-bg); color: var(--warn); }
.pill.offline { background: var(--bad-bg); color: var(--bad); }
.banner { display: none; margin-bottom: 16px; padding: 8px 12px; border-radius: 8px; background: var(--bad-bg);
  color: var(--bad); font-weight: 500; }
.banner.shown { display: block; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin-bottom: 20px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; min-width: 0; }
.card.wide { grid-column: span 2; }
.card.full { grid-column: 1 / -1; display: flex; align-items: baseline; gap: 12px; padding: 8px 14px; }
.card.full .value { margin-top: 0; }
.card.full .label { white-space: nowrap; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 15px; font-weight: 600; margin-top: 2px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.card .value.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.card .value.error { color: var(--bad); }
a { color: var(--accent); }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
section.panel h2 { font-size: 14px; margin: 0; padding: 12px 16px; border-bottom: 1px solid var(--line);
  display: flex; justify-content: space-between; align-items: baseline; }
section.panel h2 small { color: var(--muted); font-weight: 400; }
.table-wrap { max-height: 460px; overflow: auto; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { position: sticky; top: 0; background: #fafbfc; color: var(--muted); font-weight: 600; font-size: 12px; z-index: 1; }
td.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; max-width: 420px;
  overflow: hidden; text-overflow: ellipsis; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f8f9fb; }
tbody tr.selected { background: #eef3ff; }
.method { font-weight: 600; font-size: 12px; }
.status { font-weight: 600; font-variant-numeric: tabular-nums; }
.s2 { color: var(--ok); } .s3 { color: var(--accent); } .s4 { color: var(--warn); } .s5, .s0 { color: var(--bad); }
button.replay { font: inherit; font-size: 12px; padding: 2px 10px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel); color: var(--text); cursor: pointer; }
button.replay:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
button.replay:disabled { color: var(--muted); background: var(--bg); border-style: dashed; cursor: not-allowed; }
.replay-result { font-size: 12px; margin-left: 8px; }
.replay-result.muted { color: var(--muted); font-weight: 400; }
.empty { padding: 24px 16px; color: var(--muted); text-align: center; }
#detail { display: none; border-top: 1px solid var(--line); padding: 12px 16px 16px; }
#detail.shown { display: block; }
#detail h3 { margin: 0 0 8px; font-size: 13px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; }
#detail .note { color: var(--muted); font-size: 12px; margin: 0 0 8px; }
#detail table td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  white-space: normal; word-break: break-all; padding: 4px 10px; }
#detail table td:first-child { color: var(--muted); width: 220px; }
`;

const SCRIPT = `
'use strict';
const MAX_ROWS = 100;
const SHORT_REASONS = { 'upgrade': 'upgrade', 'body-too-large': 'body over BODY_LIMIT', 'body-not-recorded': 'body not kept' };
const REASONS = {
  'upgrade': 'WebSocket and other upgrades cannot be replayed',
  'body-too-large': 'The body was too large to keep (over BODY_LIMIT), so it cannot be replayed',
  'body-not-recorded': 'The body was not recorded, so it cannot be replayed',
};
const $ = (id) => document.getElementById(id);
const rows = new Map();
let last = null;
let clockOffsetMs = 0;
let selectedId = null;
let bodyLimit = 65536;

function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB';
  if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
  return (n / 1073741824).toFixed(2) + ' GiB';
}
function fmtMs(ms) {
  if (ms < 10) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
}
function fmtAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}
function text(id, value) { $(id).textContent = value; }
function serverNow() { return Date.now() + clockOffsetMs; }

function renderStatus(s) {
  last = s;
  if (typeof s.now === 'number') clockOffsetMs = s.now - Date.now();
  if (typeof s.maxBodyBytes === 'number') bodyLimit = s.maxBodyBytes;
  const pill = $('state');
  pill.textContent = s.state;
  pill.className = 'pill ' + s.state;
  text('relay', s.relayUrl || '—');
  const links = Array.isArray(s.links) ? s.links : [];
  $('links-card').hidden = links.length < 2;
  text('links', links.map(function (l) {
    return 'link ' + l.index + ': ' + l.state + (l.node ? ' on ' + l.node : '') + (l.rttMs === null ? '' : ', ping ' + fmtMs(l.rttMs)) + (l.state !== 'online' && l.lastError ? ' (' + l.lastError.code + ')' : '');
  }).join('  ·  '));
  text('local', s.localAddr || '—');
  const visitor = $('visitor');
  visitor.textContent = '';
  if (s.visitorUrl) {
    const a = document.createElement('a');
    a.href = s.visitorUrl; a.textContent = s.visitorUrl; a.target = '_blank'; a.rel = 'noopener noreferrer';
    visitor.appendChild(a);
  } else visitor.textContent = 'unknown';
  text('rtt', s.lastPingRttMs === null ? '—' : fmtMs(s.lastPingRttMs));
  text('served', String(s.requestsServed));
  text('bytes', fmtBytes(s.bytesIn) + ' / ' + fmtBytes(s.bytesOut));
  text('streams', String(s.activeStreams));
  const err = $('error');
  err.textContent = s.lastError ? s.lastError.code + ': ' + s.lastError.message + (s.lastError.hint ? ' (' + s.lastError.hint + ')' : '') : 'none';
  err.className = 'value mono' + (s.lastError ? ' error' : '');
  err.title = err.textContent;
  tick();
}

function tick() {
  if (last === null) return;
  text('since', 'for ' + fmtAgo(serverNow() - last.since));
  let retry = last.attempt > 0 ? 'attempt ' + last.attempt : '—';
  if (last.nextRetryAt !== null) retry += ', next in ' + fmtAgo(last.nextRetryAt - serverNow());
  text('retry', retry);
}

function statusClass(code) { return 'status s' + String(code).charAt(0); }

function addRequest(r) {
  if (rows.has(r.id)) return;
  const tr = document.createElement('tr');
  tr.dataset.id = String(r.id);
  const cells = [
    ['time', new Date(r.time).toLocaleTimeString()],
    ['method', r.method],
    ['path', r.path],
    [statusClass(r.status), r.status === 0 ? 'ERR' : String(r.status)],
    ['num', fmtMs(r.durationMs)],
    ['num', fmtBytes(r.bytesOut)],
  ];
  for (const [cls, value] of cells) {
    const td = document.createElement('td');
    td.className = cls;
    td.textContent = value;
    if (cls === 'path') td.title = r.path;
    tr.appendChild(td);
  }
  if (r.error) tr.children[3].title = r.error;
  const action = document.createElement('td');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'replay';
  button.textContent = 'Replay';
  if (!r.replayable) {
    button.disabled = true;
    button.title = reasonText(r.notReplayableReason);
  }
  button.addEventListener('click', (ev) => { ev.stopPropagation(); replay(r, tr, button); });
  const result = document.createElement('span');
  result.className = 'replay-result';
  if (!r.replayable) {
    result.className = 'replay-result muted';
    result.textContent = 'not replayable: ' + (SHORT_REASONS[r.notReplayableReason] || 'unknown').replace('BODY_LIMIT', fmtBytes(bodyLimit));
    result.title = button.title;
  }
  action.append(button, result);
  tr.appendChild(action);
  tr.addEventListener('click', () => select(r.id));
  const body = $('requests');
  body.insertBefore(tr, body.firstChild);
  rows.set(r.id, { request: r, tr, result });
  while (rows.size > MAX_ROWS) {
    const oldest = rows.keys().next().value;
    rows.get(oldest).tr.remove();
    rows.delete(oldest);
    if (selectedId === oldest) select(null);
  }
  $('empty').style.display = 'none';
  text('count', rows.size + (rows.size === 1 ? ' request' : ' requests'));
}

function reasonText(reason) {
  return (REASONS[reason] || 'Cannot be replayed').replace('BODY_LIMIT', fmtBytes(bodyLimit));
}

function select(id) {
  selectedId = id;
  for (const [rid, row] of rows) row.tr.classList.toggle('selected', rid === id);
  const detail = $('detail');
  if (id === null || !rows.has(id)) { detail.className = ''; return; }
  const r = rows.get(id).request;
  text('detail-title', r.method + ' ' + r.path);
  const notes = [];
  notes.push('status ' + (r.status || 'none') + (r.error ? ' (' + r.error + ')' : ''));
  notes.push(fmtMs(r.durationMs));
  notes.push(fmtBytes(r.bytesIn) + ' in, ' + fmtBytes(r.bytesOut) + ' out');
  if (!r.replayable) notes.push(reasonText(r.notReplayableReason));
  text('detail-note', notes.join(' · ') + '. Credentials are masked.');
  const tbody = $('detail-headers');
  tbody.textContent = '';
  for (const [name, value] of r.headers) {
    const tr = document.createElement('tr');
    const a = document.createElement('td'); a.textContent = name;
    const b = document.createElement('td'); b.textContent = value;
    tr.append(a, b);
    tbody.appendChild(tr);
  }
  detail.className = 'shown';
}

async function replay(r, tr, button) {
  const row = rows.get(r.id);
  button.disabled = true;
  row.result.className = 'replay-result';
  row.result.textContent = 'sending…';
  try {
    const res = await fetch('/api/requests/' + r.id + '/replay', {
      method: 'POST', headers: { 'REPLAY_HEADER': 'REPLAY_VALUE' },
    });
    const data = await res.json();
    if (!res.ok) throw new Error(data.message || ('HTTP ' + res.status));
    const out = data.result;
    row.result.className = 'replay-result ' + statusClass(out.status);
    row.result.textContent = out.error
      ? '→ ' + out.error
      : '→ ' + out.status + ' ' + out.statusText + ' · ' + fmtMs(out.durationMs) + ' · ' + fmtBytes(out.bytesOut);
  } catch (e) {
    row.result.className = 'replay-result s5';
    row.result.textContent = '→ ' + e.message;
  } finally {
    button.disabled = false;
  }
}

async function loadRequests() {
  const res = await fetch('/api/requests');
  const data = await res.json();
  bodyLimit = data.maxBodyBytes;
  for (const r of data.requests) addRequest(r);
}

function connect() {
  const events = new EventSource('/events');
  events.addEventListener('open', () => { $('banner').className = 'banner'; loadRequests().catch(() => {}); });
  events.addEventListener('error', () => {
    $('banner').className = 'banner shown';
    const pill = $('state');
    pill.className = 'pill offline';
  });
  events.addEventListener('state', (e) => renderStatus(JSON.parse(e.data)));
  events.addEventListener('request', (e) => {
    const data = JSON.parse(e.data);
    addRequest(data.request);
    renderStatus(data.status);
  });
}

setInterval(tick, 1000);
setInterval(() => {
  fetch('/status').then((r) => r.json()).then(renderStatus).catch(() => {});
}, 5000);
connect();
`
  .replace("'REPLAY_HEADER'", JSON.stringify(REPLAY_REQUEST_HEADER))
  .replace("'REPLAY_VALUE'", JSON.stringify(REPLAY_REQUEST_HEADER_VALUE));

const BODY = `
<header>
  <h1>visiona-tunnel agent</h1>
  <span id="state" class="pill">loading</span>
  <span id="since" class="since"></span>
  <span class="link">status page · live</span>
</header>
<main>
  <div id="banner" class="banner">Lost the connection to the agent's status server; retrying…</div>
  <div class="cards">
    <div class="card wide"><div class="label">Relay</div><div id="relay" class="value mono">—</div></div>
    <div class="card full" id="links-card" hidden><div class="label">HA links</div><div id="links" class="value mono">—</div></div>
    <div class="card wide"><div class="label">Visitor URL</div><div id="visitor" class="value mono">—</div></div>
    <div class="card"><div class="label">Local service</div><div id="local" class="value mono">—</div></div>
    <div class="card"><div class="label">Ping RTT</div><div id="rtt" class="value">—</div></div>
    <div class="card"><div class="label">Reconnect</div><div id="retry" class="value">—</div></div>
    <div class="card"><div class="label">Requests served</div><div id="served" class="value">0</div></div>
    <div class="card"><div class="label">Bytes in / out</div><div id="bytes" class="value">—</div></div>
    <div class="card"><div class="label">Active streams</div><div id="streams" class="value">0</div></div>
    <div class="card full"><div class="label">Last error</div><div id="error" class="value mono">none</div></div>
  </div>
  <section class="panel">
    <h2>Recent requests <small id="count">0 requests</small></h2>
    <div class="table-wrap">
      <table>
        <thead><tr><th>Time</th><th>Method</th><th>Path</th><th>Status</th><th class="num">Duration</th><th class="num">Size</th><th></th></tr></thead>
        <tbody id="requests"></tbody>
      </table>
      <div id="empty" class="empty">No requests yet. Requests through the tunnel appear here as they finish.</div>
    </div>
    <div id="detail">
      <h3 id="detail-title"></h3>
      <p id="detail-note" class="note"></p>
      <table><tbody id="detail-headers"></tbody></table>
    </div>
  </section>
</main>
`;

/** The status page, a complete HTML document. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>visiona-tunnel agent</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** Content-Security-Policy of the page: only its own inline style and script (by hash), and requests to itself. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`,
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
