// Every message of protocol version 8, as codecs (see codec.js for the value shapes).
// The tables mirror PROTOCOL.md; the order of variants and fields is the wire format.

import {
  CodecError, Reader, Writer, bool, decodeExact, enumOf, i8, i16, i32, opt, str, struct,
  tuple, u8, u16, u32, u64, vec,
} from './codec.js';

/** The protocol version this SDK speaks (`Hello.protocol_version`). */
export const PROTOCOL_VERSION = 8;
/** Largest client frame a zone accepts, in bytes. */
export const MAX_CLIENT_FRAME = 4096;
/** Largest server frame a client accepts, in bytes. */
export const MAX_SERVER_FRAME = 256 * 1024;
/** Most messages in one client frame. */
export const MAX_MESSAGES_PER_FRAME = 16;
/** Longest chat text, in UTF-8 bytes. */
export const MAX_CHAT_BYTES = 512;

const netId = u32;
const creatureId = u64;

export const ClientTier = enumOf([['Mobile'], ['Desktop']]);

export const CastTarget = enumOf([
  ['Caster'],
  ['Entity', netId],
  ['Point', struct([['x_cm', i32], ['y_cm', i32]])],
]);

export const AdminCommand = enumOf([
  ['SpawnEnemy', struct([['enemy', str], ['x_cm', i32], ['y_cm', i32]])],
  ['ResetArea'],
  ['SetHp', struct([['target', netId], ['hp', u32]])],
  ['Teleport', struct([['target', netId], ['x_cm', i32], ['y_cm', i32]])],
  ['SetInvulnerable', struct([['target', netId], ['on', bool]])],
  ['SpawnCreature', struct([
    ['species', str], ['x_cm', i32], ['y_cm', i32], ['genes', vec(tuple(str, str))],
  ])],
  ['SetCellPopulation', struct([['species', str], ['x_cm', i32], ['y_cm', i32], ['count', u32]])],
  ['ShowCreature', struct([['target', netId], ['creature', creatureId]])],
  ['ShowCells', struct([['x_cm', i32], ['y_cm', i32], ['radius_m', u32]])],
]);

export const ChatChannel = enumOf([
  ['Say'], ['Zone'], ['Party'], ['Whisper', struct([['to', str]])],
]);

const named = struct([['name', str]]);
const party = struct([['party', str]]);
export const SocialRequest = enumOf([
  ['Status'], ['PartyCreate'], ['PartyInvite', named], ['PartyAccept', party],
  ['PartyDecline', party], ['PartyLeave'], ['PartyKick', named], ['PartyPromote', named],
  ['FriendAdd', named], ['FriendRemove', named], ['Block', named], ['Unblock', named],
  ['Mute', named], ['Unmute', named],
]);

export const ClientMessage = enumOf([
  ['Hello', struct([['protocol_version', u16], ['ticket', str], ['tier', ClientTier]])],
  ['Input', struct([['seq', u32], ['dir_x', i8], ['dir_y', i8]])],
  ['Ack', struct([['snapshot_id', u32]])],
  ['Ping', struct([['nonce', u64]])],
  ['Cast', struct([['seq', u32], ['slot', u8], ['target', CastTarget]])],
  ['Respawn'],
  ['Admin', struct([['seq', u32], ['command', AdminCommand]])],
  ['Capture', struct([['seq', u32], ['target', netId]])],
  ['Breed', struct([['seq', u32], ['first', creatureId], ['second', creatureId]])],
  ['RosterRequest'],
  ['Chat', struct([['channel', ChatChannel], ['text', str]])],
  ['Social', SocialRequest],
]);

export const EntityKind = enumOf([['Player'], ['Npc'], ['Enemy'], ['Projectile'], ['Creature']]);

/** Bits of `EntityState.flags`. */
export const Flags = Object.freeze({
  DEAD: 1, INVULNERABLE: 2, CASTING: 4, WINDUP: 8, RECOVERING: 16,
});

const EntityState = struct([
  ['kind', EntityKind], ['variant', u16], ['x_cm', i32], ['y_cm', i32], ['hp_pct', u8],
  ['flags', u8],
]);
const EntityEnter = struct([['local', u16], ['net_id', netId], ['state', EntityState]]);

const FIELD_POSITION = 1;
const FIELD_HP = 2;
const FIELD_FLAGS = 4;
const FIELD_VELOCITY = 8;
const FIELD_KNOWN = FIELD_POSITION | FIELD_HP | FIELD_FLAGS | FIELD_VELOCITY;
/** The largest local id an update can name (one byte). */
const MAX_LOCAL = 249;
const FORM_NUDGE = 0x80;
const FORM_RESIDUAL = 0x40;
const isNudge = (/** @type {number} */ d) => d >= -4 && d <= 3;

/**
 * `EntityUpdate`, hand-encoded (PROTOCOL.md "EntityUpdate"): the local id in one
 * byte, then a form byte: `0b10xx_xyyy` a nudge (position residual, x + 4 and y + 4),
 * `0x40` a position residual as two varints, else a field mask followed by each
 * field whose bit is set (position residual, HP, flags, velocity).
 */
export const EntityUpdate = {
  /** @param {Reader} r */
  dec(r) {
    const local = r.u8();
    if (local > MAX_LOCAL) throw new CodecError('update local id out of range');
    const form = r.u8();
    /** @type {{local: number, pos_delta: [number, number]|null, hp_pct: number|null, flags: number|null, vel: [number, number]|null}} */
    const u = { local, pos_delta: null, hp_pct: null, flags: null, vel: null };
    if (form & FORM_NUDGE) {
      if (form & FORM_RESIDUAL) throw new CodecError('unknown update form');
      u.pos_delta = [((form >> 3) & 7) - 4, (form & 7) - 4];
      return u;
    }
    if (form === FORM_RESIDUAL) {
      u.pos_delta = [r.i32(), r.i32()];
      return u;
    }
    const mask = form;
    if (mask & ~FIELD_KNOWN) throw new CodecError('unknown update field bits');
    if (mask === 0) throw new CodecError('update with no fields');
    if (mask & FIELD_POSITION) u.pos_delta = [r.i32(), r.i32()];
    if (mask & FIELD_HP) u.hp_pct = r.u8();
    if (mask & FIELD_FLAGS) u.flags = r.u8();
    if (mask & FIELD_VELOCITY) u.vel = [r.i32(), r.i32()];
    return u;
  },
  /**
   * @param {Writer} w
   * @param {{local: number, pos_delta: [number, number]|null, hp_pct: number|null, flags: number|null, vel?: [number, number]|null}} v
   */
  enc(w, v) {
    const mask = (v.pos_delta != null ? FIELD_POSITION : 0) | (v.hp_pct != null ? FIELD_HP : 0)
      | (v.flags != null ? FIELD_FLAGS : 0) | (v.vel != null ? FIELD_VELOCITY : 0);
    if (mask === 0) throw new CodecError('update with no fields');
    if (!(v.local >= 0 && v.local <= MAX_LOCAL)) throw new CodecError('update local id over 249');
    w.u8(v.local);
    if (mask === FIELD_POSITION && v.pos_delta != null) {
      const [dx, dy] = v.pos_delta;
      if (isNudge(dx) && isNudge(dy)) {
        w.u8(FORM_NUDGE | ((dx + 4) << 3) | (dy + 4));
      } else {
        w.u8(FORM_RESIDUAL);
        w.i32(dx);
        w.i32(dy);
      }
      return;
    }
    w.u8(mask);
    if (v.pos_delta != null) {
      w.i32(v.pos_delta[0]);
      w.i32(v.pos_delta[1]);
    }
    if (v.hp_pct != null) w.u8(v.hp_pct);
    if (v.flags != null) w.u8(v.flags);
    if (v.vel != null) {
      w.i32(v.vel[0]);
      w.i32(v.vel[1]);
    }
  },
};

export const OwnState = struct([
  ['hp', u32], ['max_hp', u32], ['mana', u32], ['max_mana', u32], ['ready_tick', vec(u32)],
  ['gcd_ready_tick', u32], ['casting', opt(tuple(u8, u32))], ['respawn_tick', opt(u32)],
  ['invulnerable_until', u32],
]);

export const Snapshot = struct([
  ['id', u32], ['tick', u32], ['baseline', u32], ['last_input_seq', u32],
  ['input_wait', opt(struct([['seq_back', u8], ['wait_100us', u16]]))], ['time_rate', u8],
  ['leaves', vec(u16)], ['enters', vec(EntityEnter)], ['updates', vec(EntityUpdate)],
  ['own', opt(OwnState)],
]);

const TraitView = struct([['gene', str], ['value', str]]);
export const CreatureView = struct([
  ['id', creatureId], ['species', str], ['generation', u16],
  ['parents', opt(tuple(creatureId, creatureId))], ['gene_version', u16],
  ['traits', vec(TraitView)], ['hatch_tick', opt(u32)], ['breed_ready_tick', u32],
]);
export const CreatureCatalog = struct([
  ['species', vec(str)], ['visible', vec(tuple(str, vec(str)))],
]);

export const Welcome = struct([
  ['protocol_version', u16], ['zone_id', str], ['player', netId], ['tick_rate_hz', u16],
  ['bounds_cm', tuple(i32, i32, i32, i32)], ['speed_cm_per_tick', u32],
  ['content_version', u64], ['skills', vec(str)], ['creatures', CreatureCatalog],
]);

export const RejectReason = enumOf([['InvalidDirection'], ['StaleSequence'], ['Flood']]);
export const CastRejectReason = enumOf([
  ['UnknownSkill'], ['Dead'], ['Cooldown'], ['GlobalCooldown'], ['NotEnoughMana'],
  ['OutOfRange'], ['InvalidTarget'], ['NoLineOfSight'], ['AlreadyCasting'],
  ['StaleSequence'], ['Flood'],
]);
export const TelegraphArea = enumOf([
  ['Circle', struct([['radius_cm', u32]])],
  ['Cone', struct([['length_cm', u32], ['angle_decideg', u16]])],
  ['Line', struct([['length_cm', u32], ['width_cm', u32]])],
]);
const Telegraph = struct([
  ['area', TelegraphArea], ['x_cm', i32], ['y_cm', i32], ['facing_mrad', i16],
]);
export const CaptureRefusal = enumOf([
  ['NotACreature'], ['Dead'], ['OutOfRange'], ['NoLineOfSight'], ['TooHealthy'],
  ['Cooldown'], ['RosterFull'], ['StaleSequence'],
]);
const CaptureOutcome = enumOf([
  ['Captured', struct([['creature', creatureId]])], ['Escaped'], ['Refused', CaptureRefusal],
]);
export const BreedRefusal = enumOf([
  ['NotOwned'], ['SameCreature'], ['Incompatible'], ['Cooldown'], ['RosterFull'],
  ['Lineage'], ['Dead'], ['StaleSequence'],
]);
const BreedOutcome = enumOf([
  ['EggLaid', struct([['egg', creatureId], ['hatch_tick', u32]])], ['Refused', BreedRefusal],
]);
export const ChatRefusal = enumOf([
  ['Empty'], ['TooLong'], ['RateLimited'], ['Muted'], ['UnknownPlayer'], ['Blocked'],
  ['NoParty'], ['Unavailable'], ['InvalidText'],
]);
export const SocialRefusal = enumOf([
  ['UnknownPlayer'], ['Yourself'], ['Blocked'], ['PartyFull'], ['NotInParty'],
  ['AlreadyInParty'], ['NotLeader'], ['NoInvite'], ['NotMember'], ['ListFull'],
  ['Unavailable'], ['RateLimited'],
]);
const PartyMember = struct([
  ['player_id', u64], ['name', str], ['leader', bool], ['zone', str], ['hp', u32],
  ['max_hp', u32],
]);
const PartyView = struct([['id', str], ['members', vec(PartyMember)]]);
const FriendView = struct([['name', str], ['zone', str]]);
export const SocialEvent = enumOf([
  ['Done', struct([['request', str], ['detail', str]])],
  ['Refused', struct([['request', str], ['reason', SocialRefusal], ['detail', str]])],
  ['Invited', struct([['party', str], ['from', str]])],
  ['Party', opt(PartyView)],
  ['Presence', struct([['name', str], ['zone', str]])],
  ['Lists', struct([['friends', vec(FriendView)], ['blocked', vec(str)], ['muted', vec(str)]])],
]);

export const EventKind = enumOf([
  ['InputRejected', struct([['seq', u32], ['reason', RejectReason]])],
  ['Notice', struct([['text', str]])],
  ['CastRejected', struct([['seq', u32], ['slot', u8], ['reason', CastRejectReason]])],
  ['CastStarted', struct([['caster', netId], ['slot', u8], ['cast_ticks', u16]])],
  ['CastInterrupted', struct([['caster', netId], ['slot', u8]])],
  ['ProjectileSpawned', struct([['projectile', netId], ['caster', netId], ['slot', u8]])],
  ['Damage', struct([['source', netId], ['target', netId], ['amount', u32], ['slot', opt(u8)]])],
  ['Healed', struct([['source', netId], ['target', netId], ['amount', u32]])],
  ['Died', struct([['entity', netId], ['killer', opt(netId)]])],
  ['Respawned', struct([['entity', netId]])],
  ['Telegraph', struct([['enemy', netId], ['telegraph', Telegraph], ['windup_ticks', u16]])],
  ['AdminResult', struct([['seq', u32], ['ok', bool], ['detail', str]])],
  ['CaptureResult', struct([['seq', u32], ['target', netId], ['outcome', CaptureOutcome]])],
  ['BreedResult', struct([['seq', u32], ['outcome', BreedOutcome]])],
  ['Roster', struct([['capacity', u16], ['creatures', vec(CreatureView)]])],
  ['RosterEntry', struct([['creature', CreatureView]])],
  ['Chat', struct([['channel', ChatChannel], ['from_id', u64], ['from', str], ['text', str]])],
  ['ChatRefused', struct([['reason', ChatRefusal], ['detail', str]])],
  ['Social', SocialEvent],
]);

const ReliableEvent = struct([['tick', u32], ['kind', EventKind]]);

export const KickReason = enumOf([
  ['VersionMismatch'], ['BadTicket'], ['TicketExpired'], ['WrongZone'], ['HandshakeFailed'],
  ['MalformedPackets'], ['TooManyViolations'], ['SlowClient'], ['Timeout'],
  ['DuplicateLogin'], ['ZoneFull'], ['ServerShutdown'], ['Redirected'], ['NotOwner'],
  ['Moderator'],
]);

export const ServerMessage = enumOf([
  ['Welcome', Welcome],
  ['Snapshot', Snapshot],
  ['Events', vec(ReliableEvent)],
  ['Kick', struct([['reason', KickReason], ['detail', str]])],
  ['Pong', struct([['nonce', u64], ['tick', u32]])],
  ['Redirect', struct([
    ['zone_id', str], ['endpoint', str], ['ticket', str], ['quic_endpoint', str],
  ])],
]);

const ClientFrame = vec(ClientMessage);

/**
 * Encodes a client frame: a batch of 1 to 16 client messages.
 * @param {any[]} messages
 * @returns {Uint8Array}
 */
export function encodeClientFrame(messages) {
  if (messages.length === 0) throw new CodecError('frame carries no message');
  if (messages.length > MAX_MESSAGES_PER_FRAME) {
    throw new CodecError(`frame batches ${messages.length} messages, more than the limit`);
  }
  const w = new Writer(32);
  ClientFrame.enc(w, messages);
  if (w.pos > MAX_CLIENT_FRAME) {
    throw new CodecError(`frame of ${w.pos} bytes exceeds the ${MAX_CLIENT_FRAME} byte limit`);
  }
  return w.finish();
}

/**
 * Decodes a client frame (what a zone does; for tests and tools).
 * @param {Uint8Array} bytes
 * @returns {any[]}
 */
export function decodeClientFrame(bytes) {
  const messages = decodeExact(ClientFrame, bytes, MAX_CLIENT_FRAME);
  if (messages.length === 0) throw new CodecError('frame carries no message');
  if (messages.length > MAX_MESSAGES_PER_FRAME) {
    throw new CodecError(`frame batches ${messages.length} messages, more than the limit`);
  }
  return messages;
}

/**
 * Decodes one server message. Throws only `CodecError`.
 * @param {Uint8Array} bytes
 * @returns {any}
 */
export function decodeServerMessage(bytes) {
  return decodeExact(ServerMessage, bytes, MAX_SERVER_FRAME);
}

/**
 * Encodes one server message (for tests, tools and mock servers).
 * @param {any} message
 * @returns {Uint8Array}
 */
export function encodeServerMessage(message) {
  const w = new Writer(64);
  ServerMessage.enc(w, message);
  return w.finish();
}

/**
 * Unpacks a creature entity's `variant`: species index, and the expressed allele of
 * the first and second visible gene (`Welcome.creatures`).
 * @param {number} variant
 */
export function creatureVariant(variant) {
  return { species: variant & 0xff, visible: [(variant >> 8) & 0xf, (variant >> 12) & 0xf] };
}
