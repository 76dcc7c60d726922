// The conformance vectors the Rust side writes (shared-protocol/vectors/): every frame
// decodes to its value and encodes back to the same bytes, the snapshot sequence yields
// the recorded views, and every malformed frame is refused with a CodecError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CodecError, ClientView, PROTOCOL_VERSION, decodeClientFrame, decodeServerMessage,
  encodeClientFrame, encodeServerMessage, ticketExpiry,
} from '../src/index.js';

const vectors = JSON.parse(readFileSync(
  new URL(`../../vectors/v${PROTOCOL_VERSION}.json`, import.meta.url), 'utf8'));

const unhex = (/** @type {string} */ h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const hex = (/** @type {Uint8Array} */ b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
/** BigInts as the vectors write them: decimal strings. */
const plain = (/** @type {any} */ v) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x)));
/** The vectors' decimal strings back to BigInts where a u64 is expected. */
const revive = (/** @type {any} */ v) => JSON.parse(JSON.stringify(v), (_, x) => (typeof x === 'string' && /^\d{16,}$/.test(x) ? BigInt(x) : x));

test('the vectors are of the protocol version this SDK speaks', () => {
  assert.equal(vectors.protocol_version, PROTOCOL_VERSION);
  assert.ok(vectors.frames.length > 100);
});

test('every frame decodes to its value and re-encodes to the same bytes', () => {
  for (const f of vectors.frames) {
    const bytes = unhex(f.hex);
    if (f.direction === 'client') {
      const messages = decodeClientFrame(bytes);
      assert.deepEqual(plain(messages), f.value, f.name);
      assert.equal(hex(encodeClientFrame(messages)), f.hex, `${f.name} re-encoded`);
      assert.equal(hex(encodeClientFrame(revive(f.value))), f.hex, `${f.name} from its value`);
    } else {
      const message = decodeServerMessage(bytes);
      assert.deepEqual(plain(message), f.value, f.name);
      assert.equal(hex(encodeServerMessage(message)), f.hex, `${f.name} re-encoded`);
      assert.equal(hex(encodeServerMessage(revive(f.value))), f.hex, `${f.name} from its value`);
    }
  }
});

test('the snapshot sequence yields the recorded views', () => {
  const byName = new Map(vectors.frames.map((/** @type {any} */ f) => [f.name, f]));
  const view = new ClientView();
  for (const step of vectors.views) {
    const snapshot = decodeServerMessage(unhex(byName.get(step.snapshot).hex)).Snapshot;
    view.apply(snapshot);
    const got = {
      id: view.currentId(),
      tick: view.tick,
      last_input_seq: view.lastInputSeq,
      entities: [...view.entities().values()].sort((a, b) => a.local - b.local),
      own: view.own(),
    };
    assert.deepEqual(plain(got), step.view, step.snapshot);
  }
});

test('every malformed frame is refused with a CodecError', () => {
  for (const m of vectors.malformed) {
    const decode = m.direction === 'client' ? decodeClientFrame : decodeServerMessage;
    assert.throws(() => decode(unhex(m.hex)), CodecError, m.name);
  }
});

test('a ticket tells its expiry', () => {
  assert.equal(ticketExpiry(vectors.ticket.text), vectors.ticket.claims.expires_unix);
  assert.equal(ticketExpiry('not a ticket'), 0);
});

test('mutated and truncated frames never throw anything but a CodecError', () => {
  // A fixed-seed generator: the same cases on every run.
  let seed = 0x2545f491;
  const rand = (/** @type {number} */ n) => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  let refused = 0;
  for (const f of vectors.frames) {
    const bytes = unhex(f.hex);
    const decode = f.direction === 'client' ? decodeClientFrame : decodeServerMessage;
    for (let i = 0; i < 60; i++) {
      const b = bytes.slice(0, i % 3 === 0 ? rand(bytes.length + 1) : bytes.length);
      for (let k = 0; k < 1 + rand(3) && b.length; k++) b[rand(b.length)] = rand(256);
      try {
        decode(b);
      } catch (e) {
        assert.ok(e instanceof CodecError, `${f.name}: ${e}`);
        refused++;
      }
    }
  }
  assert.ok(refused > 1000, `only ${refused} mutations were refused`);
});
