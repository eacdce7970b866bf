#!/usr/bin/env node
// Copies the dashboard's browser files (src/relay/dashboard/web/: the page,
// its ES modules and styles) next to the compiled code in dist/, where the
// relay serves them from. No bundling: the files ship as they are written.
// The vendor/*.d.mts files only give `npm run lint` the libraries' types.
import { cpSync, rmSync } from 'node:fs';

const from = 'src/relay/dashboard/web';
const to = 'dist/relay/dashboard/web';
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true, filter: (path) => !path.endsWith('.d.mts') });
