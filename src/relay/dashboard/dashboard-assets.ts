/**
 * The dashboard's files: the page and its ES modules (`./web/`, copied next
 * to the compiled code by `npm run build`), and the browser libraries it
 * uses, served from the installed packages themselves (`preact`, `htm`,
 * `uplot`), never from a CDN. Files are read once, on first request, and
 * kept with their gzip form and an ETag.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ConfigError } from '../../shared/errors.js';

/** One file ready to serve. */
export interface DashboardAsset {
  body: Buffer;
  /** The gzip form, when it is smaller. */
  gzipped: Buffer | undefined;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Browser libraries: name under `vendor/` -> module specifier resolved from the installed packages. */
const VENDOR_FILES: Readonly<Record<string, string>> = {
  'preact.mjs': 'preact',
  'htm.mjs': 'htm',
  'uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

/** The folder of the page's own files. */
const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));

/** Name of the page (served at `/`). */
export const DASHBOARD_PAGE = 'index.html';

/** The dashboard's files by path under the assets folder (`app.js`, `vendor/preact.mjs` ...). */
export class DashboardAssets {
  readonly #paths = new Map<string, string>();
  readonly #loaded = new Map<string, DashboardAsset>();

  /** Finds every file (throws `ConfigError` when the page or a library is missing); reads none yet. */
  constructor(webDir = WEB_DIR) {
    if (!existsSync(join(webDir, DASHBOARD_PAGE))) {
      throw new ConfigError('adminDashboard', 'the dashboard files are missing (run npm run build)', webDir);
    }
    for (const name of readdirSync(webDir)) {
      if (extname(name) in CONTENT_TYPES) this.#paths.set(name, join(webDir, name));
    }
    for (const [name, specifier] of Object.entries(VENDOR_FILES)) {
      let path: string;
      try {
        path = fileURLToPath(import.meta.resolve(specifier));
      } catch {
        throw new ConfigError('adminDashboard', `needs the package of ${specifier} (npm install)`, specifier);
      }
      this.#paths.set(`vendor/${name}`, path);
    }
  }

  /** Paths that can be served. */
  names(): string[] {
    return [...this.#paths.keys()];
  }

  /** The asset at `name`, or undefined. */
  get(name: string): DashboardAsset | undefined {
    const known = this.#loaded.get(name);
    if (known !== undefined) return known;
    const path = this.#paths.get(name);
    if (path === undefined) return undefined;
    const body = readFileSync(path);
    const gzipped = gzipSync(body);
    const asset: DashboardAsset = {
      body,
      gzipped: gzipped.length < body.length ? gzipped : undefined,
      contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    };
    this.#loaded.set(name, asset);
    return asset;
  }
}
