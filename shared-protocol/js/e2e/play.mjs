// End to end in headless Chromium: the web client served by a running `arcane demo`
// (its URL is the first argument) logs in, walks, casts, sees a bot, crosses from the
// meadow into the forest, and saves a screenshot. Prints one JSON line of findings and
// exits non-zero when a step fails.
//
//   node e2e/play.mjs http://127.0.0.1:8080/play/ [screenshot.png]
import { scenario } from './browser.mjs';

const url = process.argv[2];
const shot = process.argv[3] ?? 'play.png';
if (!url) {
  console.error('usage: node e2e/play.mjs <play URL> [screenshot.png]');
  process.exit(2);
}
await scenario((page) => page.evaluate(() => window.arcane.state()), async ({ page, until, findings, state }) => {
  await page.goto(url);
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
});
