/** The transparency suite with our agent and our relay (see transparency-suite.ts). */
import { defineTransparencySuite } from './transparency-suite.js';

defineTransparencySuite({ agent: 'ours', relay: 'ours' });
