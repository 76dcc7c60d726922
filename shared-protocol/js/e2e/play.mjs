// End to end in headless Chromium: the web client served by a running `arcane demo`
// (its URL is the first argument) logs in, walks, casts, sees a bot, crosses from the
// meadow into the forest, and saves a screenshot. Prints one JSON line of findings and
// exits non-zero when a step fails.
//
//   node e2e/play.mjs http://127.0.0.1:8080/play/ [screenshot.png]
import { chromium } from 'playwright-core';

const url = process.argv[2];
const shot = process.argv[3] ?? 'play.png';
if (!url) {
  console.error('usage: node e2e/play.mjs <play URL> [screenshot.png]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // playwright starts it with a fresh, temporary --user-data-dir of its own.
});
const findings = { steps: /** @type {string[]} */ ([]) };
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  const state = () => page.evaluate(() => window.arcane.state());
  const until = async (what, pred, ms) => {
    const end = Date.now() + ms;
    for (;;) {
      const s = await state();
      if (pred(s)) {
        findings.steps.push(what);
        return s;
      }
      if (Date.now() > end) throw new Error(`timed out: ${what}; last state ${JSON.stringify(s)}`);
      await page.waitForTimeout(100);
    }
  };
  await page.fill('#login-name', `browser_${process.pid}`);
  await page.click('#login-button');
  let s = await until('logged in and playing', (s) => s.playing && s.position && s.own, 15_000);
  findings.zone = s.zone;
  findings.start = s.position;
  // Walk east (towards the forest border the demo starts bots next to).
  await page.keyboard.down('d');
  const startX = s.position[0];
  s = await until('walked east', (s) => s.position && s.position[0] > startX + 300, 5_000);
  // Cast Magic Missile (at the nearest enemy or the ground) and Arcane Nova: the
  // client must see mana drop.
  const manaBefore = s.own.mana;
  await page.keyboard.press('2');
  s = await until('cast Arcane Nova (mana spent)', (s) => s.own && s.own.mana < manaBefore, 5_000);
  await page.keyboard.press('1');
  s = await until('sees another player (a bot)', (s) => s.players > 0, 20_000);
  findings.playersSeen = s.players;
  s = await until('crossed into the forest', (s) => s.zone === 'forest' && s.playing && s.position, 60_000);
  await page.keyboard.up('d');
  findings.zones = s.zonesVisited;
  await page.waitForTimeout(1500);
  s = await state();
  findings.final = { zone: s.zone, visible: s.visible, fps: s.fps, frameMsP95: s.frameMsP95, decodeMs: s.decodeMs, snapshotRate: s.snapshotRate, rttMs: s.rttMs };
  await page.screenshot({ path: shot });
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
