/**
 * Debian's Chromium driven by playwright-core for the browser tests: the
 * launch flags that work on this machine, a fresh profile per test, console
 * errors collected, and where screenshots go (`test-artifacts/`, git-ignored).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The browser binary (`CHROMIUM_PATH` overrides). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** `false`, or why browser tests are skipped. */
export const chromiumSkip: false | string = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
/** Folder of the screenshots a test run saves for people to look at. */
export const ARTIFACTS_DIR = join(process.cwd(), 'test-artifacts');

/**
 * Launches Chromium headless with a fresh profile (a user-data-dir needs
 * `launchPersistentContext`); closed, profile removed, after the test.
 */
export async function launchChromium(t: { after(fn: () => unknown): void }, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-test-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

/** Collects the page's console errors and uncaught exceptions (script and CSP errors among them). */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

/** The path of a screenshot named `name` under `test-artifacts/` (the folder is created). */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, name);
}
