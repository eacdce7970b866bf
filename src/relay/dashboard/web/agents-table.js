// @ts-check
/**
 * The agents table, virtualised: only the rows in view (plus a margin) are
 * in the DOM, between two spacer rows, so 10 000 agents scroll and update
 * as fast as 20. Sortable by column (buttons in the headers), searchable by
 * name; rows open the agent's detail by click, Enter or Space.
 */
import { formatBytes, formatCount, formatRtt, formatSince, formatTime } from './format.js';
import { Component, createRef, html } from './view.js';

/** Height of one row, in px (as in dashboard.css). */
const ROW_HEIGHT = 34;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 10;

const COLUMNS = [
  { key: 'name', label: 'Name' },
  { key: 'state', label: 'State' },
  { key: 'since', label: 'Since' },
  { key: 'remoteAddress', label: 'Remote address' },
  { key: 'version', label: 'Version' },
  { key: 'rttMs', label: 'RTT', num: true },
  { key: 'streams', label: 'Streams', num: true },
  { key: 'requests', label: 'Requests', num: true },
  { key: 'bytes', label: 'Bytes ↑/↓', num: true },
  { key: 'accessMode', label: 'Access' },
];

/**
 * @typedef {import('./fleet-store.js').FleetRow} FleetRow
 * @typedef {{ rows: FleetRow[], total: number, nowMs: number, selected: string | null, sortKey: string, sortDir: 1 | -1,
 *   query: string, stateFilter: string, loaded: boolean,
 *   onSort: (key: string) => void, onQuery: (q: string) => void, onStateFilter: (s: string) => void, onSelect: (name: string) => void }} TableProps
 */

/** @extends {Component<TableProps, { scrollTop: number, height: number }>} */
export class AgentsTable extends Component {
  constructor(/** @type {TableProps} */ props) {
    super(props);
    this.state = { scrollTop: 0, height: 560 };
    this.scroller = createRef();
    this.frame = 0;
  }

  componentDidMount() {
    const el = /** @type {HTMLElement} */ (this.scroller.current);
    this.setState({ height: el.clientHeight });
  }

  componentWillUnmount() {
    cancelAnimationFrame(this.frame);
  }

  onScroll = () => {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => {
      const el = /** @type {HTMLElement} */ (this.scroller.current);
      this.setState({ scrollTop: el.scrollTop, height: el.clientHeight });
    });
  };

  /** @param {KeyboardEvent} event @param {string} name */
  onRowKey(event, name) {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.props.onSelect(name);
    }
  }

  render() {
    const { rows, total, nowMs, selected, sortKey, sortDir, query, stateFilter, loaded } = this.props;
    const first = Math.max(0, Math.floor(this.state.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((this.state.scrollTop + this.state.height) / ROW_HEIGHT) + OVERSCAN);
    const visible = rows.slice(first, last);
    return html`<section class="panel" aria-labelledby="agents-title">
      <div class="panel-head">
        <h2 id="agents-title">Agents</h2>
        <label class="visually-hidden" for="agent-search">Search agents by name</label>
        <input id="agent-search" type="search" placeholder="Search by name" value=${query}
          onInput=${(/** @type {any} */ e) => this.props.onQuery(e.target.value)} />
        <label class="visually-hidden" for="state-filter">Show agents</label>
        <select id="state-filter" value=${stateFilter} onChange=${(/** @type {any} */ e) => this.props.onStateFilter(e.target.value)}>
          <option value="all">All states</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
          <option value="never">Never connected</option>
        </select>
        <span class="count" id="agents-count" aria-live="polite">${loaded ? `${formatCount(rows.length)} of ${formatCount(total)} agents` : 'Loading…'}</span>
      </div>
      <div class="table-scroll" ref=${this.scroller} onScroll=${this.onScroll}>
        <table id="agents" aria-rowcount=${rows.length + 1}>
          <colgroup>${COLUMNS.map((c) => html`<col class=${`c-${c.key === 'rttMs' ? 'rtt' : c.key === 'remoteAddress' ? 'remote' : c.key === 'accessMode' ? 'access' : c.key}`} />`)}</colgroup>
          <thead>
            <tr aria-rowindex="1">
              ${COLUMNS.map(
                (c) => html`<th scope="col" class=${c.num === true ? 'num' : ''}
                  aria-sort=${sortKey === c.key ? (sortDir === 1 ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" onClick=${() => this.props.onSort(c.key)}>${c.label}${sortKey === c.key ? (sortDir === 1 ? ' ▲' : ' ▼') : ''}</button>
                </th>`,
              )}
            </tr>
          </thead>
          <tbody>
            ${first > 0 ? html`<tr class="spacer" aria-hidden="true"><td colspan=${COLUMNS.length} style=${{ height: `${first * ROW_HEIGHT}px` }}></td></tr>` : null}
            ${visible.map((row, i) => this.renderRow(row, first + i, nowMs, selected))}
            ${last < rows.length
              ? html`<tr class="spacer" aria-hidden="true"><td colspan=${COLUMNS.length} style=${{ height: `${(rows.length - last) * ROW_HEIGHT}px` }}></td></tr>`
              : null}
          </tbody>
        </table>
        ${loaded && rows.length === 0 ? html`<p class="empty">${total === 0 ? 'No agent yet: create one with the admin API or visiona-tunnel token create.' : 'No agent matches.'}</p>` : null}
      </div>
    </section>`;
  }

  /** @param {FleetRow} row @param {number} index @param {number} nowMs @param {string | null} selected */
  renderRow(row, index, nowMs, selected) {
    const stateClass = row.state === 'online' ? 'online' : row.neverConnected ? 'never' : 'offline';
    return html`<tr key=${row.name} class=${row.name === selected ? 'agent selected' : 'agent'} data-agent=${row.name}
      aria-rowindex=${index + 2} aria-selected=${row.name === selected} tabindex="0"
      onClick=${() => this.props.onSelect(row.name)} onKeyDown=${(/** @type {KeyboardEvent} */ e) => this.onRowKey(e, row.name)}>
      <td class="name" title=${row.name}>${row.name}</td>
      <td class="state"><span class=${`pill ${stateClass}`}>${row.state}</span></td>
      <td title=${formatTime(row.since)}>${row.neverConnected ? 'never connected' : formatSince(row.since, nowMs)}</td>
      <td class="mono">${row.remoteAddress ?? '—'}</td>
      <td>${row.version ?? '—'}</td>
      <td class="num">${formatRtt(row.rttMs)}</td>
      <td class="num">${row.state === 'online' || row.streams > 0 ? formatCount(row.streams) : '—'}</td>
      <td class="num">${row.state === 'online' ? formatCount(row.requests) : '—'}</td>
      <td class="num">${row.state === 'online' ? `${formatBytes(row.bytesToAgent)} / ${formatBytes(row.bytesFromAgent)}` : '—'}</td>
      <td>${row.accessMode ?? (row.registered ? '—' : 'deleted')}</td>
    </tr>`;
  }
}
