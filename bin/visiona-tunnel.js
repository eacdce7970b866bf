#!/bin/sh
// 2>/dev/null; exec node --initial-heap-size=64 "$0" "$@"
// Executed, this file is first a shell script: the line above (a failed
// command `//`, then exec) starts Node on this same file, in the same process,
// with V8's initial heap set to 64 MiB, which cannot be set from inside a
// running process or through NODE_OPTIONS. Without it V8 shrinks the old
// generation's limit to the small live heap, and the Buffers held in flight
// by the relay and the agent (counted against that limit) force a full
// collection several times a second: at 50 connections the relay and the
// agent each spent about 60 ms of CPU per 1 000 small GETs instead of 40, and
// used more memory, not less (bench/README.md, "Node's initial heap").
// `node bin/visiona-tunnel.js` also works, without the flag.
//
// The visiona-tunnel command. Runs the compiled CLI (npm run build). From a
// source checkout where dist/ is missing or older than src/, it runs the
// TypeScript sources through tsx instead, so it never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');
const sources = join(root, 'src');

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const useCompiled = existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newestMtimeMs(sources));
let entry = compiled;
if (!useCompiled) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(sources, 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
