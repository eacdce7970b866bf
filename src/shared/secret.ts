/**
 * A value that must never be logged: `toString`, `toJSON` and `inspect` show
 * a mask, the value itself only through `reveal()`.
 */
import { inspect } from 'node:util';

/** A string secret (token, password) that prints as `[secret]`. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself; call only where it is sent or compared. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return 'Secret([secret])';
  }
}
