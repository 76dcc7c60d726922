// The web client: log in, then play the zone on a canvas with the SDK
// (/sdk/index.js, the same files as shared-protocol/js/src).
import { ArcaneClient } from '/sdk/index.js';
import { Camera, drawEntities, drawGround, drawMap, drawTelegraphs, fit } from './render.js';
import {
  breedChosen, buildSkillBar, log, onSocial, rosterAll, rosterEntry, skillName, submitChat,
  updateVitals,
} from './panels.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ ($('world'));
const cam = new Camera();
/** @type {ArcaneClient|null} */
let client = null;
/** @type {number|null} */
let selected = null;
let mouse = { x: 0, y: 0, inside: false };
/** @type {{telegraph: any, until: number, windup: number}[]} */
let telegraphs = [];
/** @type {any} the zone's map (obstacles, exits), when the orchestrator has it */
let map = null;
const keys = new Set();
const perf = { frames: 0, fps: 0, frameMs: /** @type {number[]} */ ([]), since: performance.now(), zones: /** @type {string[]} */ ([]) };

/** Magic Missile's range in the shipped content (30 m). */
const MISSILE_RANGE_CM = 3000;
/** The last direction walked (for aiming without a cursor). */
let facing = [1, 0];

/** Which target a skill wants (PROTOCOL.md "Cast"): by the content's skill ids. */
function castTarget(/** @type {string} */ skill) {
  const me = client?.welcome?.player;
  const target = selected !== null ? client?.view.entity(selected) : undefined;
  if (skill === 'arcane_nova') return 'Caster';
  if (skill === 'heal') {
    return target && target.state.kind === 'Player' && target.net_id !== me ? { Entity: target.net_id } : 'Caster';
  }
  // Magic Missile and other projectiles: the selected enemy, else the one under the
  // cursor, else the nearest within range, else the ground towards the cursor (or
  // ahead), within range.
  if (target && target.state.kind === 'Enemy') return { Entity: target.net_id };
  const cursor = mouse.inside ? cam.toWorld(mouse.x, mouse.y) : null;
  const near = (cursor && nearest(cursor, ['Enemy'], 500)) || nearest([cam.x, cam.y], ['Enemy'], MISSILE_RANGE_CM);
  if (near) return { Entity: near.net_id };
  let [dx, dy] = cursor ? [cursor[0] - cam.x, cursor[1] - cam.y] : [facing[0] * 1000, facing[1] * 1000];
  const len = Math.hypot(dx, dy) || 1;
  const reach = Math.min(len, MISSILE_RANGE_CM - 100);
  [dx, dy] = [(dx / len) * reach, (dy / len) * reach];
  return { Point: { x_cm: Math.round(cam.x + dx), y_cm: Math.round(cam.y + dy) } };
}

/** The nearest living entity of these kinds within `maxCm` of a point. */
function nearest(/** @type {number[]} */ [x, y], /** @type {string[]} */ kinds, maxCm) {
  let best = null;
  let bestD = maxCm;
  for (const e of client?.renderEntities() ?? []) {
    if (!kinds.includes(e.kind) || e.own || (e.flags & 1)) continue;
    const d = Math.hypot(e.x_cm - x, e.y_cm - y);
    if (d < bestD) {
      bestD = d;
      best = e;
    }
  }
  return best;
}

function steer() {
  if (!client) return;
  const x = (keys.has('d') || keys.has('arrowright') ? 1 : 0) - (keys.has('a') || keys.has('arrowleft') ? 1 : 0);
  const y = (keys.has('w') || keys.has('arrowup') ? 1 : 0) - (keys.has('s') || keys.has('arrowdown') ? 1 : 0);
  const len = Math.hypot(x, y) || 1;
  if (x || y) facing = [x / len, y / len];
  client.move(x / len, y / len);
}

addEventListener('keydown', (e) => {
  if (!client) return;
  const chat = $('chat-input');
  if (document.activeElement === chat) {
    if (e.key === 'Enter') {
      submitChat(client, chat.value);
      chat.value = '';
      chat.blur();
    } else if (e.key === 'Escape') chat.blur();
    return;
  }
  const k = e.key.toLowerCase();
  if (k === 'enter') {
    chat.focus();
    e.preventDefault();
    return;
  }
  if (['1', '2', '3', '4', '5', '6'].includes(k)) {
    const slot = Number(k) - 1;
    const skill = client.welcome?.skills[slot];
    if (skill) client.cast(slot, castTarget(skill));
  } else if (k === 'c') {
    const target = selected !== null ? client.view.entity(selected) : undefined;
    const creature = target?.state.kind === 'Creature' ? target : nearest([cam.x, cam.y], ['Creature'], 1200);
    if (creature) client.capture(creature.net_id);
    else log('no wild creature near to capture');
  } else if (k === 'r') {
    client.respawn();
  }
  keys.add(k);
  steer();
});
addEventListener('keyup', (e) => {
  keys.delete(e.key.toLowerCase());
  steer();
});
addEventListener('blur', () => {
  keys.clear();
  steer();
});
canvas.addEventListener('mousemove', (e) => {
  mouse = { x: e.offsetX, y: e.offsetY, inside: true };
});
canvas.addEventListener('mouseleave', () => { mouse.inside = false; });
canvas.addEventListener('click', (e) => {
  const hit = nearest(cam.toWorld(e.offsetX, e.offsetY), ['Enemy', 'Creature', 'Player'], 300);
  selected = hit ? hit.net_id : null;
});
canvas.addEventListener('wheel', (e) => {
  cam.scale = Math.min(40, Math.max(1, cam.scale * (e.deltaY < 0 ? 1.15 : 1 / 1.15)));
  e.preventDefault();
}, { passive: false });

/** @param {any} ev a ReliableEvent */
function onEvent(ev) {
  const k = ev.kind;
  const me = client?.welcome?.player;
  const name = (/** @type {number} */ id) => (id === me ? 'you' : `#${id}`);
  if ('Telegraph' in k) {
    telegraphs.push({ telegraph: k.Telegraph.telegraph, until: ev.tick + k.Telegraph.windup_ticks, windup: k.Telegraph.windup_ticks });
  } else if ('Damage' in k) {
    if (k.Damage.target === me || k.Damage.source === me) log(`${name(k.Damage.source)} hit ${name(k.Damage.target)} for ${k.Damage.amount}`);
  } else if ('Healed' in k) {
    if (k.Healed.target === me || k.Healed.source === me) log(`${name(k.Healed.source)} healed ${name(k.Healed.target)} for ${k.Healed.amount}`);
  } else if ('Died' in k) {
    if (k.Died.entity === me) log('you died');
    else if (k.Died.killer === me) log(`you defeated #${k.Died.entity}`);
  } else if ('CastRejected' in k) {
    log(`${skillName(client?.welcome?.skills[k.CastRejected.slot] ?? '?')}: ${k.CastRejected.reason}`);
  } else if ('Chat' in k) {
    const c = k.Chat;
    const channel = typeof c.channel === 'string' ? c.channel : 'Whisper';
    const cls = channel === 'Whisper' ? 'whisper' : channel === 'Party' ? 'party' : 'chat';
    log(`[${channel.toLowerCase()}] ${c.from}: ${c.text}`, cls);
  } else if ('ChatRefused' in k) {
    log(`not sent: ${k.ChatRefused.detail}`);
  } else if ('CaptureResult' in k) {
    const o = k.CaptureResult.outcome;
    log(typeof o === 'string' ? `capture: ${o}` : 'Captured' in o ? 'captured!' : `capture refused: ${o.Refused}`);
  } else if ('BreedResult' in k) {
    const o = k.BreedResult.outcome;
    log('EggLaid' in o ? 'an egg was laid' : `breeding refused: ${o.Refused}`);
  } else if ('Roster' in k) {
    rosterAll(k.Roster.creatures);
  } else if ('RosterEntry' in k) {
    rosterEntry(k.RosterEntry.creature);
  } else if ('Social' in k) {
    onSocial(k.Social);
  } else if ('Notice' in k) {
    log(k.Notice.text);
  } else if ('AdminResult' in k) {
    log(`admin: ${k.AdminResult.detail}`);
  }
}

async function loadMap(/** @type {string} */ zone) {
  map = null;
  try {
    const res = await fetch(`/v1/maps/${encodeURIComponent(zone)}`);
    if (res.ok) map = await res.json();
  } catch { /* drawn without the map */ }
}

function frame() {
  requestAnimationFrame(frame);
  const t0 = performance.now();
  const ctx = fit(canvas, cam);
  if (!client?.welcome) {
    ctx.fillStyle = '#0b0e14';
    ctx.fillRect(0, 0, cam.width, cam.height);
    return;
  }
  const entities = client.renderEntities();
  const me = entities.find((e) => e.own);
  if (me) {
    cam.x = me.x_cm;
    cam.y = me.y_cm;
  }
  const nowTick = client.renderTick() + client.interpolationMs / client.periodMs;
  telegraphs = telegraphs.filter((t) => t.until > nowTick);
  drawGround(ctx, cam, client.welcome.bounds_cm);
  drawMap(ctx, cam, map);
  drawTelegraphs(ctx, cam, telegraphs, nowTick);
  drawEntities(ctx, cam, entities, selected, (e) => (e.own ? 'you' : null));
  updateVitals(client, nowTick);
  perf.frames++;
  perf.frameMs.push(performance.now() - t0);
  if (perf.frameMs.length > 600) perf.frameMs.shift();
  const now = performance.now();
  if (now - perf.since >= 1000) {
    perf.fps = Math.round((perf.frames * 1000) / (now - perf.since));
    perf.frames = 0;
    perf.since = now;
    $('stats').textContent = [
      `zone     ${client.welcome.zone_id}`,
      `ping     ${Number.isNaN(client.rttMs) ? '–' : `${client.rttMs.toFixed(0)} ms`}`,
      `snaps/s  ${client.snapshotRate}`,
      `visible  ${entities.length}`,
      `fps      ${perf.fps}`,
      // An overloaded zone slows its time (time dilation).
      ...(client.view.timeRate < 1 ? [`time     ${Math.round(client.view.timeRate * 100)} %`] : []),
    ].join('\n');
  }
}

$('login').addEventListener('submit', async (/** @type {Event} */ e) => {
  e.preventDefault();
  const name = $('login-name').value.trim();
  $('login-error').textContent = '';
  $('login-button').disabled = true;
  const c = new ArcaneClient({ orchestrator: location.origin, name });
  c.on('welcome', (/** @type {any} */ w) => {
    perf.zones.push(w.zone_id);
    telegraphs = [];
    selected = null;
    buildSkillBar(c);
    log(`entered ${w.zone_id}`);
    loadMap(w.zone_id);
    c.requestRoster();
    c.social('Status');
  });
  c.on('event', onEvent);
  c.on('redirect', (/** @type {any} */ r) => log(`travelling to ${r.zone_id}…`));
  c.on('kick', (/** @type {any} */ k) => { if (k.reason !== 'Redirected') log(`disconnected: ${k.reason} ${k.detail}`); });
  c.on('reconnecting', (/** @type {any} */ r) => log(`connection lost; reconnecting (attempt ${r.attempt})`));
  c.on('closed', (/** @type {Error} */ err) => log(`session ended: ${err.message}`));
  try {
    await c.login();
    client = c;
    $('login').hidden = true;
    $('hud').hidden = false;
  } catch (err) {
    $('login-error').textContent = String(/** @type {Error} */ (err).message ?? err);
    $('login-button').disabled = false;
  }
});
$('respawn-button').addEventListener('click', () => client?.respawn());
$('breed-button').addEventListener('click', () => client && breedChosen(client));

/** For tests and the curious: the page's state. */
/** @type {any} */ (window).arcane = {
  get client() { return client; },
  state() {
    if (!client?.welcome) return { playing: false };
    const entities = client.renderEntities();
    const me = entities.find((e) => e.own);
    const sorted = [...perf.frameMs].sort((a, b) => a - b);
    return {
      playing: client.state === 'playing',
      zone: client.welcome.zone_id,
      zonesVisited: perf.zones,
      player: client.welcome.player,
      position: me ? [me.x_cm, me.y_cm] : null,
      own: client.view.own(),
      visible: entities.length,
      players: entities.filter((e) => e.kind === 'Player' && !e.own).length,
      enemies: entities.filter((e) => e.kind === 'Enemy').length,
      fps: perf.fps,
      frameMsP95: sorted.length ? sorted[Math.floor(sorted.length * 0.95)] : null,
      decodeMs: client.stats.decodeMs,
      snapshots: client.stats.snapshots,
      snapshotRate: client.snapshotRate,
      timeRate: client.view.timeRate,
      rttMs: client.rttMs,
    };
  },
};
requestAnimationFrame(frame);
