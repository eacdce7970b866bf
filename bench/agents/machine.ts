/** The machine, runtime and commit a `bench:agents` run was measured on. */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

/** Machine, Node version and commit, one line each. */
export function machineDescription(): string {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src/mux', 'src/transport', 'src/relay', 'src/shared', 'bench/agents'], {
      encoding: 'utf8',
    }).trim();
    if (dirty !== '') commit += ' (with uncommitted changes in src/mux, src/transport, src/relay, src/shared or bench/agents)';
  } catch {
    // Not a git checkout.
  }
  return [
    `- machine: ${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}`,
    `- load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `- node ${process.version}`,
    `- commit: ${commit}`,
  ].join('\n');
}
