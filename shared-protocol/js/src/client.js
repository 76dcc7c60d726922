// A game client's connection: login through the orchestrator, the handshake, inputs on
// the zone's tick with acks, snapshots into a `ClientView`, events, `Redirect`s to
// other zones and reconnection after a dropped socket while the ticket lives.

import { CodecError, Reader } from './codec.js';
import {
  PROTOCOL_VERSION, decodeServerMessage, encodeClientFrame, MAX_MESSAGES_PER_FRAME,
  MAX_CHAT_BYTES, Flags,
} from './messages.js';
import { ApplyError, ClientView } from './view.js';
import { Interpolator, Predictor, quantizeDirection } from './prediction.js';

/** Kicks after which reconnecting cannot help: the client or its player must change. */
const FATAL_KICKS = new Set([
  'VersionMismatch', 'BadTicket', 'WrongZone', 'HandshakeFailed', 'MalformedPackets',
  'TooManyViolations', 'DuplicateLogin', 'Moderator',
]);
/** Kicks after which the player logs in again through the orchestrator. */
const RELOGIN_KICKS = new Set(['TicketExpired', 'NotOwner', 'ServerShutdown', 'ZoneFull']);

/**
 * @typedef {object} ClientOptions
 * @property {string} [orchestrator] base URL of the orchestrator's public API (login)
 * @property {string} [name] player name for development login
 * @property {string} [token] identity-provider JWT, when the orchestrator requires one
 * @property {string} [party] a party to join at login
 * @property {'Desktop'|'Mobile'} [tier] device class (view radius and caps)
 * @property {number} [interpolationMs] how far behind the newest snapshot others are drawn (default 100)
 * @property {number} [maxReconnects] attempts after a dropped socket before giving up (default 6)
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (default: the global one)
 * @property {typeof fetch} [fetch] the fetch function (default: the global one)
 * @property {() => number} [now] a millisecond clock (default: performance.now)
 */

/**
 * @typedef {object} LoginResponse
 * @property {number} player_id
 * @property {string} zone_id
 * @property {string} endpoint
 * @property {string} ticket
 * @property {number} expires_unix
 * @property {string} quic_endpoint
 */

/** Thrown when login or a connection fails for good. */
export class ClientError extends Error {
  /**
   * @param {string} message
   * @param {string} [reason] the kick reason or HTTP status behind it
   */
  constructor(message, reason) {
    super(message);
    this.name = 'ClientError';
    this.reason = reason;
  }
}

/** One player's connection to the game. Listen with `on(event, fn)`. */
export class ArcaneClient {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    this.options = options;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.now = options.now ?? (() => performance.now());
    this.interpolationMs = options.interpolationMs ?? 100;
    /** @type {Map<string, Set<Function>>} */
    this.handlers = new Map();
    this.view = new ClientView();
    this.predictor = new Predictor();
    this.interpolator = new Interpolator();
    /** @type {any} the current zone's Welcome */
    this.welcome = null;
    /** `idle`, `connecting`, `playing`, `moving` (between zones), `closed` */
    this.state = 'idle';
    /** @type {{reason: string, detail: string}|null} the last kick */
    this.lastKick = null;
    /** Round-trip time from the last Ping/Pong, in ms. */
    this.rttMs = NaN;
    /** Snapshots received in the last whole second. */
    this.snapshotRate = 0;
    this.stats = { snapshots: 0, bytes: 0, decodeErrors: 0, baselineMisses: 0, decodeMs: 0 };
    /** @type {[number, number]} the movement direction held now */
    this.direction = [0, 0];
    this.ws = null;
    /** @type {any[]} messages waiting for the next tick's frame */
    this.queue = [];
    this.ticket = null;
    this.expiresUnix = 0;
    this.endpoint = '';
    this.redirect = null;
    this.reconnects = 0;
    this.closing = false;
    /** @type {Map<number, number>} ping nonce → when it was sent */
    this.pings = new Map();
    this.clockOffset = NaN;
    this.periodMs = 50;
    /** @type {LoginResponse|null} the orchestrator's last login answer */
    this.loginResponse = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.timer = undefined;
    this.resetSequences();
  }

  resetSequences() {
    this.inputSeq = 0;
    this.castSeq = 0;
    this.creatureSeq = 0;
    this.adminSeq = 0;
  }

  /**
   * Listens for `welcome`, `snapshot`, `event` (each ReliableEvent), `kick`, `redirect`,
   * `pong`, `state`, `error` and `closed`.
   * @param {string} event
   * @param {Function} fn
   */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)?.add(fn);
    return () => this.handlers.get(event)?.delete(fn);
  }

  /**
   * @param {string} event
   * @param {...any} args
   */
  emit(event, ...args) {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`arcane: a ${event} handler threw`, e);
      }
    }
  }

  /** @param {string} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /**
   * Logs in through the orchestrator, then connects to the zone it names.
   * @returns {Promise<any>} the zone's Welcome
   */
  async login() {
    const o = this.options;
    if (!o.orchestrator) throw new ClientError('no orchestrator URL to log in through');
    const body = { name: o.name ?? '', ...(o.party ? { party: o.party } : {}), ...(o.token ? { token: o.token } : {}) };
    const res = await this.fetch(`${o.orchestrator.replace(/\/$/, '')}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let detail = res.statusText;
      try {
        const problem = await res.json();
        detail = problem.detail ?? problem.title ?? detail;
      } catch { /* not JSON */ }
      throw new ClientError(`login refused (${res.status}): ${detail}`, String(res.status));
    }
    /** @type {LoginResponse} */
    const login = await res.json();
    /** The orchestrator's last login answer. */
    this.loginResponse = login;
    return this.connect(login.endpoint, login.ticket, login.expires_unix);
  }

  /**
   * Connects to a zone with a ticket (from login or a Redirect).
   * @param {string} endpoint `ws://` or `wss://` URL
   * @param {string} ticket
   * @param {number} [expiresUnix] the ticket's expiry, for reconnecting
   * @returns {Promise<any>} the Welcome
   */
  connect(endpoint, ticket, expiresUnix = 0) {
    this.closing = false;
    this.endpoint = endpoint;
    this.ticket = ticket;
    this.expiresUnix = expiresUnix || ticketExpiry(ticket);
    this.redirect = null;
    this.lastKick = null;
    this.setState(this.state === 'idle' || this.state === 'closed' ? 'connecting' : 'moving');
    return new Promise((resolve, reject) => {
      let welcomed = false;
      const ws = new this.WebSocket(endpoint);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => {
        const tier = this.options.tier ?? 'Desktop';
        this.sendFrame([{ Hello: { protocol_version: PROTOCOL_VERSION, ticket, tier } }]);
      };
      ws.onmessage = (/** @type {MessageEvent} */ m) => {
        if (ws !== this.ws) return;
        if (!(m.data instanceof ArrayBuffer)) {
          this.emit('error', new CodecError('the server sent a text frame'));
          return;
        }
        const message = this.receive(new Uint8Array(m.data));
        if (message && 'Welcome' in message && !welcomed) {
          welcomed = true;
          resolve(message.Welcome);
        }
      };
      ws.onclose = (/** @type {CloseEvent} */ ev) => {
        if (ws !== this.ws) return;
        this.stopTicking();
        this.ws = null;
        if (!welcomed) {
          const kick = this.lastKick;
          const err = new ClientError(
            kick ? `kicked: ${kick.reason}: ${kick.detail}` : `connection closed (${ev.code})`,
            kick?.reason);
          if (!this.redirect) {
            reject(err);
            this.setState('closed');
            return;
          }
          welcomed = true;
          resolve(this.followRedirect());
          return;
        }
        this.afterClose(ev.code);
      };
      ws.onerror = () => {
        /* a close event follows */
      };
    });
  }

  /**
   * Decodes and handles one server frame.
   * @param {Uint8Array} bytes
   */
  receive(bytes) {
    this.stats.bytes += bytes.length;
    let message;
    const t0 = this.now();
    try {
      message = decodeServerMessage(bytes);
    } catch (e) {
      this.stats.decodeErrors++;
      this.emit('error', e);
      return null;
    }
    if ('Snapshot' in message) {
      this.onSnapshot(message.Snapshot);
      this.stats.decodeMs = this.now() - t0;
    } else if ('Welcome' in message) {
      this.onWelcome(message.Welcome);
    } else if ('Events' in message) {
      for (const ev of message.Events) this.emit('event', ev);
    } else if ('Kick' in message) {
      this.lastKick = message.Kick;
      this.emit('kick', message.Kick);
    } else if ('Pong' in message) {
      const sent = this.pings.get(Number(message.Pong.nonce));
      if (sent !== undefined) {
        this.rttMs = this.now() - sent;
        this.pings.delete(Number(message.Pong.nonce));
      }
      this.emit('pong', message.Pong);
    } else if ('Redirect' in message) {
      this.redirect = message.Redirect;
      this.emit('redirect', message.Redirect);
    }
    return message;
  }

  /** @param {any} welcome */
  onWelcome(welcome) {
    this.welcome = welcome;
    this.view = new ClientView();
    this.predictor.reset();
    this.interpolator.clear();
    this.resetSequences();
    this.queue = [];
    this.reconnects = 0;
    this.clockOffset = NaN;
    this.periodMs = 1000 / welcome.tick_rate_hz;
    this.setState('playing');
    this.emit('welcome', welcome);
    this.startTicking();
  }

  /** @param {any} snapshot */
  onSnapshot(snapshot) {
    try {
      this.view.apply(snapshot);
    } catch (e) {
      if (e instanceof ApplyError) {
        if (e.kind === 'baseline_missing') this.stats.baselineMisses++;
        else if (e.kind === 'inconsistent') this.stats.decodeErrors++;
        return;
      }
      throw e;
    }
    this.stats.snapshots++;
    const now = this.now();
    // A zone that dilates time ticks slower: the tick clock (inputs, interpolation)
    // follows its rate; the offset starts again on the new period.
    const period = 1000 / (this.welcome.tick_rate_hz * this.view.timeRate);
    if (Math.abs(period - this.periodMs) > 1e-6) {
      this.periodMs = period;
      this.clockOffset = NaN;
    }
    // The zone's clock as seen here: smoothed, but reset after a jump (a new zone).
    const offset = snapshot.tick * this.periodMs - now;
    if (Number.isNaN(this.clockOffset) || Math.abs(offset - this.clockOffset) > 250) {
      this.clockOffset = offset;
    } else {
      this.clockOffset += (offset - this.clockOffset) * 0.1;
    }
    this.interpolator.push(snapshot.tick, this.view.entities().values());
    const me = this.view.entity(this.welcome.player);
    if (me) {
      const alive = (me.state.flags & Flags.DEAD) === 0;
      this.predictor.reconcile(me.state.x_cm, me.state.y_cm, snapshot.last_input_seq,
        this.welcome.speed_cm_per_tick, this.welcome.bounds_cm, alive);
    }
    this.emit('snapshot', snapshot);
  }

  /** The zone tick being drawn now for other entities (fractional). */
  renderTick() {
    if (Number.isNaN(this.clockOffset) || !this.periodMs) return this.view.tick;
    return (this.now() + this.clockOffset - this.interpolationMs) / this.periodMs;
  }

  /**
   * Everything to draw: others interpolated, the own player predicted.
   * @returns {{net_id: number, own: boolean, kind: string, variant: number, x_cm: number, y_cm: number, hp_pct: number, flags: number}[]}
   */
  renderEntities() {
    const t = this.renderTick();
    const me = this.welcome?.player;
    const out = [];
    for (const e of this.view.entities().values()) {
      const own = e.net_id === me;
      let p = own ? this.predictor.pos : this.interpolator.at(e.net_id, t);
      if (!p) p = { x: e.state.x_cm, y: e.state.y_cm };
      out.push({ ...e.state, net_id: e.net_id, own, x_cm: p.x, y_cm: p.y });
    }
    return out;
  }

  startTicking() {
    this.stopTicking();
    let next = this.now();
    let second = this.now();
    let snapshotsAtSecond = this.stats.snapshots;
    this.pings.clear();
    let pingNonce = 0;
    const tick = () => {
      const now = this.now();
      // Catch up at most one missed tick: a backlog of inputs only queues in the zone.
      if (now - next > this.periodMs * 2) next = now;
      while (next <= now) {
        this.sendTick();
        next += this.periodMs;
      }
      if (now - second >= 1000) {
        this.snapshotRate = this.stats.snapshots - snapshotsAtSecond;
        snapshotsAtSecond = this.stats.snapshots;
        second = now;
        pingNonce++;
        this.pings.set(pingNonce, now);
        this.queue.push({ Ping: { nonce: pingNonce } });
        if (this.pings.size > 8) this.pings.delete(this.pings.keys().next().value);
      }
      this.timer = setTimeout(tick, Math.max(0, next - this.now()));
    };
    this.timer = setTimeout(tick, 0);
  }

  stopTicking() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One tick: this tick's input, the ack, and whatever was queued. */
  sendTick() {
    if (!this.welcome || !this.ws) return;
    const [dx, dy] = quantizeDirection(this.direction[0], this.direction[1]);
    this.inputSeq++;
    const me = this.view.entity(this.welcome.player);
    const alive = !me || (me.state.flags & Flags.DEAD) === 0;
    this.predictor.input(this.inputSeq, dx, dy, this.welcome.speed_cm_per_tick,
      this.welcome.bounds_cm, alive);
    /** @type {any[]} */
    const frame = [{ Input: { seq: this.inputSeq, dir_x: dx, dir_y: dy } }];
    const ack = this.view.currentId();
    if (ack) frame.push({ Ack: { snapshot_id: ack } });
    while (this.queue.length && frame.length < MAX_MESSAGES_PER_FRAME) frame.push(this.queue.shift());
    this.sendFrame(frame);
  }

  /** @param {any[]} messages */
  sendFrame(messages) {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.ws.send(encodeClientFrame(messages));
  }

  /**
   * The direction to walk, each axis in [−1, 1] (held until changed).
   * @param {number} x
   * @param {number} y
   */
  move(x, y) {
    this.direction = [x, y];
  }

  /**
   * Casts skill `slot` (an index into `welcome.skills`) at a target: `'Caster'`,
   * `{ Entity: netId }` or `{ Point: { x_cm, y_cm } }`.
   * @param {number} slot
   * @param {any} [target]
   * @returns {number} the cast's seq (echoed by `CastRejected`)
   */
  cast(slot, target = 'Caster') {
    this.castSeq++;
    this.queue.push({ Cast: { seq: this.castSeq, slot, target } });
    return this.castSeq;
  }

  respawn() {
    this.queue.push('Respawn');
  }

  /**
   * @param {number} netId a wild creature in view
   * @returns {number} the intent's seq (echoed by `CaptureResult`)
   */
  capture(netId) {
    this.creatureSeq++;
    this.queue.push({ Capture: { seq: this.creatureSeq, target: netId } });
    return this.creatureSeq;
  }

  /**
   * @param {number|bigint} first creature id of the roster
   * @param {number|bigint} second
   * @returns {number} the intent's seq (echoed by `BreedResult`)
   */
  breed(first, second) {
    this.creatureSeq++;
    this.queue.push({ Breed: { seq: this.creatureSeq, first, second } });
    return this.creatureSeq;
  }

  requestRoster() {
    this.queue.push('RosterRequest');
  }

  /**
   * @param {'Say'|'Zone'|'Party'|{Whisper: {to: string}}} channel
   * @param {string} text at most 512 UTF-8 bytes
   */
  chat(channel, text) {
    if (new TextEncoder().encode(text).length > MAX_CHAT_BYTES) {
      throw new ClientError(`chat text over ${MAX_CHAT_BYTES} bytes`);
    }
    this.queue.push({ Chat: { channel, text } });
  }

  /** @param {any} request a SocialRequest, e.g. `'PartyCreate'` or `{ PartyInvite: { name } }` */
  social(request) {
    this.queue.push({ Social: request });
  }

  /**
   * An admin command (honoured only with an admin ticket).
   * @param {any} command
   */
  admin(command) {
    this.adminSeq++;
    this.queue.push({ Admin: { seq: this.adminSeq, command } });
    return this.adminSeq;
  }

  /** Closes the connection for good. */
  close() {
    this.closing = true;
    this.stopTicking();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState('closed');
  }

  /** @param {number} code */
  afterClose(code) {
    if (this.closing) return;
    if (this.redirect) {
      this.followRedirect().catch((e) => this.fail(e));
      return;
    }
    const reason = this.lastKick?.reason;
    if (reason && FATAL_KICKS.has(reason)) {
      this.fail(new ClientError(`kicked: ${reason}: ${this.lastKick?.detail}`, reason));
      return;
    }
    this.reconnect(reason !== undefined && RELOGIN_KICKS.has(reason), code);
  }

  /** Follows a Redirect: the new zone with its ticket, or a fresh login. */
  followRedirect() {
    const r = this.redirect;
    this.redirect = null;
    this.setState('moving');
    if (!r.endpoint) return this.relogin();
    return this.connect(r.endpoint, r.ticket);
  }

  relogin() {
    if (!this.options.orchestrator) {
      return Promise.reject(new ClientError('the zone asks to log in again, and no orchestrator is set'));
    }
    return this.login();
  }

  /**
   * Reconnects after a dropped socket: the same ticket while it lives, else a login.
   * @param {boolean} relogin
   * @param {number} code
   */
  reconnect(relogin, code) {
    const max = this.options.maxReconnects ?? 6;
    if (this.reconnects >= max) {
      this.fail(new ClientError(`connection lost (${code}); gave up after ${max} attempts`));
      return;
    }
    const delay = Math.min(5000, 250 * 2 ** this.reconnects);
    this.reconnects++;
    this.setState('moving');
    this.emit('reconnecting', { attempt: this.reconnects, delay, relogin });
    setTimeout(() => {
      if (this.closing) return;
      const live = this.ticket && this.expiresUnix > Date.now() / 1000 + 1;
      const attempt = relogin || !live ? this.relogin() : this.connect(this.endpoint, this.ticket, this.expiresUnix);
      attempt.catch((/** @type {any} */ e) => {
        if (e instanceof ClientError && e.reason && FATAL_KICKS.has(e.reason)) this.fail(e);
        else this.reconnect(e?.reason === 'TicketExpired' || e?.reason === 'NotOwner', 0);
      });
    }, delay);
  }

  /** @param {Error} e */
  fail(e) {
    this.setState('closed');
    this.emit('closed', e);
  }
}

/**
 * A ticket's expiry (unix seconds) read from its claims, 0 when unreadable. Tickets are
 * `base64url(claims).base64url(tag)`; the claims end with `expires_unix` as a u64 varint.
 * @param {string} ticket
 */
export function ticketExpiry(ticket) {
  try {
    const b64 = ticket.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    // player_id u64, zone_id String, role enum, expires_unix u64.
    const r = new Reader(bytes);
    r.u64();
    r.str();
    r.variant();
    return Number(r.u64());
  } catch {
    return 0;
  }
}
