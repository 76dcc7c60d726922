// What the end-to-end scripts share: Chromium started the way this closed network
// needs, and a scenario runner that polls a page's state object until a step holds.
import { chromium } from 'playwright-core';

/** Chromium flags that keep it from stalling on a network without the internet. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Starts Debian's Chromium (or `$CHROMIUM`); playwright gives it a fresh, temporary
 * `--user-data-dir` of its own.
 * @param {string[]} [extra] more command-line flags
 */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [...extra, ...CHROMIUM_ARGS],
  });
}

/**
 * Runs one scenario in a fresh 1280×800 page: `body` gets the page, `state()`, `until(what, pred,
 * ms)` (polls `state()` every 100 ms until `pred` holds, records `what` as a step, or
 * throws after `ms`), and the findings object to fill. Page errors fail the run. Prints
 * the findings as one JSON line and exits non-zero with the error when a step failed.
 * @param {(page: import('playwright-core').Page) => Promise<any>} state
 * @param {(ctx: {page: import('playwright-core').Page, until: (what: string, pred: (s: any) => boolean, ms: number) => Promise<any>, findings: Record<string, any>, state: () => Promise<any>}) => Promise<void>} body
 */
export async function scenario(state, body) {
  const browser = await launch();
  const findings = { steps: /** @type {string[]} */ ([]) };
  let failed = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const until = async (what, pred, ms) => {
      const end = Date.now() + ms;
      for (;;) {
        const s = await state(page);
        if (s && pred(s)) {
          findings.steps.push(what);
          return s;
        }
        if (Date.now() > end) throw new Error(`timed out: ${what}; last state ${JSON.stringify(s)}`);
        await page.waitForTimeout(100);
      }
    };
    await body({ page, until, findings, state: () => state(page) });
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(findings));
  if (failed) {
    console.error(String(failed));
    process.exit(1);
  }
}
