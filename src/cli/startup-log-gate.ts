/**
 * Keeps a command's routine start-up lines (`info` and `debug`) from
 * burying what it prints for a person: until `open()`, they are dropped;
 * `warn` and `error` always pass. The demo uses it so that its URL block is
 * the first thing on the screen.
 */
import type { LogFields, Logger } from '../shared/logger.js';

/** A gated view of a logger (children share the gate) and the call that opens it. */
export interface StartupLogGate {
  logger: Logger;
  /** From now on every line passes. Idempotent. */
  open(): void;
}

/** Wraps `target`: `info`/`debug` lines are dropped until `open()`. */
export function createStartupLogGate(target: Logger): StartupLogGate {
  const state = { open: false };
  const wrap = (inner: Logger): Logger => ({
    debug: (msg: string, fields?: LogFields) => {
      if (state.open) inner.debug(msg, fields);
    },
    info: (msg: string, fields?: LogFields) => {
      if (state.open) inner.info(msg, fields);
    },
    warn: (msg: string, fields?: LogFields) => inner.warn(msg, fields),
    error: (msg: string, fields?: LogFields) => inner.error(msg, fields),
    child: (fields: LogFields) => wrap(inner.child(fields)),
  });
  return {
    logger: wrap(target),
    open: () => {
      state.open = true;
    },
  };
}
