// @ts-check
/** Formatting of figures for the page. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1536` -> `1.5 KiB`. @param {number} bytes */
export function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

/** `12345` -> `12,345`. @param {number} n */
export function formatCount(n) {
  return n.toLocaleString('en-US');
}

/** A duration in ms, short. @param {number} ms */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ${Math.floor((ms % 3_600_000) / 60_000)} min`;
  return `${Math.floor(ms / 86_400_000)} d ${Math.floor((ms % 86_400_000) / 3_600_000)} h`;
}

/** How long ago `iso` was, from `nowMs`; `—` when unknown. @param {string | null} iso @param {number} nowMs */
export function formatSince(iso, nowMs) {
  if (iso === null) return '—';
  const ms = nowMs - Date.parse(iso);
  return ms < 5000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** A local date and time for a tooltip. @param {string | null} iso */
export function formatTime(iso) {
  return iso === null ? '' : new Date(iso).toLocaleString();
}

/** RTT in ms. @param {number | null} ms */
export function formatRtt(ms) {
  return ms === null ? '—' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}
