/**
 * Sums a relay's `--trace-gc-nvp` lines (run.ts `--trace-gc`) per window of
 * time: scavenges, major GCs, bytes allocated and promoted to the old
 * generation. With idle agents, promoted bytes per agent per keepalive
 * interval is what makes the heap (and RSS) grow between major GCs.
 *
 * Usage: node --import tsx bench/agents/gc-trace-summary.ts LOG [AGENTS] [WINDOW_S]
 */
import { readFileSync } from 'node:fs';

const [file, agentsArg, windowArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: gc-trace-summary.ts LOG [AGENTS] [WINDOW_S]');
  process.exit(2);
}
const agents = Number(agentsArg ?? 1);
const windowMs = Number(windowArg ?? 10) * 1000;
const buckets = new Map<number, { scavenges: number; majors: number; allocated: number; promoted: number; heapAfter: number }>();
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const at = /\s(\d+) ms: pause=/.exec(line);
  if (at === null) continue;
  const fields = new Map(line.split(/\s+/).filter((kv) => kv.includes('=')).map((kv) => kv.split('=', 2) as [string, string]));
  const key = Math.floor(Number(at[1]) / windowMs);
  const b = buckets.get(key) ?? { scavenges: 0, majors: 0, allocated: 0, promoted: 0, heapAfter: 0 };
  if (fields.get('gc') === 's') b.scavenges++;
  else b.majors++;
  b.allocated += Number(fields.get('allocated') ?? 0);
  b.promoted += Number(fields.get('promoted') ?? 0);
  b.heapAfter = Number(fields.get('total_size_after') ?? 0);
  buckets.set(key, b);
}
console.log(`window  scavenges  major  allocated MB  promoted MB  promoted B/agent  heap after MB`);
for (const [key, b] of [...buckets.entries()].sort((x, y) => x[0] - y[0])) {
  console.log(
    `${String((key * windowMs) / 1000).padStart(5)} s ${String(b.scavenges).padStart(10)} ${String(b.majors).padStart(6)} ` +
      `${(b.allocated / 1e6).toFixed(1).padStart(13)} ${(b.promoted / 1e6).toFixed(2).padStart(12)} ${(b.promoted / agents).toFixed(0).padStart(17)} ${(b.heapAfter / 1e6).toFixed(1).padStart(14)}`,
  );
}
