// @ts-check
/**
 * The dashboard page: shows the login form without a session, else the
 * fleet, kept live by the event stream (`dashboard/api/events`): a snapshot,
 * then deltas. When the stream drops (relay restart, network), the browser
 * reconnects by itself and the page says so; a relay that restarted is told
 * apart by its start time.
 */
import { AgentDetail } from './agent-detail.js';
import { AgentsTable } from './agents-table.js';
import { callApi, setCsrfToken } from './api.js';
import { ClusterStrip } from './cluster-strip.js';
import { FleetStore } from './fleet-store.js';
import { formatTime } from './format.js';
import { LoginView } from './login-view.js';
import { Overview } from './overview.js';
import { Component, html, render } from './view.js';

/**
 * @typedef {'checking' | 'login' | 'app'} Phase
 * @typedef {'connecting' | 'live' | 'reconnecting'} Connection
 * @typedef {{ phase: Phase, notice: string | null, connection: Connection, banner: { kind: string, text: string } | null,
 *   loaded: boolean, version: number, expiresAt: string | null, relay: { version: string, startedAt: string } | null,
 *   selected: string | null, query: string, stateFilter: 'all' | 'online' | 'offline' | 'never', sortKey: string, sortDir: 1 | -1, nowMs: number }} AppState
 */

/** Figures the browser test reads: when the first full table was painted, and when each delta was applied. */
/** @type {{ syncedAtMs: number | null, deltas: number, lastDeltaAtMs: number | null }} */
const marks = { syncedAtMs: null, deltas: 0, lastDeltaAtMs: null };
/** @type {any} */ (window).__dashboardMarks = marks;

/** @extends {Component<{}, AppState>} */
class App extends Component {
  constructor() {
    super({});
    this.store = new FleetStore();
    /** @type {EventSource | null} */
    this.events = null;
    this.renderQueued = false;
    /** @type {string | null} */
    this.knownStart = null;
    /** @type {AppState} */
    this.state = {
      phase: 'checking',
      notice: null,
      connection: 'connecting',
      banner: null,
      loaded: false,
      version: 0,
      expiresAt: null,
      relay: null,
      selected: null,
      query: '',
      stateFilter: 'all',
      sortKey: 'name',
      sortDir: 1,
      nowMs: Date.now(),
    };
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.clock = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.bannerTimer = undefined;
  }

  async componentDidMount() {
    this.clock = setInterval(() => this.setState({ nowMs: Date.now() }), 5000);
    try {
      const session = await callApi('session');
      if (session.authenticated) this.enter(session);
      else this.setState({ phase: 'login' });
    } catch {
      this.setState({ phase: 'login', notice: 'The relay cannot be reached.' });
    }
  }

  /** @param {{ csrfToken: string, expiresAt: string }} session */
  enter = (session) => {
    setCsrfToken(session.csrfToken);
    this.setState({ phase: 'app', notice: null, expiresAt: session.expiresAt, loaded: false });
    this.connect();
  };

  /** @param {string | null} notice */
  leave(notice) {
    this.events?.close();
    this.events = null;
    setCsrfToken(null);
    this.store = new FleetStore();
    this.setState({ phase: 'login', notice, selected: null, loaded: false, banner: null });
  }

  connect() {
    this.events?.close();
    const es = new EventSource('dashboard/api/events');
    this.events = es;
    /** @param {string} name @param {(data: any) => void} fn */
    const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(/** @type {MessageEvent} */ (e).data)));
    on('reset', (data) => {
      const restarted = this.knownStart !== null && this.knownStart !== data.relay.startedAt;
      const wasReconnecting = this.state.connection === 'reconnecting';
      this.knownStart = data.relay.startedAt;
      this.store.reset(data);
      this.setState({ relay: data.relay, expiresAt: data.sessionExpiresAt, loaded: false, connection: 'live' });
      if (restarted) this.flash('info', `Reconnected: the relay restarted at ${formatTime(data.relay.startedAt)}, its counters start again.`);
      else if (wasReconnecting) this.flash('info', 'Reconnected to the relay.');
    });
    on('rows', (data) => {
      this.store.apply(data);
      if (this.state.loaded) {
        marks.deltas += 1;
        marks.lastDeltaAtMs = performance.now();
      }
      this.queueRender();
    });
    on('synced', (overview) => {
      this.store.setOverview(overview);
      this.setState({ loaded: true, version: this.store.version }, () => {
        requestAnimationFrame(() => {
          marks.syncedAtMs ??= performance.now();
        });
      });
    });
    on('overview', (overview) => {
      this.store.setOverview(overview);
      this.queueRender();
    });
    on('cluster', (data) => {
      this.store.cluster = data.nodes;
      this.queueRender();
    });
    on('session', (data) => this.leave(data.state === 'expired' ? 'Your session expired: log in again.' : 'You were logged out.'));
    es.onopen = () => this.setState({ connection: 'live' });
    es.onerror = () => {
      if (this.events !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (no session, too many streams): ask why before trying again.
        void this.recheck();
        return;
      }
      this.setState({ connection: 'reconnecting', banner: { kind: 'warn', text: 'Connection to the relay lost: reconnecting…' } });
    };
  }

  async recheck() {
    this.setState({ connection: 'reconnecting', banner: { kind: 'warn', text: 'Connection to the relay lost: reconnecting…' } });
    try {
      const session = await callApi('session');
      if (!session.authenticated) return this.leave('Your session ended: log in again.');
      setCsrfToken(session.csrfToken);
    } catch {
      // The relay is still away: try again below.
    }
    setTimeout(() => this.state.phase === 'app' && this.connect(), 2000);
  }

  /** @param {string} kind @param {string} text */
  flash(kind, text) {
    clearTimeout(this.bannerTimer);
    this.setState({ banner: { kind, text } });
    this.bannerTimer = setTimeout(() => this.setState({ banner: null }), 8000);
  }

  /** Row deltas and overview ticks are drawn once per frame. */
  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.setState({ version: this.store.version, nowMs: Date.now() });
    });
  }

  logout = async () => {
    this.events?.close();
    this.events = null;
    try {
      await callApi('logout', { method: 'POST' });
    } finally {
      this.leave('You are logged out.');
    }
  };

  /** @param {string} key */
  sort = (key) => {
    const same = this.state.sortKey === key;
    this.setState({ sortKey: key, sortDir: same ? /** @type {1 | -1} */ (-this.state.sortDir) : 1 });
  };

  render() {
    const s = this.state;
    if (s.phase === 'checking') return html`<p class="boot">Loading the dashboard…</p>`;
    if (s.phase === 'login') return html`<${LoginView} notice=${s.notice} onLoggedIn=${this.enter} />`;
    const store = this.store;
    const rows = store.view({ query: s.query, state: s.stateFilter, sortKey: s.sortKey, sortDir: s.sortDir });
    const selectedRow = s.selected === null ? undefined : store.rows.get(s.selected);
    const connectionText = s.connection === 'live' ? 'live' : s.connection === 'connecting' ? 'connecting' : 'reconnecting';
    return html`
      <header class="top">
        <h1>visiona-tunnel relay</h1>
        <span class=${`pill ${s.connection}`} id="connection" role="status">${connectionText}</span>
        <span class="meta">${s.relay === null ? '' : `version ${s.relay.version}, up since ${formatTime(s.relay.startedAt)}`}</span>
        <span class="spacer"></span>
        <span class="meta">${s.expiresAt === null ? '' : `session until ${formatTime(s.expiresAt)}`}</span>
        <button type="button" onClick=${this.logout} id="logout">Log out</button>
      </header>
      <main>
        ${s.banner === null ? null : html`<div class=${`banner ${s.banner.kind}`} role="status" id="banner">${s.banner.text}</div>`}
        <${ClusterStrip} nodes=${store.cluster} />
        <${Overview} overview=${store.overview} traffic=${store.traffic} version=${s.version} />
        <div class=${s.selected === null ? 'workspace' : 'workspace with-detail'}>
          <${AgentsTable} rows=${rows} total=${store.rows.size} nowMs=${s.nowMs} selected=${s.selected} loaded=${s.loaded}
            sortKey=${s.sortKey} sortDir=${s.sortDir} query=${s.query} stateFilter=${s.stateFilter}
            onSort=${this.sort} onQuery=${(/** @type {string} */ query) => this.setState({ query })}
            onStateFilter=${(/** @type {any} */ stateFilter) => this.setState({ stateFilter })}
            onSelect=${(/** @type {string} */ selected) => this.setState({ selected })} />
          ${s.selected === null
            ? null
            : html`<${AgentDetail} name=${s.selected} row=${selectedRow} nowMs=${s.nowMs}
                onClose=${() => this.setState({ selected: null })} onChanged=${() => undefined} />`}
        </div>
      </main>`;
  }
}

render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
