#!/usr/bin/env node
// Runs every test file under test/ with node:test and the tsx loader.
// Usage: node scripts/run-tests.mjs [path-prefix ...]
// It first compiles src/ into dist/ (npm run build), because tests that run
// the `visiona-tunnel` command as a user would go through bin/, which runs
// dist/. Interop tests need the Go peers: `bash scripts/build-interop.sh`
// (or scripts/install-system-deps.sh) builds them into .interop-bin/; without
// them those tests skip with one line each (VISIONA_REQUIRE_INTEROP=1, as in
// CI, makes them fail instead).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const prefixes = process.argv.slice(2);
const files = collect('test', [])
  .filter((f) => prefixes.length === 0 || prefixes.some((p) => f.startsWith(p)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error('run-tests: npm run build failed');
  process.exit(build.status ?? 1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
