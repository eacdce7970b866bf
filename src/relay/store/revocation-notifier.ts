/**
 * The `onRevoked` listener set of a token store, shared by the backends:
 * each revocation is announced to every listener once, and a listener that
 * throws is logged without stopping the others.
 */
import type { Logger } from '../../shared/logger.js';
import type { TokenRevocation, TokenRevokedListener } from './token-store.js';

/** Listeners of token revocations. */
export class RevocationNotifier {
  readonly #listeners = new Set<TokenRevokedListener>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a listener; returns its remover. */
  add(listener: TokenRevokedListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Announces each revocation to every listener. */
  emit(revocations: readonly TokenRevocation[]): void {
    for (const r of revocations) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(r);
        } catch (err) {
          this.#logger.error('token revocation listener threw', { tokenId: r.tokenId, err });
        }
      }
    }
  }
}
