/**
 * Resident memory and CPU time of any process (our relay or the Go one),
 * read from /proc, so both are measured the same way.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

/** Kernel clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Resident set size of `pid`, in bytes (`VmRSS`). */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** User plus system CPU time used by `pid` so far, in milliseconds (`utime + stime`). */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicksPerSecond();
}

/** Open file descriptors of `pid` (0 when it is gone). */
export function readOpenFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Resident memory of `pid` by kind of mapping, in bytes: the brk heap (malloc), anonymous mappings (V8's heap, malloc arenas, thread stacks), files (code). */
export function readRssByKind(pid: number): { brkHeap: number; anonymous: number; files: number } {
  const out = { brkHeap: 0, anonymous: 0, files: 0 };
  let kind: keyof typeof out = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      const name = mapping[1] ?? '';
      kind = name === '[heap]' ? 'brkHeap' : name === '' || name.startsWith('[') ? 'anonymous' : 'files';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
}
