/**
 * The relay's store for a run: N idle agents with one token each, plus the
 * `visitor` agent (public access policy) that visitors reach, created in one
 * transaction so that 10 000 agents take about a second.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteRelayStore, type CreatedAgentToken } from '../../src/relay/store/index.js';

/** Name of the agent whose local service the visitor loop reaches. */
export const VISITOR_AGENT_NAME = 'visitor';

/** What `prepareStore` made. */
export interface PreparedStore {
  dbPath: string;
  /** JSON file with the N idle agents' tokens (for the load generator). */
  tokensFile: string;
  visitorToken: string;
  /** Milliseconds it took to create everything. */
  elapsedMs: number;
}

/** Creates `<dir>/relay.db` with `agents` idle agents (`idle-00001` ...) and the visitor agent. */
export async function prepareStore(dir: string, agents: number): Promise<PreparedStore> {
  const startMs = Date.now();
  const dbPath = join(dir, 'relay.db');
  const store = new SqliteRelayStore(dbPath);
  try {
    // The SQLite store's writes run synchronously inside their call: collected here, they all
    // happen in one transaction (seconds faster for 10 000 agents), and are awaited after it.
    const created: Promise<CreatedAgentToken>[] = [];
    store.db.transaction(() => {
      for (let i = 1; i <= agents; i++) {
        const name = `idle-${String(i).padStart(5, '0')}`;
        void store.tokens.createAgent(name);
        created.push(store.tokens.createToken(name));
      }
      void store.tokens.createAgent(VISITOR_AGENT_NAME);
    })();
    const tokens = (await Promise.all(created)).map((c) => c.token.reveal());
    const visitorToken = (await store.tokens.createToken(VISITOR_AGENT_NAME)).token.reveal();
    await store.access.setPolicy(VISITOR_AGENT_NAME, { mode: 'public' });
    const tokensFile = join(dir, 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify(tokens));
    return { dbPath, tokensFile, visitorToken, elapsedMs: Date.now() - startMs };
  } finally {
    await store.close();
  }
}
