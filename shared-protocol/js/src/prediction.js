// Client-side prediction of the player's own movement, and interpolation of everyone
// else between the snapshots they were seen in.

/**
 * The zone's movement rule for one input (PROTOCOL.md `Input`): the direction is
 * `dir / 127` per axis, clamped to length 1, times the speed per tick, and the position
 * stays within the zone's bounds. Obstacles are the server's business: reconciliation
 * corrects a predicted step into a wall.
 * @param {{x: number, y: number}} pos centimetres (changed in place)
 * @param {number} dirX quantized −127…127
 * @param {number} dirY quantized −127…127
 * @param {number} speedCmPerTick
 * @param {number[]} bounds [min x, min y, max x, max y] in centimetres
 */
export function step(pos, dirX, dirY, speedCmPerTick, bounds) {
  let x = dirX / 127;
  let y = dirY / 127;
  const len = Math.hypot(x, y);
  if (len > 1) {
    x /= len;
    y /= len;
  }
  pos.x = Math.min(bounds[2], Math.max(bounds[0], pos.x + x * speedCmPerTick));
  pos.y = Math.min(bounds[3], Math.max(bounds[1], pos.y + y * speedCmPerTick));
}

/**
 * Quantizes a float direction to the wire's `i8` pair (clamped to [−1, 1]; NaN is 0).
 * @param {number} x
 * @param {number} y
 * @returns {[number, number]}
 */
export function quantizeDirection(x, y) {
  // Half away from zero, as Rust's `f32::round` (JavaScript's Math.round goes up).
  const q = (/** @type {number} */ v) => {
    if (Number.isNaN(v)) return 0;
    const scaled = Math.min(1, Math.max(-1, v)) * 127;
    return Math.sign(scaled) * Math.round(Math.abs(scaled)) || 0;
  };
  return [q(x), q(y)];
}

/** Predicts the own player's position from unacknowledged inputs. */
export class Predictor {
  constructor() {
    /** @type {{seq: number, dx: number, dy: number}[]} inputs the zone has not applied yet */
    this.pending = [];
    /** @type {{x: number, y: number}|null} predicted position (cm), null before the first snapshot */
    this.pos = null;
    /** Size of the last correction (cm): how far the server disagreed with the prediction. */
    this.lastCorrectionCm = 0;
  }

  reset() {
    this.pending = [];
    this.pos = null;
    this.lastCorrectionCm = 0;
  }

  /**
   * Records an input as sent and moves the prediction by it.
   * @param {number} seq
   * @param {number} dx
   * @param {number} dy
   * @param {number} speed
   * @param {number[]} bounds
   * @param {boolean} canMove false while dead (the zone moves nobody dead)
   */
  input(seq, dx, dy, speed, bounds, canMove) {
    this.pending.push({ seq, dx, dy });
    // Never more than the zone keeps (8 queued) plus a second in flight.
    if (this.pending.length > 64) this.pending.shift();
    if (this.pos && canMove) step(this.pos, dx, dy, speed, bounds);
  }

  /**
   * Reconciles with a snapshot: the server's position after input `lastInputSeq`,
   * then every later input replayed on top.
   * @param {number} serverX
   * @param {number} serverY
   * @param {number} lastInputSeq
   * @param {number} speed
   * @param {number[]} bounds
   * @param {boolean} canMove
   */
  reconcile(serverX, serverY, lastInputSeq, speed, bounds, canMove) {
    while (this.pending.length && this.pending[0].seq <= lastInputSeq) this.pending.shift();
    const pos = { x: serverX, y: serverY };
    if (canMove) for (const p of this.pending) step(pos, p.dx, p.dy, speed, bounds);
    if (this.pos) this.lastCorrectionCm = Math.hypot(pos.x - this.pos.x, pos.y - this.pos.y);
    this.pos = pos;
  }
}

/** Positions of other entities, rendered a buffer behind the newest snapshot. */
export class Interpolator {
  /** @param {number} keep samples kept per entity */
  constructor(keep = 16) {
    this.keep = keep;
    /** @type {Map<number, {tick: number, x: number, y: number}[]>} */
    this.samples = new Map();
  }

  clear() {
    this.samples.clear();
  }

  /**
   * Adds the positions of one applied snapshot; forgets entities no longer in view.
   * @param {number} tick
   * @param {Iterable<{net_id: number, state: {x_cm: number, y_cm: number}}>} entities
   */
  push(tick, entities) {
    const seen = new Set();
    for (const e of entities) {
      seen.add(e.net_id);
      let list = this.samples.get(e.net_id);
      if (!list) {
        list = [];
        this.samples.set(e.net_id, list);
      }
      const last = list[list.length - 1];
      if (last && last.tick >= tick) continue;
      list.push({ tick, x: e.state.x_cm, y: e.state.y_cm });
      if (list.length > this.keep) list.shift();
    }
    for (const id of this.samples.keys()) if (!seen.has(id)) this.samples.delete(id);
  }

  /**
   * Where an entity is at (fractional) tick `t`: between the two samples around it,
   * the oldest before them, the newest after them (no extrapolation).
   * @param {number} netId
   * @param {number} t
   * @returns {{x: number, y: number}|null}
   */
  at(netId, t) {
    const list = this.samples.get(netId);
    if (!list || list.length === 0) return null;
    if (t <= list[0].tick) return { x: list[0].x, y: list[0].y };
    for (let i = list.length - 1; i > 0; i--) {
      const a = list[i - 1];
      const b = list[i];
      if (t >= a.tick && t <= b.tick) {
        const f = (t - a.tick) / (b.tick - a.tick);
        return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f };
      }
    }
    const last = list[list.length - 1];
    return { x: last.x, y: last.y };
  }
}
