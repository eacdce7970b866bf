/**
 * Builds an agent's `EffectiveAccessPolicy` from what a store backend read:
 * the stored policy row and, for `basic` and `bearer`, the agent's
 * credentials. Shared by the backends, so that both hand the visitor access
 * check the same object shape.
 */
import type {
  AccessMode,
  AccessPolicy,
  BasicUserCredential,
  EffectiveAccessPolicy,
  VisitorTokenCredential,
} from '../access/access-policy.js';

/** A stored policy row: its mode and the JSON of the other fields. */
export interface StoredPolicyRow {
  readonly mode: AccessMode;
  readonly config_json: string;
}

/** The policy config of a row (`private` when the agent has none). */
export function policyFromRow(row: StoredPolicyRow | undefined): AccessPolicy {
  if (row === undefined) return { mode: 'private' };
  return { mode: row.mode, ...(JSON.parse(row.config_json) as object) } as AccessPolicy;
}

/** The policy with its credentials: users for `basic`, visitor tokens for `bearer`; the config as it is otherwise. */
export function effectivePolicy(
  config: AccessPolicy,
  users: Iterable<BasicUserCredential>,
  tokens: Iterable<VisitorTokenCredential>,
): EffectiveAccessPolicy {
  switch (config.mode) {
    case 'basic': {
      const byName = new Map<string, BasicUserCredential>();
      for (const u of users) byName.set(u.username, u);
      return { ...config, users: byName };
    }
    case 'bearer': {
      const byId = new Map<string, VisitorTokenCredential>();
      for (const t of tokens) byId.set(t.tokenId, t);
      return { ...config, tokens: byId };
    }
    default:
      return config;
  }
}
