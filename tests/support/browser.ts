/**
 * Headless Chromium for the browser tests: Debian's own chromium (/usr/bin/chromium) driven by
 * playwright-core, which downloads no browser of its own. Each launch gets a fresh temporary
 * profile, removed when the browser closes. Where chromium is missing the tests fail, saying how
 * to install it, rather than skip.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { repoRoot } from "./paths.js";

export type { Browser, Page } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Where browser tests save screenshots and the like (git-ignored). */
export const artifactDir = join(repoRoot, "test-artifacts");

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Starts headless Chromium. Close it with `browser.close()` (in a `finally`). playwright-core's
 * `launch` gives the browser a fresh temporary user-data-dir of its own and deletes it on close.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `the browser tests need Debian's chromium at ${CHROMIUM_PATH}, which is missing: ` +
        "apt-get install -y --no-install-recommends chromium",
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** The path of a new artifact file `name` under test-artifacts/ (the directory is created). */
export function artifactPath(name: string): string {
  mkdirSync(artifactDir, { recursive: true });
  return join(artifactDir, name);
}
