/** The transparency suite with our agent and the Go ref-relay (see transparency-suite.ts). */
import { defineTransparencySuite } from './transparency-suite.js';

defineTransparencySuite({ agent: 'ours', relay: 'go' });
