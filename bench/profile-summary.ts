/**
 * Summarises `.cpuprofile` files written by `npm run bench -- --profile`:
 * self time per function (name, file and line), highest first, and the share
 * spent in garbage collection, idle and native code.
 *
 *   node --import tsx bench/profile-summary.ts bench/profiles/*.cpuprofile [--top=30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Coarse area of a sample: our code, a library, Node internals, the engine. */
function groupOf(url: string, functionName: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'native (program)';
  if (url.includes('/src/mux/')) return 'src/mux';
  if (url.includes('/src/transport/')) return 'src/transport';
  if (url.includes('/bench/')) return 'bench harness';
  if (url.includes('/node_modules/tsx/') || url.includes('/node_modules/esbuild/') || url.includes('internal/modules/')) return 'module loading';
  const lib = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (lib !== null) return `lib ${lib[1]}`;
  if (url === '') return 'native (syscalls, bindings)';
  return 'node internals (JS)';
}

function summarise(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const groupUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1').replace(/^node:/, '');
    const key = `${f.functionName || '(anonymous)'} ${file === '' ? '' : `${file}:${f.lineNumber + 1}`}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    const group = groupOf(f.url, f.functionName);
    groupUs.set(group, (groupUs.get(group) ?? 0) + dt);
    totalUs += dt;
  });
  const idleUs = selfUs.get('(idle)') ?? 0;
  const busyUs = totalUs - idleUs;
  const rows = [...selfUs.entries()]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  const groups = [...groupUs.entries()]
    .filter(([g]) => g !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .map(([g, us]) => `${g} ${((100 * us) / busyUs).toFixed(1)}%`)
    .join(', ');
  return [
    `== ${path}: ${(totalUs / 1e6).toFixed(2)} s sampled, ${(busyUs / 1e6).toFixed(2)} s busy (shares below are of busy time)`,
    `by area: ${groups}`,
    ...rows,
  ].join('\n');
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
const top = Number.parseInt(values.top ?? '30', 10);
for (const path of positionals) console.log(`${summarise(path, top)}\n`);
