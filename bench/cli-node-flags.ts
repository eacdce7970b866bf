/**
 * The Node flags our executable starts Node with. `bin/visiona-tunnel.js`,
 * run as a command, is first a shell line `exec node FLAGS "$0" "$@"`; the
 * benchmarks start `node FLAGS... script` for our relay and agent (and for the
 * Node floors they compare with), which is what a user's shell does. An older
 * `#!/usr/bin/env node` executable (a baseline commit) has none.
 */
import { readFileSync } from 'node:fs';

const EXEC_LINE = /^\/\/ 2>\/dev\/null; exec node (.*) "\$0" "\$@"$/m;

export function nodeFlagsOfCli(cli: string): string[] {
  const text = readFileSync(cli, 'utf8');
  if (!text.startsWith('#!/bin/sh')) return [];
  const m = EXEC_LINE.exec(text);
  if (m === null) throw new Error(`${cli}: a #!/bin/sh executable without the expected 'exec node FLAGS "$0" "$@"' line`);
  return (m[1] as string).split(' ').filter((a) => a !== '');
}
