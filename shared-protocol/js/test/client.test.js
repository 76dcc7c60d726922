// The zone client against a scripted server in this process: handshake, inputs with
// acks on the tick, prediction and reconciliation, Redirect, reconnect and relogin.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import {
  ArcaneClient, Interpolator, Predictor, decodeClientFrame, encodeServerMessage, step,
  quantizeDirection, PROTOCOL_VERSION,
} from '../src/index.js';

/** A WebSocket the test drives: it records what the client sends. */
class FakeSocket {
  /** @type {FakeSocket[]} */
  static all = [];
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    /** @type {any[][]} */
    this.sent = [];
    this.binaryType = 'blob';
    FakeSocket.all.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.();
    });
  }
  /** @param {Uint8Array} bytes */
  send(bytes) {
    this.sent.push(decodeClientFrame(bytes));
  }
  /** @param {any} message */
  push(message) {
    const b = encodeServerMessage(message);
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
  }
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  /** @param {string} name */
  sentOf(name) {
    return this.sent.flat().filter((m) => (typeof m === 'string' ? m === name : name in m));
  }
}

const welcome = (zone = 'meadow') => ({
  Welcome: {
    protocol_version: PROTOCOL_VERSION, zone_id: zone, player: 1, tick_rate_hz: 20,
    bounds_cm: [0, 0, 100_000, 100_000], speed_cm_per_tick: 30, content_version: 1,
    skills: ['magic_missile', 'arcane_nova', 'heal'], creatures: { species: [], visible: [] },
  },
});

const player = (x, y, flags = 0) => ({ kind: 'Player', variant: 0, x_cm: x, y_cm: y, hp_pct: 100, flags });

function snapshot(id, tick, baseline, lastInput, enters, updates = [], rate = 100) {
  return { Snapshot: { id, tick, baseline, last_input_seq: lastInput, input_wait: null, time_rate: rate, leaves: [], enters, updates, own: null } };
}

/** A ticket whose claims carry `expires` (the client reads it to decide on reuse). */
function ticket(expires) {
  // player 1, zone "meadow", role Player, expires (u32 varint marker 252).
  const claims = Uint8Array.from([1, 6, ...new TextEncoder().encode('meadow'), 0, 252,
    expires & 0xff, (expires >> 8) & 0xff, (expires >> 16) & 0xff, (expires >>> 24) & 0xff]);
  return `${Buffer.from(claims).toString('base64url')}.tag`;
}

function setup(extra = {}) {
  FakeSocket.all = [];
  mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const logins = [];
  const future = Math.floor(Date.now() / 1000) + 3600;
  const client = new ArcaneClient({
    orchestrator: 'http://orchestrator.test',
    name: 'alice',
    WebSocket: /** @type {any} */ (FakeSocket),
    now: () => clock,
    fetch: /** @type {any} */ (async (url, init) => {
      logins.push({ url, body: JSON.parse(init.body) });
      return {
        ok: true,
        json: async () => ({ player_id: 1, zone_id: 'meadow', endpoint: `ws://zone-${logins.length}.test`, ticket: ticket(future), expires_unix: future, quic_endpoint: '' }),
      };
    }),
    ...extra,
  });
  const advance = (/** @type {number} */ ms) => {
    for (let i = 0; i < ms; i += 10) {
      clock += 10;
      mock.timers.tick(10);
    }
  };
  return { client, logins, advance, future };
}

const flush = () => new Promise((r) => setImmediate(r));

test('login, handshake, inputs on the tick with acks, and prediction reconciled', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, logins, advance } = setup();
  const welcomed = client.login();
  await flush();
  await flush();
  assert.equal(logins[0].url, 'http://orchestrator.test/v1/login');
  assert.deepEqual(logins[0].body, { name: 'alice' });
  const ws = FakeSocket.all[0];
  assert.equal(ws.url, 'ws://zone-1.test');
  assert.equal(ws.binaryType, 'arraybuffer');
  const hello = ws.sent[0][0].Hello;
  assert.equal(hello.protocol_version, PROTOCOL_VERSION);
  assert.equal(hello.tier, 'Desktop');
  ws.push(welcome());
  const w = await welcomed;
  assert.equal(w.zone_id, 'meadow');
  assert.equal(client.state, 'playing');

  ws.push(snapshot(1, 100, 0, 0, [{ local: 0, net_id: 1, state: player(1000, 1000) }]));
  client.move(1, 0);
  advance(100); // two ticks
  const inputs = ws.sentOf('Input');
  assert.ok(inputs.length >= 2, `only ${inputs.length} inputs`);
  assert.deepEqual(inputs.map((m) => m.Input.seq), inputs.map((_, i) => i + 1));
  assert.equal(inputs[0].Input.dir_x, 127);
  assert.deepEqual(ws.sentOf('Ack').at(-1), { Ack: { snapshot_id: 1 } });
  // Predicted ahead of the server by every unapplied input.
  const me = () => client.renderEntities().find((e) => e.own);
  assert.equal(me().x_cm, 1000 + 30 * inputs.length);
  // The server applied the first input only, and moved the player less (a wall).
  ws.push(snapshot(2, 101, 1, 1, [], [{ local: 0, pos_delta: [10, 0], hp_pct: null, flags: null }]));
  assert.equal(me().x_cm, 1010 + 30 * (inputs.length - 1));
  assert.equal(client.predictor.lastCorrectionCm, 20);
  client.close();
});

test('a zone that dilates time slows the input clock to its rate, and back', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, advance } = setup();
  const welcomed = client.login();
  await flush(); await flush();
  const ws = FakeSocket.all[0];
  ws.push(welcome());
  await welcomed;
  ws.push(snapshot(1, 100, 0, 0, [{ local: 0, net_id: 1, state: player(1000, 1000) }]));
  advance(1000);
  const full = ws.sentOf('Input').length;
  assert.ok(full >= 19 && full <= 21, `${full} inputs in a second at full speed`);
  // Half speed: ticks come every 100 ms, so do inputs.
  ws.push(snapshot(2, 101, 1, 0, [], [], 50));
  assert.equal(client.view.timeRate, 0.5);
  advance(1000);
  const half = ws.sentOf('Input').length - full;
  assert.ok(half >= 9 && half <= 11, `${half} inputs in a second at half speed`);
  ws.push(snapshot(3, 102, 2, 0, [], [], 100));
  advance(1000);
  const back = ws.sentOf('Input').length - full - half;
  assert.ok(back >= 19 && back <= 21, `${back} inputs in a second back at full speed`);
  client.close();
});

test('a Redirect moves the client to the new zone with its ticket and fresh sequences', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, advance } = setup();
  const first = client.login();
  await flush(); await flush();
  const ws = FakeSocket.all[0];
  ws.push(welcome());
  await first;
  advance(200);
  const moved = new Promise((resolve) => client.on('welcome', resolve));
  ws.push({ Redirect: { zone_id: 'forest', endpoint: 'ws://forest.test', ticket: 'forest-ticket', quic_endpoint: '' } });
  ws.push({ Kick: { reason: 'Redirected', detail: 'to forest' } });
  ws.close(1008);
  await flush();
  const next = FakeSocket.all[1];
  assert.equal(next.url, 'ws://forest.test');
  assert.equal(next.sent[0][0].Hello.ticket, 'forest-ticket');
  next.push(welcome('forest'));
  assert.equal((await moved).zone_id, 'forest');
  advance(60);
  assert.equal(next.sentOf('Input')[0].Input.seq, 1, 'sequences start over per connection');
  client.close();
});

test('a dropped socket reconnects with the same ticket while it lives', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, logins, advance } = setup();
  const first = client.login();
  await flush(); await flush();
  FakeSocket.all[0].push(welcome());
  await first;
  const ticketUsed = FakeSocket.all[0].sent[0][0].Hello.ticket;
  FakeSocket.all[0].close(1006);
  assert.equal(client.state, 'moving');
  advance(300);
  await flush();
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(FakeSocket.all[1].url, 'ws://zone-1.test');
  assert.equal(FakeSocket.all[1].sent[0][0].Hello.ticket, ticketUsed);
  assert.equal(logins.length, 1, 'no new login');
  client.close();
});

test('an expired ticket logs in again; a duplicate login ends the session for good', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, logins, advance } = setup();
  const first = client.login();
  await flush(); await flush();
  FakeSocket.all[0].push(welcome());
  await first;
  FakeSocket.all[0].push({ Kick: { reason: 'TicketExpired', detail: 'expired' } });
  FakeSocket.all[0].close(1008);
  advance(300);
  await flush(); await flush();
  assert.equal(logins.length, 2);
  assert.equal(FakeSocket.all[1].url, 'ws://zone-2.test');
  FakeSocket.all[1].push(welcome());
  await flush();
  const closed = new Promise((resolve) => client.on('closed', resolve));
  FakeSocket.all[1].push({ Kick: { reason: 'DuplicateLogin', detail: 'newer connection' } });
  FakeSocket.all[1].close(1008);
  const err = await closed;
  assert.equal(err.reason, 'DuplicateLogin');
  advance(10_000);
  assert.equal(FakeSocket.all.length, 2, 'no reconnect after a fatal kick');
  assert.equal(client.state, 'closed');
});

test('a refused handshake rejects the connect with the kick reason', async (t) => {
  t.after(() => mock.timers.reset());
  const { client } = setup();
  const p = client.connect('ws://zone.test', 'bad');
  await flush();
  FakeSocket.all[0].push({ Kick: { reason: 'BadTicket', detail: 'signature' } });
  FakeSocket.all[0].close(1008);
  await assert.rejects(p, (e) => e.reason === 'BadTicket');
});

test('casts, chat and social requests ride the next tick frame', async (t) => {
  t.after(() => mock.timers.reset());
  const { client, advance } = setup();
  const p = client.connect('ws://zone.test', 'ticket');
  await flush();
  const ws = FakeSocket.all[0];
  ws.push(welcome());
  await p;
  assert.equal(client.cast(0, { Entity: 40 }), 1);
  client.chat({ Whisper: { to: 'bob' } }, 'hi');
  client.social({ PartyInvite: { name: 'bob' } });
  client.respawn();
  advance(60);
  const frame = ws.sent.find((f) => f.some((m) => typeof m === 'object' && 'Cast' in m));
  assert.ok(frame.length <= 16);
  assert.deepEqual(frame.slice(1), [
    { Cast: { seq: 1, slot: 0, target: { Entity: 40 } } },
    { Chat: { channel: { Whisper: { to: 'bob' } }, text: 'hi' } },
    { Social: { PartyInvite: { name: 'bob' } } },
    'Respawn',
  ]);
  assert.throws(() => client.chat('Say', 'x'.repeat(513)));
  client.close();
});

test('movement prediction follows the zone rule: clamped direction, bounds', () => {
  const pos = { x: 0, y: 0 };
  step(pos, 127, 127, 30, [0, 0, 1000, 1000]);
  assert.ok(Math.abs(pos.x - 30 / Math.SQRT2) < 1e-9);
  step(pos, -127, 0, 30, [0, 0, 1000, 1000]);
  assert.equal(pos.x, 0, 'clamped at the bound');
  assert.deepEqual(quantizeDirection(2, -0.5), [127, -64]);
  assert.deepEqual(quantizeDirection(NaN, -1), [0, -127]);
  const p = new Predictor();
  p.reconcile(0, 0, 0, 30, [0, 0, 1e6, 1e6], true);
  p.input(1, 127, 0, 30, [0, 0, 1e6, 1e6], true);
  p.input(2, 127, 0, 30, [0, 0, 1e6, 1e6], true);
  assert.equal(p.pos.x, 60);
  p.reconcile(30, 0, 1, 30, [0, 0, 1e6, 1e6], true);
  assert.equal(p.pos.x, 60);
  assert.equal(p.pending.length, 1);
  p.reconcile(0, 0, 1, 30, [0, 0, 1e6, 1e6], false);
  assert.equal(p.pos.x, 0, 'the dead do not move');
});

test('interpolation draws between the samples around the render tick', () => {
  const i = new Interpolator();
  i.push(10, [{ net_id: 5, state: { x_cm: 0, y_cm: 0 } }]);
  i.push(12, [{ net_id: 5, state: { x_cm: 200, y_cm: -100 } }]);
  assert.deepEqual(i.at(5, 11), { x: 100, y: -50 });
  assert.deepEqual(i.at(5, 9), { x: 0, y: 0 });
  assert.deepEqual(i.at(5, 20), { x: 200, y: -100 });
  i.push(13, []);
  assert.equal(i.at(5, 12), null, 'forgotten once out of view');
});
