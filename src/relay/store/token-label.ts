/** Validation of agent-token labels, shared by the store backends. */
import { StoreValidationError } from './store-errors.js';
import { MAX_TOKEN_LABEL_LENGTH } from './token-store.js';

/** The label, or null when absent; throws `StoreValidationError` when too long or with control characters. */
export function validateTokenLabel(label: string | undefined): string | null {
  if (label === undefined) return null;
  // eslint-disable-next-line no-control-regex
  if (typeof label !== 'string' || label.length > MAX_TOKEN_LABEL_LENGTH || /[\u0000-\u001f\u007f]/.test(label)) {
    throw new StoreValidationError('label', `must be at most ${MAX_TOKEN_LABEL_LENGTH} characters without control characters`);
  }
  return label;
}
