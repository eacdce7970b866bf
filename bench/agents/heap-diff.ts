/**
 * Objects in the second heap snapshot that the first did not have (by V8
 * object id), grouped by constructor and the edge that holds them: with
 * snapshots one keepalive interval apart, this is what idle sessions keep
 * replacing, i.e. what gets promoted and dies in the old generation.
 *
 * Usage: node --import tsx bench/agents/heap-diff.ts A.heapsnapshot B.heapsnapshot [AGENTS] [TOP]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const [fileA, fileB, agentsArg, topArg] = process.argv.slice(2);
if (fileA === undefined || fileB === undefined) {
  console.error('usage: heap-diff.ts A.heapsnapshot B.heapsnapshot [AGENTS] [TOP]');
  process.exit(2);
}
const agents = Number(agentsArg ?? 1);
const top = Number(topArg ?? 40);

function ids(snap: Snapshot): Set<number> {
  const nf = snap.snapshot.meta.node_fields;
  const idAt = nf.indexOf('id');
  const out = new Set<number>();
  for (let i = 0; i < snap.nodes.length; i += nf.length) out.add(snap.nodes[i + idAt] as number);
  return out;
}

const before = ids(JSON.parse(readFileSync(fileA, 'utf8')) as Snapshot);
const snap = JSON.parse(readFileSync(fileB, 'utf8')) as Snapshot;
const { node_fields: nf, edge_fields: ef, node_types: nt, edge_types: et } = snap.snapshot.meta;
const [NS, ES] = [nf.length, ef.length];
const [tI, nI, idI, sI, ecI] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number, number];
const [etI, enI, toI] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
const { nodes, edges, strings } = snap;
const nameOf = (i: number): string => {
  const type = nt[0][nodes[i + tI] as number] as string;
  const name = strings[nodes[i + nI] as number] as string;
  return type === 'object' || type === 'native' ? name : `(${type})${type === 'closure' ? ` ${name}` : ''}`;
};
const isNew = (i: number): boolean => !before.has(nodes[i + idI] as number);

const groups = new Map<string, { count: number; bytes: number }>();
let edge = 0;
for (let i = 0; i < nodes.length; i += NS) {
  const from = nameOf(i);
  const fromNew = isNew(i);
  for (let k = 0; k < (nodes[i + ecI] as number); k++, edge += ES) {
    const type = et[0][edges[edge + etI] as number] as string;
    if (type === 'weak') continue;
    const to = edges[edge + toI] as number;
    // New objects held by old ones: the roots of what was replaced (new objects held by new ones are counted under those).
    if (fromNew || !isNew(to)) continue;
    const edgeName = type === 'element' || type === 'hidden' ? `[${type}]` : (strings[edges[edge + enI] as number] as string);
    const key = `${from}.${edgeName} -> ${nameOf(to)}`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += nodes[to + sI] as number;
    groups.set(key, g);
  }
}
console.log('new objects held by old ones (self size only), per agent:');
console.log('bytes/agent  count/agent  holder.edge -> object');
for (const [key, g] of [...groups.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, top)) {
  console.log(`${(g.bytes / agents).toFixed(1).padStart(11)}  ${(g.count / agents).toFixed(2).padStart(11)}  ${key.slice(0, 120)}`);
}
