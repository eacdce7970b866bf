/**
 * Runs the `visiona-tunnel` CLI from the TypeScript sources, exactly as
 * bin/visiona-tunnel.js does in a checkout without dist/. Chaos tests spawn
 * this instead of the bin so that a stale dist/ (left by `npm run build`)
 * can never stand in for the code under test.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
