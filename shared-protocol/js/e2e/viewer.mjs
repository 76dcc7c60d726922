// End to end in headless Chromium: the zone viewer of a running `arcane demo` (its
// base URL is the first argument): an admin opens it, sees the meadow whole (entities,
// enemy states, spawners, obstacles, exits, creature cells), focuses a player's view,
// pauses, and saves a screenshot. A non-admin is refused. One JSON line of findings;
// non-zero exit when a step fails.
//
//   node e2e/viewer.mjs http://127.0.0.1:8080 designer [screenshot.png]
import { scenario } from './browser.mjs';

const [base, admin = 'designer', shot = 'viewer.png'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node e2e/viewer.mjs <orchestrator URL> [admin name] [screenshot.png]');
  process.exit(2);
}
await scenario((page) => page.evaluate(() => window.arcaneViewer.state()), async ({ page, until, findings, state }) => {
  await page.goto(`${base}/viewer/`);
  await page.fill('#viewer-name', 'not_an_admin');
  await page.click('#viewer-login');
  await page.waitForFunction(() => document.getElementById('viewer-error').textContent.length > 0, null, { timeout: 5000 });
  findings.steps.push('a non-admin is refused');
  await page.fill('#viewer-name', admin);
  await page.click('#viewer-login');
  await page.waitForFunction(() => [...document.querySelectorAll('#zone option')].some((o) => o.value === 'meadow'), null, { timeout: 10_000 });
  await page.selectOption('#zone', 'meadow');
  let s = await until('sees the meadow whole', (s) => s.zone === 'meadow' && s.entities > 100 && s.players > 0, 15_000);
  findings.world = { players: s.players, entities: s.entities, enemies: s.enemies, states: s.states, spawners: s.spawners, obstacles: s.obstacles, exits: s.exits, cells: s.cells };
  if (!(s.spawners > 0 && s.obstacles > 0 && s.exits > 0 && s.cells > 0)) throw new Error(`map parts missing: ${JSON.stringify(s)}`);
  const player = await page.evaluate(async () => {
    const res = await fetch(`/v1/viewer/zones/meadow/world`, { headers: { authorization: `Bearer ${sessionStorage.getItem('arcane-viewer-token')}` } });
    const w = await res.json();
    return w.entities.find((e) => e.kind === 'Player')?.id;
  });
  await page.evaluate((id) => window.arcaneViewer.pick(id), player);
  s = await until('focuses a player: its interest radius and view', (s) => s.focus && s.focus.radius > 0 && s.focus.view.length > 0, 5_000);
  findings.focus = { radius: s.focus.radius, view: s.focus.view.length };
  await page.keyboard.press('Space');
  s = await until('pauses', (s) => s.paused, 2_000);
  const frozen = s.tick;
  await page.waitForTimeout(800);
  s = await state();
  if (s.tick !== frozen) throw new Error('the view moved on while paused');
  await page.screenshot({ path: shot });
});
