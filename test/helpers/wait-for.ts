/**
 * The one condition poller of the tests: waits on a condition instead of
 * sleeping, with a deadline that is a safety net, not a synchronisation point.
 */

/** Resolves once `condition()` holds, checking every `pollMs`; rejects naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000, pollMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
