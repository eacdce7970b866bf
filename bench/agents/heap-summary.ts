/**
 * Summarises a V8 heap snapshot (`--heap-snapshot=DIR` of run.ts) by
 * constructor: count and self size, largest first, divided by the number of
 * agents to show what one idle session costs.
 *
 * Usage: node --import tsx bench/agents/heap-summary.ts FILE.heapsnapshot [AGENTS] [TOP]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, agentsArg, topArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: heap-summary.ts FILE.heapsnapshot [AGENTS] [TOP]');
  process.exit(2);
}
const agents = Number(agentsArg ?? 1);
const top = Number(topArg ?? 40);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const stride = fields.length;
const typeAt = fields.indexOf('type');
const nameAt = fields.indexOf('name');
const sizeAt = fields.indexOf('self_size');

const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += stride) {
  const type = types[snap.nodes[i + typeAt] as number] as string;
  const rawName = snap.strings[snap.nodes[i + nameAt] as number] as string;
  const name = type === 'object' || type === 'native' ? rawName : `(${type})${type === 'closure' ? ` ${rawName}` : ''}`;
  const bytes = snap.nodes[i + sizeAt] as number;
  total += bytes;
  const g = groups.get(name) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += bytes;
  groups.set(name, g);
}
const rows = [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
console.log(`total self size ${(total / 1024 / 1024).toFixed(1)} MiB; per agent ${(total / agents).toFixed(0)} B (${agents} agents)`);
console.log('bytes/agent  count/agent  name');
for (const [name, g] of rows) {
  console.log(`${(g.bytes / agents).toFixed(0).padStart(11)}  ${(g.count / agents).toFixed(2).padStart(11)}  ${name.slice(0, 100)}`);
}
