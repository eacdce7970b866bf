/**
 * Compiles `relay-process.ts` and the sources it imports with `tsc` (as
 * `npm run build` does) into node_modules/.cache/bench-agents/, so the relay
 * is measured as it ships: plain JavaScript, no tsx loader. (tsx keeps
 * function names by redefining `name` on every closure it creates, which
 * alone costs about 2 KiB of heap per idle agent session.)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = join(ROOT, 'node_modules', '.cache', 'bench-agents');

/** Builds (incrementally) and returns the path of the compiled `relay-process.js`. */
export function compileRelayProcess(): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const config = join(OUT_DIR, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: {
        rootDir: ROOT,
        outDir: OUT_DIR,
        noEmit: false,
        declaration: false,
        sourceMap: false,
        incremental: true,
        tsBuildInfoFile: join(OUT_DIR, 'tsconfig.tsbuildinfo'),
      },
      files: [join(ROOT, 'bench', 'agents', 'relay-process.ts')],
      include: [],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  return join(OUT_DIR, 'bench', 'agents', 'relay-process.js');
}
