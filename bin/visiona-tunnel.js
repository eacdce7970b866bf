#!/usr/bin/env node
// The visiona-tunnel command. Runs the compiled CLI (npm run build); from a
// source checkout without dist/, falls back to the TypeScript sources via tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');
if (existsSync(compiled)) {
  const { main } = await import(pathToFileURL(compiled).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
  process.exitCode = await main(process.argv.slice(2));
}
