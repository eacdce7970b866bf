/** The transparency suite with the Go ref-agent and our relay (see transparency-suite.ts). */
import { defineTransparencySuite } from './transparency-suite.js';

defineTransparencySuite({ agent: 'go', relay: 'ours' });
