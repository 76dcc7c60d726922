// Client-side snapshot decoding (PROTOCOL.md "Applying a snapshot"): keeps the recent
// decoded views and applies each delta snapshot to the baseline it names. The same
// rules as the Rust `ClientView`.

/** How many decoded views are kept as possible baselines (twice the server's 16). */
export const VIEW_HISTORY = 32;

/**
 * @typedef {{ kind: string, variant: number, x_cm: number, y_cm: number, hp_pct: number, flags: number }} EntityStateValue
 * @typedef {{ local: number, net_id: number, state: EntityStateValue, vel: [number, number] }} ViewEntity
 *   `vel`: centimetres per tick as the snapshots state it; positions are dead-reckoned
 *   by it between a baseline and the snapshot built on it.
 * @typedef {{ hp: number, max_hp: number, mana: number, max_mana: number, ready_tick: number[],
 *   gcd_ready_tick: number, casting: [number, number]|null, respawn_tick: number|null,
 *   invulnerable_until: number }} OwnStateValue
 */

/** Why a snapshot was not applied. `kind` is `stale`, `baseline_missing` or `inconsistent`. */
export class ApplyError extends Error {
  /**
   * @param {'stale'|'baseline_missing'|'inconsistent'} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.name = 'ApplyError';
    this.kind = kind;
  }
}

/** A client's decoded picture of the world. */
export class ClientView {
  constructor() {
    /** @type {{ id: number, tick: number, entities: Map<number, ViewEntity>, own: OwnStateValue|null }[]} */
    this.history = [];
    /** Zone tick of the newest applied snapshot. */
    this.tick = 0;
    /** Newest input sequence the server says it applied. */
    this.lastInputSeq = 0;
    /** The zone's time rate as of the newest snapshot, a fraction of real time in (0, 1]. */
    this.timeRate = 1;
  }

  /** Id of the newest applied snapshot (what to ack); 0 before the first. */
  currentId() {
    return this.history.length ? this.history[this.history.length - 1].id : 0;
  }

  /**
   * The entities in view, by local id.
   * @returns {Map<number, ViewEntity>}
   */
  entities() {
    return this.history.length ? this.history[this.history.length - 1].entities : new Map();
  }

  /** @returns {OwnStateValue|null} */
  own() {
    return this.history.length ? this.history[this.history.length - 1].own : null;
  }

  /**
   * The entity with this zone-wide id, if it is in view.
   * @param {number} netId
   */
  entity(netId) {
    for (const e of this.entities().values()) if (e.net_id === netId) return e;
    return undefined;
  }

  /**
   * Applies a decoded `Snapshot`. On success ack `snapshot.id`; on an `ApplyError`
   * nothing changed (a stale one is simply ignored; keep acking the newest id).
   * @param {any} snapshot
   */
  apply(snapshot) {
    const current = this.currentId();
    if (current !== 0 && snapshot.id <= current) {
      throw new ApplyError('stale', `snapshot ${snapshot.id} is not newer than ${current}`);
    }
    /** @type {Map<number, ViewEntity>} */
    let entities;
    let baseOwn = null;
    if (snapshot.baseline === 0) {
      entities = new Map();
    } else {
      const base = this.history.findLast((v) => v.id === snapshot.baseline);
      if (!base) {
        throw new ApplyError('baseline_missing',
          `snapshot ${snapshot.id} needs baseline ${snapshot.baseline}, which is gone`);
      }
      // Entities are copied (not shared) so older views stay valid baselines, and
      // each moves on by its velocity over the ticks since the baseline (32-bit
      // wrapping arithmetic, as the server computes it); updates then correct.
      const dt = (snapshot.tick - base.tick) | 0;
      entities = new Map();
      for (const [k, e] of base.entities) {
        const state = { ...e.state };
        state.x_cm = (state.x_cm + Math.imul(e.vel[0], dt)) | 0;
        state.y_cm = (state.y_cm + Math.imul(e.vel[1], dt)) | 0;
        entities.set(k, { local: e.local, net_id: e.net_id, state, vel: e.vel });
      }
      baseOwn = base.own;
    }
    const bad = (/** @type {string} */ what) =>
      new ApplyError('inconsistent', `snapshot ${snapshot.id} is inconsistent with its baseline: ${what}`);
    for (const local of snapshot.leaves) {
      if (!entities.delete(local)) throw bad('leave of an entity not in view');
    }
    for (const enter of snapshot.enters) {
      if (entities.has(enter.local)) throw bad('enter into an occupied local id');
      entities.set(enter.local, {
        local: enter.local, net_id: enter.net_id, state: { ...enter.state }, vel: [0, 0],
      });
    }
    for (const u of snapshot.updates) {
      const e = entities.get(u.local);
      if (!e) throw bad('update of an entity not in view');
      if (u.pos_delta) {
        e.state.x_cm = (e.state.x_cm + u.pos_delta[0]) | 0;
        e.state.y_cm = (e.state.y_cm + u.pos_delta[1]) | 0;
      }
      if (u.hp_pct != null) e.state.hp_pct = u.hp_pct;
      if (u.flags != null) e.state.flags = u.flags;
      if (u.vel) e.vel = [u.vel[0], u.vel[1]];
    }
    if (this.history.length === VIEW_HISTORY) this.history.shift();
    this.history.push({ id: snapshot.id, tick: snapshot.tick, entities, own: snapshot.own ?? baseOwn });
    this.tick = snapshot.tick;
    this.lastInputSeq = snapshot.last_input_seq;
    this.timeRate = Math.min(100, Math.max(1, snapshot.time_rate)) / 100;
  }
}
