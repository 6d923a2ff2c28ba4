// Debian's Chromium, headless, driven by playwright-core (which downloads
// no browser of its own). The instance's TLS certificate is trusted by
// pinning its public key (--ignore-certificate-errors-spki-list): that one
// key is accepted, every other certificate still fails. Playwright starts
// Chromium with a fresh temporary --user-data-dir of its own, which
// Chromium requires before it honours the list; each user of a test gets
// a new browser context (its own cookies).

import { chromium } from "playwright-core";

export const VIEWPORT = { width: 1280, height: 800 };

export async function launch(spkiHash) {
  return chromium.launch({
    executablePath: process.env.SIGNET_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spkiHash}`,
    ],
  });
}

export async function newUser(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  return { context, page, errors };
}
