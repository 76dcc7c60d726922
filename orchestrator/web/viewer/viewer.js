// The zone viewer: the whole zone as the server holds it, polled from the
// orchestrator's admin-only /v1/viewer API. Pan, zoom, pause; click a player to see
// its interest radius and what it sees.
import { Camera, drawEntities, drawMap, fit } from '/play/render.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ ($('world'));
const cam = new Camera();
cam.scale = 1;
let token = sessionStorage.getItem('arcane-viewer-token') ?? '';
/** @type {any} */
let world = null;
let paused = false;
/** @type {number|null} net id of the inspected entity */
let picked = null;
/** @type {number|null} player id focused for its interest */
let focusPlayer = null;
let fetchMs = 0;
let fitted = '';

async function api(/** @type {string} */ path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (res.status === 401 || res.status === 403) {
    sessionStorage.removeItem('arcane-viewer-token');
    $('hud').hidden = true;
    $('login').hidden = false;
    throw new Error('the viewer session ended; open it again');
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function loadZones() {
  const zones = await api('/v1/viewer/zones');
  const select = $('zone');
  const current = select.value;
  select.replaceChildren(...zones.map((/** @type {any} */ z) => {
    const o = document.createElement('option');
    o.value = z.zone_id;
    o.textContent = `${z.zone_id} (${z.players} players${z.up ? '' : ', down'})`;
    return o;
  }));
  if (current && zones.some((/** @type {any} */ z) => z.zone_id === current)) select.value = current;
}

async function poll() {
  if (!paused && token && $('zone').value) {
    const t0 = performance.now();
    try {
      const q = focusPlayer !== null ? `?player=${focusPlayer}` : '';
      world = await api(`/v1/viewer/zones/${encodeURIComponent($('zone').value)}/world${q}`);
      fetchMs = performance.now() - t0;
      if (fitted !== world.zone_id) fitZone();
    } catch (e) {
      $('stats').textContent = String(e);
    }
  }
  setTimeout(poll, 250);
}

function fitZone() {
  if (!world) return;
  fitted = world.zone_id;
  const [x0, y0, x1, y1] = world.bounds;
  cam.x = ((x0 + x1) / 2) * 100;
  cam.y = ((y0 + y1) / 2) * 100;
  cam.scale = Math.min(cam.width / (x1 - x0), cam.height / (y1 - y0)) * 0.95 || 1;
}

function drawCells(/** @type {CanvasRenderingContext2D} */ ctx) {
  const c = world.cells;
  if (!c || !$('show-cells').checked) return;
  for (let i = 0; i < c.counts.length; i++) {
    const n = c.counts[i].reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0);
    const cap = c.caps[i].reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0);
    if (!cap) continue;
    const x = world.bounds[0] + (i % c.cols) * c.cell_size;
    const y = world.bounds[1] + Math.floor(i / c.cols) * c.cell_size;
    const [sx0, sy0] = cam.toScreen(x * 100, (y + c.cell_size) * 100);
    const [sx1, sy1] = cam.toScreen((x + c.cell_size) * 100, y * 100);
    ctx.fillStyle = `rgba(255, 179, 71, ${0.05 + 0.35 * Math.min(1, n / cap)})`;
    ctx.fillRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
    if (cam.scale * c.cell_size > 40) {
      ctx.fillStyle = '#ffcf8a';
      ctx.fillText(`${n}/${cap}`, sx0 + 3, sy0 + 12);
    }
  }
}

function drawSpawners(/** @type {CanvasRenderingContext2D} */ ctx) {
  for (const s of world.spawners) {
    const [sx, sy] = cam.toScreen(s.x * 100, s.y * 100);
    ctx.beginPath();
    ctx.arc(sx, sy, Math.max(4, s.radius * cam.scale), 0, Math.PI * 2);
    ctx.strokeStyle = 'rgba(255, 90, 90, 0.6)';
    ctx.setLineDash([4, 4]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#ffb0b0';
    ctx.fillText(`${s.enemy} ${s.alive}/${s.count}${s.pending ? ` (+${s.pending})` : ''}`, sx + 6, sy - 6);
  }
}

function drawFocus(/** @type {CanvasRenderingContext2D} */ ctx) {
  const f = world.focus;
  if (!f) return;
  const [sx, sy] = cam.toScreen(f.x * 100, f.y * 100);
  for (const [r, colour] of [[f.radius, 'rgba(120, 200, 255, 0.9)'], [f.radius + f.margin, 'rgba(120, 200, 255, 0.35)']]) {
    ctx.beginPath();
    ctx.arc(sx, sy, r * cam.scale, 0, Math.PI * 2);
    ctx.strokeStyle = /** @type {string} */ (colour);
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }
  const inView = new Set(f.view);
  ctx.strokeStyle = 'rgba(120, 200, 255, 0.8)';
  for (const e of world.entities) {
    if (!inView.has(e.id)) continue;
    const [ex, ey] = cam.toScreen(e.x * 100, e.y * 100);
    ctx.strokeRect(ex - 5, ey - 5, 10, 10);
  }
}

function drawTelegraphs(/** @type {CanvasRenderingContext2D} */ ctx) {
  ctx.strokeStyle = 'rgba(255, 150, 60, 0.9)';
  ctx.lineWidth = 2;
  for (const e of world.entities) {
    if (!e.telegraph) continue;
    const [ox, oy, fx, fy] = e.telegraph;
    const [sx, sy] = cam.toScreen(ox * 100, oy * 100);
    const [tx, ty] = cam.toScreen((ox + fx * 6) * 100, (oy + fy * 6) * 100);
    ctx.beginPath();
    ctx.moveTo(sx, sy);
    ctx.lineTo(tx, ty);
    ctx.stroke();
  }
}

function frame() {
  requestAnimationFrame(frame);
  const ctx = fit(canvas, cam);
  ctx.fillStyle = '#0b0e14';
  ctx.fillRect(0, 0, cam.width, cam.height);
  if (!world) return;
  const [x0, y0, x1, y1] = world.bounds;
  const [bx0, by0] = cam.toScreen(x0 * 100, y1 * 100);
  const [bx1, by1] = cam.toScreen(x1 * 100, y0 * 100);
  ctx.fillStyle = '#18241b';
  ctx.fillRect(bx0, by0, bx1 - bx0, by1 - by0);
  ctx.font = '11px system-ui';
  drawCells(ctx);
  drawMap(ctx, cam, world);
  drawSpawners(ctx);
  const showNpcs = $('show-npcs').checked;
  const entities = world.entities
    .filter((/** @type {any} */ e) => showNpcs || e.kind !== 'Npc')
    .map((/** @type {any} */ e) => ({
      net_id: e.id, kind: e.kind, variant: e.variant, x_cm: e.x * 100, y_cm: e.y * 100,
      hp_pct: e.hp ? Math.ceil((100 * e.hp[0]) / Math.max(1, e.hp[1])) : 100,
      flags: (e.dead ? 1 : 0) | (e.state === 'WindUp' ? 8 : 0), state: e.state,
    }));
  drawEntities(ctx, cam, entities, picked, (e) => (e.kind === 'Enemy' && cam.scale > 3 ? e.state : null));
  drawTelegraphs(ctx);
  drawFocus(ctx);
  $('stats').textContent = [
    `zone      ${world.zone_id}`,
    `tick      ${world.tick} @ ${world.tick_rate_hz} Hz`,
    `players   ${world.players}`,
    `entities  ${world.entities.length}`,
    `fetch     ${fetchMs.toFixed(0)} ms${paused ? '  PAUSED' : ''}`,
  ].join('\n');
}

let drag = null;
canvas.addEventListener('mousedown', (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; });
addEventListener('mouseup', (e) => {
  if (drag && !drag.moved && world) pick(e.offsetX, e.offsetY);
  drag = null;
});
addEventListener('mousemove', (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x;
  const dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
  cam.x -= (dx / cam.scale) * 100;
  cam.y += (dy / cam.scale) * 100;
  drag.x = e.clientX;
  drag.y = e.clientY;
});
canvas.addEventListener('wheel', (e) => {
  const [wx, wy] = cam.toWorld(e.offsetX, e.offsetY);
  cam.scale = Math.min(60, Math.max(0.2, cam.scale * (e.deltaY < 0 ? 1.2 : 1 / 1.2)));
  const [nx, ny] = cam.toWorld(e.offsetX, e.offsetY);
  cam.x += wx - nx;
  cam.y += wy - ny;
  e.preventDefault();
}, { passive: false });
addEventListener('keydown', (e) => {
  if (e.key === ' ' && document.activeElement?.tagName !== 'INPUT') {
    togglePause();
    e.preventDefault();
  }
});

function pick(/** @type {number} */ px, /** @type {number} */ py) {
  const [wx, wy] = cam.toWorld(px, py);
  let best = null;
  let bestD = Math.max(200, 1500 / cam.scale);
  for (const e of world.entities) {
    const d = Math.hypot(e.x * 100 - wx, e.y * 100 - wy);
    if (d < bestD) {
      bestD = d;
      best = e;
    }
  }
  picked = best ? best.id : null;
  if (best?.kind === 'Player') focusPlayer = Number(best.label.replace('player ', ''));
  $('inspect').textContent = best ? JSON.stringify(best, null, 1) : 'nothing here';
}

function togglePause() {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume (space)' : 'Pause (space)';
}

$('pause').addEventListener('click', togglePause);
$('fit').addEventListener('click', fitZone);
$('zone').addEventListener('change', () => { focusPlayer = null; picked = null; });

async function open() {
  $('login').hidden = true;
  $('hud').hidden = false;
  await loadZones();
  setInterval(() => loadZones().catch(() => {}), 5000);
  poll();
}

$('login').addEventListener('submit', async (/** @type {Event} */ e) => {
  e.preventDefault();
  $('viewer-error').textContent = '';
  const res = await fetch('/v1/viewer/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: $('viewer-name').value.trim() }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    $('viewer-error').textContent = body.detail ?? `refused (${res.status})`;
    return;
  }
  token = body.token;
  sessionStorage.setItem('arcane-viewer-token', token);
  open().catch((err) => { $('viewer-error').textContent = String(err); });
});

/** For tests: the viewer's state. */
/** @type {any} */ (window).arcaneViewer = {
  state: () => (world ? {
    zone: world.zone_id, tick: world.tick, players: world.players, entities: world.entities.length,
    enemies: world.entities.filter((/** @type {any} */ e) => e.kind === 'Enemy').length,
    states: [...new Set(world.entities.filter((/** @type {any} */ e) => e.state).map((/** @type {any} */ e) => e.state))],
    spawners: world.spawners.length, obstacles: world.obstacles.length, exits: world.exits.length,
    cells: world.cells ? world.cells.counts.length : 0, focus: world.focus, paused,
  } : null),
  pick: (/** @type {number} */ id) => {
    const e = world?.entities.find((/** @type {any} */ x) => x.id === id);
    if (!e) return false;
    const [sx, sy] = cam.toScreen(e.x * 100, e.y * 100);
    pick(sx, sy);
    return true;
  },
};
if (token) open().catch(() => {});
requestAnimationFrame(frame);
