// index.d.ts describes what the module exports: every class, function and constant it
// declares exists in the JavaScript, and every value the JavaScript exports is declared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as sdk from '../index.js';

test('index.d.ts declares exactly the values the SDK exports', () => {
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const declared = new Set([...dts.matchAll(/^export (?:declare )?(?:class|function|const) (\w+)/gm)].map((m) => m[1]));
  // Codec building blocks (readers, writers, type combinators) are for ports and tools;
  // they stay untyped on purpose.
  const internal = new Set(['Reader', 'Writer', 'u8', 'i8', 'bool', 'u16', 'u32', 'u64', 'i16', 'i32', 'str',
    'vec', 'opt', 'tuple', 'struct', 'enumOf', 'decodeExact', 'encode', 'ClientTier', 'CastTarget',
    'AdminCommand', 'ChatChannel', 'SocialRequest', 'ClientMessage', 'EntityKind', 'EntityUpdate',
    'OwnState', 'Snapshot', 'CreatureView', 'CreatureCatalog', 'Welcome', 'RejectReason',
    'CastRejectReason', 'TelegraphArea', 'CaptureRefusal', 'BreedRefusal', 'ChatRefusal',
    'SocialRefusal', 'SocialEvent', 'EventKind', 'KickReason', 'ServerMessage']);
  for (const name of declared) assert.ok(name in sdk, `index.d.ts declares ${name}, which the SDK does not export`);
  for (const name of Object.keys(sdk)) {
    assert.ok(declared.has(name) || internal.has(name), `the SDK exports ${name}, which index.d.ts does not declare`);
  }
});
