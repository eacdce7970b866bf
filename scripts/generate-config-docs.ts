// Writes docs/configuration.md from the CLI's config schemas.
// Usage: node --import tsx scripts/generate-config-docs.ts [--check]
// --check exits 1 (writing nothing) when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../src/cli/config/config-reference.js';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'configuration.md');
const text = renderConfigReference();
let current = '';
try {
  current = readFileSync(target, 'utf8');
} catch {
  // first run
}
if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error('docs/configuration.md is out of date: run node --import tsx scripts/generate-config-docs.ts');
    process.exit(1);
  }
  console.log('docs/configuration.md is up to date');
} else if (current === text) {
  console.log('docs/configuration.md is up to date');
} else {
  writeFileSync(target, text);
  console.log('wrote docs/configuration.md');
}
