// @ts-check
/**
 * An agent's detail: its state, sessions (with node and link in a cluster),
 * traffic chart, recent visitor requests, tokens and visitor access, and
 * the actions (kick, revoke a token, set the access policy), each confirmed
 * in a dialog first.
 */
import { ApiError, callApi } from './api.js';
import { Chart } from './chart.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { formatBytes, formatCount, formatDuration, formatRtt, formatSince, formatTime } from './format.js';
import { Component, html } from './view.js';

const SIMPLE_MODES = [
  { mode: 'private', help: 'every visitor is refused' },
  { mode: 'public', help: 'every visitor is let in' },
  { mode: 'basic', help: 'HTTP Basic with the agent’s users' },
  { mode: 'bearer', help: 'a visitor token of the agent' },
];

/**
 * @typedef {import('./fleet-store.js').FleetRow} FleetRow
 * @typedef {{ name: string, row: FleetRow | undefined, nowMs: number, onClose: () => void, onChanged: () => void }} DetailProps
 * @typedef {{ title: string, message: string, confirmLabel: string, danger?: boolean, run: () => Promise<string> }} PendingAction
 * @typedef {{ detail: any, error: string | null, toast: { ok: boolean, text: string } | null, pending: PendingAction | null,
 *   mode: string, policyJson: string, busy: boolean }} DetailState
 */

/** @extends {Component<DetailProps, DetailState>} */
export class AgentDetail extends Component {
  constructor(/** @type {DetailProps} */ props) {
    super(props);
    /** @type {DetailState} */
    this.state = { detail: null, error: null, toast: null, pending: null, mode: 'public', policyJson: '', busy: false };
    this.lastLoadMs = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reloadTimer = undefined;
  }

  componentDidMount() {
    void this.load();
  }

  componentDidUpdate(/** @type {DetailProps} */ previous) {
    if (previous.name !== this.props.name) {
      this.setState({ detail: null, error: null, toast: null, pending: null });
      void this.load();
      return;
    }
    const a = previous.row;
    const b = this.props.row;
    const changed = a?.state !== b?.state || a?.requests !== b?.requests || a?.sessions !== b?.sessions || a?.accessMode !== b?.accessMode;
    if (changed) this.reloadSoon();
  }

  componentWillUnmount() {
    clearTimeout(this.reloadTimer);
  }

  /** Reloads at most once a second while the row keeps changing. */
  reloadSoon() {
    if (this.reloadTimer !== undefined) return;
    const waitMs = Math.max(0, 1000 - (Date.now() - this.lastLoadMs));
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.load();
    }, waitMs);
  }

  async load() {
    const name = this.props.name;
    this.lastLoadMs = Date.now();
    try {
      const detail = await callApi(`agents/${encodeURIComponent(name)}`);
      if (name !== this.props.name) return;
      const mode = detail.access?.policy?.mode ?? 'public';
      this.setState({ detail, error: null, mode: this.state.policyJson === '' ? mode : this.state.mode });
    } catch (err) {
      if (name !== this.props.name) return;
      this.setState({ error: err instanceof ApiError && err.status === 404 ? 'This agent no longer exists.' : String(/** @type {Error} */ (err).message) });
    }
  }

  /** @param {PendingAction} pending */
  ask(pending) {
    this.setState({ pending, toast: null });
  }

  confirm = async () => {
    const pending = this.state.pending;
    if (pending === null) return;
    this.setState({ pending: null, busy: true });
    try {
      const text = await pending.run();
      this.setState({ busy: false, toast: { ok: true, text } });
      this.props.onChanged();
      void this.load();
    } catch (err) {
      const e = /** @type {ApiError} */ (err);
      this.setState({ busy: false, toast: { ok: false, text: `${e.message}${e.code === undefined ? '' : ` (${e.code})`}` } });
    }
  };

  kick() {
    const name = this.props.name;
    this.ask({
      title: `Kick ${name}?`,
      message: 'Its session ends now (GoAway, then close); open requests are cut. The agent keeps its tokens and redials after its backoff.',
      confirmLabel: 'Kick',
      danger: true,
      run: async () => {
        const r = await callApi(`agents/${encodeURIComponent(name)}/kick`, { method: 'POST' });
        return `Kicked: ${r.kicked} session${r.kicked === 1 ? '' : 's'} closed.`;
      },
    });
  }

  /** @param {any} token */
  revoke(token) {
    this.ask({
      title: `Revoke token ${token.tokenId}?`,
      message: `${token.label === null ? 'This token' : `“${token.label}”`} stops working at once; a session that used it ends now. This cannot be undone.`,
      confirmLabel: 'Revoke token',
      danger: true,
      run: async () => {
        await callApi(`tokens/${encodeURIComponent(token.tokenId)}/revoke`, { method: 'POST' });
        return `Token ${token.tokenId} revoked.`;
      },
    });
  }

  /** @param {SubmitEvent} event */
  setPolicy = (event) => {
    event.preventDefault();
    const name = this.props.name;
    const { mode, policyJson } = this.state;
    /** @type {unknown} */
    let policy = { mode };
    if (mode === 'json') {
      try {
        policy = JSON.parse(policyJson);
      } catch {
        this.setState({ toast: { ok: false, text: 'The policy is not valid JSON.' } });
        return;
      }
    }
    const help = SIMPLE_MODES.find((m) => m.mode === mode)?.help ?? 'as the JSON policy says';
    this.ask({
      title: `Set the access of ${name} to ${mode === 'json' ? /** @type {any} */ (policy).mode ?? 'JSON' : mode}?`,
      message: `Visitors: ${help}. It applies to the next visitor request.`,
      confirmLabel: 'Set access',
      run: async () => {
        const r = await callApi(`agents/${encodeURIComponent(name)}/access`, { method: 'POST', body: policy });
        return `Access set to ${r.policy.mode}.`;
      },
    });
  };

  render() {
    const { name, row, nowMs, onClose } = this.props;
    const { detail, error, toast, pending, mode, policyJson, busy } = this.state;
    const online = row?.state === 'online';
    return html`<section class="panel detail" aria-labelledby="detail-title" id="detail"
      onKeyDown=${(/** @type {KeyboardEvent} */ e) => e.key === 'Escape' && pending === null && onClose()}>
      <div class="panel-head">
        <h2 id="detail-title">${name}</h2>
        ${row === undefined ? null : html`<span class=${`pill ${online ? 'online' : row.neverConnected ? 'never' : 'offline'}`} id="detail-state">${row.state}</span>`}
        <span class="count"><button type="button" onClick=${onClose} aria-label="Close the agent detail">Close</button></span>
      </div>
      ${error === null ? null : html`<div class="toast error" role="alert">${error}</div>`}
      ${row === undefined ? null : html`<dl>
        <dt>Since</dt><dd title=${formatTime(row.since)}>${row.neverConnected ? 'never connected' : formatSince(row.since, nowMs)}</dd>
        <dt>Remote address</dt><dd class="mono">${row.remoteAddress ?? '—'}</dd>
        <dt>Version</dt><dd>${row.version ?? '—'}</dd>
        <dt>Keepalive RTT</dt><dd>${formatRtt(row.rttMs)}</dd>
        <dt>Streams / requests</dt><dd>${formatCount(row.streams)} / ${formatCount(row.requests)}</dd>
        <dt>Bytes to / from</dt><dd>${formatBytes(row.bytesToAgent)} / ${formatBytes(row.bytesFromAgent)}</dd>
        <dt>Access</dt><dd>${row.accessMode ?? '—'}</dd>
      </dl>`}
      <div class="actions">
        <button type="button" class="danger" disabled=${!online || busy} onClick=${() => this.kick()}>Kick</button>
        ${row?.registered === false ? null : html`<form class="actions" onSubmit=${this.setPolicy} aria-label="Access policy">
          <label for="policy-mode">Access</label>
          <select id="policy-mode" value=${mode} onChange=${(/** @type {any} */ e) => this.setState({ mode: e.target.value })}>
            ${SIMPLE_MODES.map((m) => html`<option value=${m.mode}>${m.mode}</option>`)}
            <option value="json">JSON policy (jwt …)</option>
          </select>
          <button type="submit" disabled=${busy}>Set access</button>
        </form>`}
      </div>
      ${mode === 'json'
        ? html`<div class="actions"><label class="visually-hidden" for="policy-json">Access policy as JSON</label>
            <textarea id="policy-json" placeholder='{"mode":"jwt","algorithm":"HS256","secret":"…"}' value=${policyJson}
              onInput=${(/** @type {any} */ e) => this.setState({ policyJson: e.target.value })}></textarea></div>`
        : null}
      ${toast === null ? null : html`<div class=${`toast ${toast.ok ? 'ok' : 'error'}`} role=${toast.ok ? 'status' : 'alert'} id="detail-toast">${toast.text}</div>`}
      ${detail === null ? html`<p class="empty">Loading…</p>` : this.renderDetail(detail, nowMs)}
      ${pending === null
        ? null
        : html`<${ConfirmDialog} title=${pending.title} message=${pending.message} confirmLabel=${pending.confirmLabel} danger=${pending.danger}
            onConfirm=${this.confirm} onCancel=${() => this.setState({ pending: null })} />`}
    </section>`;
  }

  /** @param {any} detail @param {number} nowMs */
  renderDetail(detail, nowMs) {
    const traffic = detail.traffic;
    const t = traffic.t.map((/** @type {number} */ ms) => ms / 1000);
    const showNode = detail.sessions.some((/** @type {any} */ s) => s.node !== undefined);
    return html`
      <h3>Sessions</h3>
      ${detail.sessions.length === 0
        ? html`<p class="muted" style=${{ margin: '0 14px' }}>No session on ${showNode ? 'any node' : 'this relay'}.</p>`
        : html`<div class="sub"><table id="detail-sessions">
          <thead><tr>${showNode ? html`<th scope="col">Node</th><th scope="col">Link</th>` : null}<th scope="col">Session</th><th scope="col">Since</th>
            <th scope="col">From</th><th scope="col" class="num">RTT</th><th scope="col" class="num">Streams</th><th scope="col">State</th></tr></thead>
          <tbody>${detail.sessions.map(
            (/** @type {any} */ s) => html`<tr key=${`${s.node ?? ''}/${s.connectionId}`}>
              ${showNode ? html`<td>${s.node ?? '—'}</td><td>${s.link ?? '—'}</td>` : null}
              <td>#${s.connectionId ?? '—'}</td><td title=${formatTime(s.since)}>${formatSince(s.since, nowMs)}</td>
              <td class="mono">${s.remoteAddress ?? '—'}</td><td class="num">${formatRtt(s.rttMs)}</td><td class="num">${s.streams}</td>
              <td>${s.draining ? 'draining' : 'current'}</td></tr>`,
          )}</tbody></table></div>`}
      <h3>Traffic (last five minutes, per 10 s)</h3>
      <div class="chart-box"><${Chart} title=${`Requests to ${this.props.name} per 10 seconds`} height=${90} data=${[t, traffic.requests, traffic.errors]}
        series=${[{ label: 'requests', stroke: '#2450c8', fill: 'rgba(36,80,200,0.08)' }, { label: 'errors', stroke: '#a3190f' }]} /></div>
      <h3>Recent visitor requests</h3>
      ${detail.recentRequests.length === 0
        ? html`<p class="muted" style=${{ margin: '0 14px' }}>None since the relay started (or not among the recently active agents).</p>`
        : html`<div class="sub scroll"><table id="recent-requests">
          <thead><tr><th scope="col">When</th><th scope="col">Method</th><th scope="col">Path</th><th scope="col" class="num">Status</th>
            <th scope="col" class="num">Time</th><th scope="col" class="num">Bytes ↑/↓</th></tr></thead>
          <tbody>${detail.recentRequests.map(
            (/** @type {any} */ r, /** @type {number} */ i) => html`<tr key=${`${r.atMs}-${i}`}>
              <td title=${new Date(r.atMs).toLocaleString()}>${formatSince(new Date(r.atMs).toISOString(), nowMs)}</td>
              <td>${r.method ?? '—'}</td><td class="mono" title=${r.path}>${r.path}</td>
              <td class=${`num status-${r.status === null ? 0 : Math.floor(r.status / 100)}`} title=${r.code ?? r.outcome}>${r.status ?? r.outcome}</td>
              <td class="num">${formatDuration(r.durationMs)}</td><td class="num">${formatBytes(r.bytesToAgent)} / ${formatBytes(r.bytesFromAgent)}</td></tr>`,
          )}</tbody></table></div>`}
      <h3>Agent tokens</h3>
      ${detail.tokens.length === 0
        ? html`<p class="muted" style=${{ margin: '0 14px' }}>No token.</p>`
        : html`<div class="sub"><table id="detail-tokens">
          <thead><tr><th scope="col">Id</th><th scope="col">Label</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
          <tbody>${detail.tokens.map(
            (/** @type {any} */ token) => html`<tr key=${token.tokenId}>
              <td class="mono">${token.tokenId}</td><td>${token.label ?? '—'}</td>
              <td>${token.active ? formatSince(token.lastUsedAt, nowMs) : `revoked ${formatSince(token.revokedAt, nowMs)}`}</td>
              <td>${token.active ? html`<button type="button" class="danger" onClick=${() => this.revoke(token)} aria-label=${`Revoke token ${token.tokenId}`}>Revoke</button>` : null}</td></tr>`,
          )}</tbody></table></div>`}
      ${detail.access === null
        ? null
        : html`<h3>Visitor access</h3><dl>
          <dt>Policy</dt><dd class="mono">${JSON.stringify(detail.access.policy)}</dd>
          <dt>Basic users</dt><dd>${detail.access.basicUsers.map((/** @type {any} */ u) => u.username).join(', ') || '—'}</dd>
          <dt>Visitor tokens</dt><dd>${detail.access.visitorTokens.map((/** @type {any} */ v) => v.label ?? v.tokenId).join(', ') || '—'}</dd>
        </dl>`}`;
  }
}
