/**
 * Defaults of the spawned local service, in a module of their own so that the
 * agent's config schema can name them without loading `child_process` and
 * `readline` (the service process is loaded only with `--spawn`).
 */

/** Default time between SIGTERM and SIGKILL on `stop()`, in milliseconds. */
export const DEFAULT_SERVICE_STOP_GRACE_MS = 5_000;
