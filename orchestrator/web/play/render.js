// Draws the zone top-down on a canvas: ground grid and bounds, map geometry when known,
// telegraphs, entities with HP bars, and the selected target. Shared by the viewer.

/** Colours by entity kind. */
export const COLOURS = {
  Player: '#5aa9ff', Npc: '#7f9a78', Enemy: '#ff5a5a', Projectile: '#d28bff', Creature: '#ffb347',
};

const FLAG_DEAD = 1;
const FLAG_INVULNERABLE = 2;
const FLAG_CASTING = 4;
const FLAG_WINDUP = 8;

/** A camera: world centimetres to canvas pixels. */
export class Camera {
  constructor() {
    this.x = 0;
    this.y = 0;
    /** pixels per metre */
    this.scale = 8;
    this.width = 0;
    this.height = 0;
  }
  /** @param {number} xCm @param {number} yCm */
  toScreen(xCm, yCm) {
    return [(xCm - this.x) / 100 * this.scale + this.width / 2, this.height / 2 - (yCm - this.y) / 100 * this.scale];
  }
  /** @param {number} px @param {number} py */
  toWorld(px, py) {
    return [this.x + (px - this.width / 2) / this.scale * 100, this.y - (py - this.height / 2) / this.scale * 100];
  }
}

/**
 * Sizes the canvas to its box at the device's pixel ratio.
 * @param {HTMLCanvasElement} canvas
 * @param {Camera} cam
 */
export function fit(canvas, cam) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  cam.width = w;
  cam.height = h;
  return ctx;
}

/**
 * Ground: a 10 m grid and the zone's bounds.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Camera} cam
 * @param {number[]} bounds [min x, min y, max x, max y] cm
 */
export function drawGround(ctx, cam, bounds) {
  ctx.fillStyle = '#0b0e14';
  ctx.fillRect(0, 0, cam.width, cam.height);
  const [x0, y0] = cam.toScreen(bounds[0], bounds[3]);
  const [x1, y1] = cam.toScreen(bounds[2], bounds[1]);
  ctx.fillStyle = '#18241b';
  ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  const step = cam.scale >= 4 ? 1000 : 10000;
  ctx.strokeStyle = 'rgba(255,255,255,0.05)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  const [wx0, wy0] = cam.toWorld(0, cam.height);
  const [wx1, wy1] = cam.toWorld(cam.width, 0);
  for (let x = Math.ceil(Math.max(bounds[0], wx0) / step) * step; x <= Math.min(bounds[2], wx1); x += step) {
    const [sx] = cam.toScreen(x, 0);
    ctx.moveTo(sx, Math.max(0, y0));
    ctx.lineTo(sx, Math.min(cam.height, y1));
  }
  for (let y = Math.ceil(Math.max(bounds[1], wy0) / step) * step; y <= Math.min(bounds[3], wy1); y += step) {
    const [, sy] = cam.toScreen(0, y);
    ctx.moveTo(Math.max(0, x0), sy);
    ctx.lineTo(Math.min(cam.width, x1), sy);
  }
  ctx.stroke();
  ctx.strokeStyle = '#55657f';
  ctx.lineWidth = 2;
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
}

/**
 * Map geometry (metres, as the zone's content gives it): obstacles and exits.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Camera} cam
 * @param {any} map `{ obstacles, exits, spawners? }` as the zone's `/world` answers
 */
export function drawMap(ctx, cam, map) {
  if (!map) return;
  ctx.fillStyle = '#2b3140';
  for (const o of map.obstacles ?? []) {
    if (o.circle) {
      const [sx, sy] = cam.toScreen(o.circle.x * 100, o.circle.y * 100);
      ctx.beginPath();
      ctx.arc(sx, sy, o.circle.r * cam.scale, 0, Math.PI * 2);
      ctx.fill();
    } else if (o.box) {
      const [sx0, sy0] = cam.toScreen(o.box.min[0] * 100, o.box.max[1] * 100);
      const [sx1, sy1] = cam.toScreen(o.box.max[0] * 100, o.box.min[1] * 100);
      ctx.fillRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
    }
  }
  ctx.font = '12px system-ui';
  for (const e of map.exits ?? []) {
    const [sx0, sy0] = cam.toScreen(e.min[0] * 100, e.max[1] * 100);
    const [sx1, sy1] = cam.toScreen(e.max[0] * 100, e.min[1] * 100);
    ctx.fillStyle = e.instance ? 'rgba(190,120,255,0.35)' : 'rgba(120,200,255,0.25)';
    ctx.fillRect(sx0, sy0, Math.max(2, sx1 - sx0), Math.max(2, sy1 - sy0));
    ctx.fillStyle = '#cfe3ff';
    ctx.fillText(`→ ${e.to}`, Math.min(Math.max(sx0, 4), cam.width - 80), Math.min(Math.max((sy0 + sy1) / 2, 14), cam.height - 4));
  }
}

/**
 * Enemy telegraphs: the area the attack lands on, until it lands.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Camera} cam
 * @param {{telegraph: any, until: number, windup: number}[]} telegraphs
 * @param {number} tick the zone tick now
 */
export function drawTelegraphs(ctx, cam, telegraphs, tick) {
  for (const t of telegraphs) {
    const left = Math.max(0, Math.min(1, (t.until - tick) / Math.max(1, t.windup)));
    const g = t.telegraph;
    const [sx, sy] = cam.toScreen(g.x_cm, g.y_cm);
    const facing = -g.facing_mrad / 1000;
    ctx.fillStyle = `rgba(255, 90, 40, ${0.15 + 0.3 * (1 - left)})`;
    ctx.strokeStyle = 'rgba(255, 120, 60, 0.9)';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    if ('Circle' in g.area) {
      ctx.arc(sx, sy, g.area.Circle.radius_cm / 100 * cam.scale, 0, Math.PI * 2);
    } else if ('Cone' in g.area) {
      const r = g.area.Cone.length_cm / 100 * cam.scale;
      const half = g.area.Cone.angle_decideg / 10 / 2 * Math.PI / 180;
      ctx.moveTo(sx, sy);
      ctx.arc(sx, sy, r, facing - half, facing + half);
      ctx.closePath();
    } else if ('Line' in g.area) {
      const len = g.area.Line.length_cm / 100 * cam.scale;
      const w = g.area.Line.width_cm / 100 * cam.scale;
      ctx.save();
      ctx.translate(sx, sy);
      ctx.rotate(facing);
      ctx.rect(0, -w / 2, len, w);
      ctx.restore();
    }
    ctx.fill();
    ctx.stroke();
  }
}

/**
 * Entities: a disc per entity, rings for casting and wind-up, HP bars.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Camera} cam
 * @param {{net_id: number, own?: boolean, kind: string, x_cm: number, y_cm: number, hp_pct: number, flags: number, variant: number}[]} entities
 * @param {number|null} selected net id of the selected target
 * @param {(e: any) => string|null} [label]
 */
export function drawEntities(ctx, cam, entities, selected, label) {
  const r = Math.max(3, 0.6 * cam.scale);
  ctx.font = '11px system-ui';
  ctx.textAlign = 'center';
  for (const e of entities) {
    const [sx, sy] = cam.toScreen(e.x_cm, e.y_cm);
    if (sx < -20 || sy < -20 || sx > cam.width + 20 || sy > cam.height + 20) continue;
    const dead = (e.flags & FLAG_DEAD) !== 0;
    const radius = e.kind === 'Projectile' ? r * 0.45 : e.kind === 'Npc' ? r * 0.6 : r;
    ctx.beginPath();
    ctx.arc(sx, sy, radius, 0, Math.PI * 2);
    ctx.fillStyle = dead ? '#555' : e.own ? '#ffd75a' : (COLOURS[e.kind] ?? '#ccc');
    ctx.fill();
    if (e.flags & FLAG_INVULNERABLE) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    if (e.flags & (FLAG_CASTING | FLAG_WINDUP)) {
      ctx.beginPath();
      ctx.arc(sx, sy, radius + 3, 0, Math.PI * 2);
      ctx.strokeStyle = e.flags & FLAG_WINDUP ? '#ff9a3c' : '#c9a6ff';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    if (selected === e.net_id) {
      ctx.beginPath();
      ctx.arc(sx, sy, radius + 6, 0, Math.PI * 2);
      ctx.strokeStyle = '#ffffff';
      ctx.setLineDash([3, 3]);
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (e.kind !== 'Projectile' && e.kind !== 'Npc' && !dead && e.hp_pct < 100) {
      const w = radius * 2.4;
      ctx.fillStyle = '#300';
      ctx.fillRect(sx - w / 2, sy - radius - 7, w, 3);
      ctx.fillStyle = e.kind === 'Enemy' ? '#ff5a5a' : '#5ad16a';
      ctx.fillRect(sx - w / 2, sy - radius - 7, w * e.hp_pct / 100, 3);
    }
    const text = label?.(e);
    if (text) {
      ctx.fillStyle = '#dfe6f3';
      ctx.fillText(text, sx, sy + radius + 12);
    }
  }
  ctx.textAlign = 'start';
}
