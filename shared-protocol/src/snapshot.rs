//! The delta snapshot format (its encoder is `sender.rs`).
//!
//! A client's view is a set of entities, each under a small per-client `LocalId`
//! (so ids take one byte on the wire). A snapshot turns the state of a baseline snapshot
//! the client acknowledged into the current state: `leaves`, then `enters` (full state),
//! then `updates` (only changed fields; positions as centimetre deltas). With no usable
//! baseline the snapshot is full (`baseline == 0`). Unchanged entities cost zero bytes.
//! `PROTOCOL.md` documents the bytes.

use bincode::de::{Decode, Decoder};
use bincode::enc::write::Writer as _;
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};
use serde::{Deserialize, Serialize};

use crate::wire::StackBytes;

/// Zone-wide replicated id of an entity; stable for the entity's life in the zone.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    bincode::Encode,
    bincode::Decode,
    Serialize,
    Deserialize,
)]
pub struct NetId(pub u32);

/// Per-client slot of a visible entity (0..=249 keeps it at one byte).
pub type LocalId = u16;

/// What an entity is, so a client knows how to draw it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    bincode::Encode,
    bincode::Decode,
    Serialize,
    Deserialize,
)]
pub enum EntityKind {
    Player,
    /// Wildlife: wanders, cannot be fought.
    Npc,
    /// `EntityState::variant` is the index of its type in the zone's enemy list.
    Enemy,
    /// `EntityState::variant` is the caster's skill slot that launched it.
    Projectile,
    /// A wild creature: `EntityState::variant` packs its species and visible traits
    /// (`creatures::variant`).
    Creature,
}

/// Bits of `EntityState::flags`.
pub mod flags {
    pub const DEAD: u8 = 1 << 0;
    pub const INVULNERABLE: u8 = 1 << 1;
    /// A player casting a skill with a cast time.
    pub const CASTING: u8 = 1 << 2;
    /// An enemy winding up an attack (its telegraph is out).
    pub const WINDUP: u8 = 1 << 3;
    /// An enemy in its recovery window after an attack.
    pub const RECOVERING: u8 = 1 << 4;
}

/// The replicated, quantized state of one entity.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    bincode::Encode,
    bincode::Decode,
    Serialize,
    Deserialize,
)]
pub struct EntityState {
    pub kind: EntityKind,
    /// Sub-type, by kind (see `EntityKind`); 0 when unused.
    pub variant: u16,
    /// Position in centimetres (see `quant`).
    pub x_cm: i32,
    pub y_cm: i32,
    /// HP as a percentage of the maximum, rounded up (so only the dead show 0).
    pub hp_pct: u8,
    /// `flags::*` bits.
    pub flags: u8,
}

/// An entity entering the client's view, with its full state.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode, Serialize, Deserialize)]
pub struct EntityEnter {
    pub local: LocalId,
    pub net_id: NetId,
    pub state: EntityState,
}

/// Changed fields of an entity already in view. `None` means unchanged.
///
/// Positions are dead-reckoned: an entity in view carries a velocity (centimetres per
/// tick, see [`ViewEntity::vel`]), and between the baseline and this snapshot it moves
/// by that velocity times the ticks between them. `pos_delta` is what is left over
/// (the residual); an entity that moved exactly as extrapolated is not listed at all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EntityUpdate {
    pub local: LocalId,
    /// Position residual in centimetres against the extrapolated position.
    pub pos_delta: Option<(i32, i32)>,
    pub hp_pct: Option<u8>,
    pub flags: Option<u8>,
    /// The entity's new velocity in centimetres per tick.
    pub vel: Option<(i32, i32)>,
}

/// Field mask bits of an `EntityUpdate` (written when it is neither a nudge nor a
/// residual alone).
pub mod field {
    pub const POSITION: u8 = 1 << 0;
    pub const HP: u8 = 1 << 1;
    pub const FLAGS: u8 = 1 << 2;
    pub const VELOCITY: u8 = 1 << 3;
    /// Every bit a decoder of this protocol version understands.
    pub const KNOWN: u8 = POSITION | HP | FLAGS | VELOCITY;
}

/// The largest local id (one byte on the wire, with room for nothing else).
pub const MAX_LOCAL: LocalId = 249;

/// A position residual both of whose axes lie in this range travels as a *nudge*:
/// one byte for both.
pub const NUDGE: std::ops::RangeInclusive<i32> = -4..=3;

/// Second byte of an update: a nudge (`0b10xx_xyyy`), a position residual in two
/// varints (`0b0100_0000`), or a field mask (`0b00mm_mmmm`, non-zero).
const FORM_NUDGE: u8 = 0b1000_0000;
const FORM_RESIDUAL: u8 = 0b0100_0000;

impl EntityUpdate {
    fn mask(&self) -> u8 {
        let mut m = 0;
        if self.pos_delta.is_some() {
            m |= field::POSITION;
        }
        if self.hp_pct.is_some() {
            m |= field::HP;
        }
        if self.flags.is_some() {
            m |= field::FLAGS;
        }
        if self.vel.is_some() {
            m |= field::VELOCITY;
        }
        m
    }
}

// Wire form: the local id in one byte (0..=249), then one byte that says what
// follows. A position residual alone, both axes in -4..=3, is a nudge: that byte is
// `0b10xx_xyyy` (x + 4, y + 4) and the update is 2 bytes, the common case for a
// moving entity off its extrapolation by rounding. A position residual alone
// otherwise: `0b0100_0000`, then the two residuals as varints. Anything else: the
// field mask (`field::*`, non-zero), then each field whose bit is set, in bit order.
impl EntityUpdate {
    /// The most bytes one update takes: local 1, form 1, two residuals ≤ 5 each, HP 1,
    /// flags 1, two velocities ≤ 5 each.
    const MAX_BYTES: usize = 24;

    /// Appends this update's wire form (see above) to `out`. The local id must be at
    /// most [`MAX_LOCAL`] (`encode_updates` checks).
    #[inline]
    fn write_to<const N: usize>(&self, out: &mut StackBytes<N>) {
        out.u8(self.local as u8);
        let mask = self.mask();
        if mask == field::POSITION
            && let Some((dx, dy)) = self.pos_delta
        {
            if NUDGE.contains(&dx) && NUDGE.contains(&dy) {
                out.u8(FORM_NUDGE | (((dx + 4) as u8) << 3) | (dy + 4) as u8);
            } else {
                out.u8(FORM_RESIDUAL);
                out.i32(dx);
                out.i32(dy);
            }
            return;
        }
        out.u8(mask);
        if let Some((dx, dy)) = self.pos_delta {
            out.i32(dx);
            out.i32(dy);
        }
        if let Some(hp) = self.hp_pct {
            out.u8(hp);
        }
        if let Some(f) = self.flags {
            out.u8(f);
        }
        if let Some((vx, vy)) = self.vel {
            out.i32(vx);
            out.i32(vy);
        }
    }
}

impl EntityUpdate {
    /// Why this update has no wire form, if it has none.
    fn unencodable(&self) -> Option<&'static str> {
        if self.local > MAX_LOCAL {
            Some("update local id over 249")
        } else if self.mask() == 0 {
            Some("update with no fields")
        } else {
            None
        }
    }
}

impl Encode for EntityUpdate {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        if let Some(why) = self.unencodable() {
            return Err(EncodeError::Other(why));
        }
        let mut out = StackBytes::<{ EntityUpdate::MAX_BYTES }>::new();
        self.write_to(&mut out);
        encoder.writer().write(out.as_slice())
    }
}

/// A snapshot's updates as bincode writes a `Vec` (a `u64` length, then each item),
/// batched: a snapshot holds dozens of updates per client per tick, and bincode's
/// writer costs a call and a capacity check per field. The bytes are bincode's own
/// (`StackBytes` is tested against it, and the properties test decodes them).
fn encode_updates<E: Encoder>(
    updates: &[EntityUpdate],
    encoder: &mut E,
) -> Result<(), EncodeError> {
    (updates.len() as u64).encode(encoder)?;
    let mut chunk = StackBytes::<512>::new();
    for update in updates {
        if let Some(why) = update.unencodable() {
            return Err(EncodeError::Other(why));
        }
        if chunk.room() < EntityUpdate::MAX_BYTES {
            encoder.writer().write(chunk.as_slice())?;
            chunk.clear();
        }
        update.write_to(&mut chunk);
    }
    encoder.writer().write(chunk.as_slice())
}

impl<C> Decode<C> for EntityUpdate {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let local = LocalId::from(u8::decode(decoder)?);
        if local > MAX_LOCAL {
            return Err(DecodeError::Other("update local id out of range"));
        }
        let form = u8::decode(decoder)?;
        let mut update = EntityUpdate {
            local,
            ..EntityUpdate::default()
        };
        if form & FORM_NUDGE != 0 {
            if form & FORM_RESIDUAL != 0 {
                return Err(DecodeError::Other("unknown update form"));
            }
            let axis = |bits: u8| i32::from(bits & 0b111) - 4;
            update.pos_delta = Some((axis(form >> 3), axis(form)));
            return Ok(update);
        }
        if form == FORM_RESIDUAL {
            update.pos_delta = Some((i32::decode(decoder)?, i32::decode(decoder)?));
            return Ok(update);
        }
        let mask = form;
        if mask & !field::KNOWN != 0 {
            return Err(DecodeError::Other("unknown update field bits"));
        }
        if mask == 0 {
            return Err(DecodeError::Other("update with no fields"));
        }
        if mask & field::POSITION != 0 {
            update.pos_delta = Some((i32::decode(decoder)?, i32::decode(decoder)?));
        }
        if mask & field::HP != 0 {
            update.hp_pct = Some(u8::decode(decoder)?);
        }
        if mask & field::FLAGS != 0 {
            update.flags = Some(u8::decode(decoder)?);
        }
        if mask & field::VELOCITY != 0 {
            update.vel = Some((i32::decode(decoder)?, i32::decode(decoder)?));
        }
        Ok(update)
    }
}
bincode::impl_borrow_decode!(EntityUpdate);

/// The receiving player's own vital state: exact HP and mana and when each skill slot
/// is ready. Sent only when it differs from the baseline's (times are absolute ticks,
/// so a cooldown counting down does not change it).
#[derive(
    Debug, Default, PartialEq, Eq, bincode::Encode, bincode::Decode, Serialize, Deserialize,
)]
pub struct OwnState {
    pub hp: u32,
    pub max_hp: u32,
    /// Whole points (rounded down).
    pub mana: u32,
    pub max_mana: u32,
    /// Per skill slot: the tick from which it may be cast again.
    pub ready_tick: Vec<u32>,
    /// The tick from which any cast may start (global cooldown).
    pub gcd_ready_tick: u32,
    /// The slot being cast and the tick it completes, during a cast time.
    pub casting: Option<(u8, u32)>,
    /// While dead: the tick from which a respawn request is honoured.
    pub respawn_tick: Option<u32>,
    /// Invulnerable until this tick (`u32::MAX`: until turned off).
    pub invulnerable_until: u32,
}

/// By hand for `clone_from`: the sender keeps every client's last own state and
/// overwrites it each tick, and the derived one would allocate a new `ready_tick`
/// each time (an allocation and a free per client per tick).
impl Clone for OwnState {
    fn clone(&self) -> Self {
        let mut out = OwnState::default();
        out.clone_from(self);
        out
    }

    fn clone_from(&mut self, source: &Self) {
        // Destructured, so a new field cannot be forgotten here.
        let OwnState {
            hp,
            max_hp,
            mana,
            max_mana,
            ready_tick,
            gcd_ready_tick,
            casting,
            respawn_tick,
            invulnerable_until,
        } = source;
        self.hp = *hp;
        self.max_hp = *max_hp;
        self.mana = *mana;
        self.max_mana = *max_mana;
        self.ready_tick.clone_from(ready_tick);
        self.gcd_ready_tick = *gcd_ready_tick;
        self.casting = *casting;
        self.respawn_tick = *respawn_tick;
        self.invulnerable_until = *invulnerable_until;
    }
}

/// One snapshot for one client. Encoded field by field in this order (by hand, so the
/// updates can be batched: see `encode_updates`); decoded by the derived code.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Decode, Serialize, Deserialize)]
pub struct Snapshot {
    /// Per-client sequence, starting at 1; what the client acks.
    pub id: u32,
    /// Zone tick this state was taken at.
    pub tick: u32,
    /// Snapshot id this one is a delta against; 0 means a full snapshot.
    pub baseline: u32,
    /// Newest input sequence the zone applied for this client (for reconciliation).
    pub last_input_seq: u32,
    /// How long the oldest input applied in this tick waited in the zone for it;
    /// `None` when this tick applied none. From this a client times its sends so each
    /// input arrives just before its tick.
    pub input_wait: Option<InputWait>,
    /// The zone's time rate, in percent of real time: 100 normally, lower while the
    /// zone dilates time under overload (each tick still simulates one period, but
    /// ticks come `100 / time_rate` periods apart). A client sends its inputs, and
    /// runs its tick clock, at this rate.
    pub time_rate: u8,
    pub leaves: Vec<LocalId>,
    pub enters: Vec<EntityEnter>,
    pub updates: Vec<EntityUpdate>,
    /// The player's own state, when it changed since the baseline (always in a full
    /// snapshot of a player that has one).
    pub own: Option<OwnState>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            id: 0,
            tick: 0,
            baseline: 0,
            last_input_seq: 0,
            input_wait: None,
            time_rate: 100,
            leaves: Vec::new(),
            enters: Vec::new(),
            updates: Vec::new(),
            own: None,
        }
    }
}

impl Encode for Snapshot {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.id.encode(encoder)?;
        self.tick.encode(encoder)?;
        self.baseline.encode(encoder)?;
        self.last_input_seq.encode(encoder)?;
        self.input_wait.encode(encoder)?;
        self.time_rate.encode(encoder)?;
        self.leaves.encode(encoder)?;
        self.enters.encode(encoder)?;
        encode_updates(&self.updates, encoder)?;
        self.own.encode(encoder)
    }
}

/// What a snapshot says about the client's inputs: the newest one applied (for
/// reconciliation) and how long this tick's oldest applied one waited (for timing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputReceipt {
    pub seq: u32,
    pub wait: Option<InputWait>,
}

/// How long an input waited in the zone between its arrival and the start of the tick
/// that applied it. A client that knows which tick it meant the input for reads its
/// margin from this: `wait` minus a tick period for each tick it was applied late.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode, Serialize, Deserialize,
)]
pub struct InputWait {
    /// Which input: `last_input_seq - seq_back`.
    pub seq_back: u8,
    /// In units of 100 µs, saturating.
    pub wait_100us: u16,
}

impl InputWait {
    /// The wait of input `seq` (`wait_us` microseconds) as reported with newest input
    /// `newest`; `None` when `seq` is too far behind `newest` to name.
    pub fn new(newest: u32, seq: u32, wait_us: u64) -> Option<InputWait> {
        let seq_back = u8::try_from(newest.checked_sub(seq)?).ok()?;
        Some(InputWait {
            seq_back,
            wait_100us: u16::try_from(wait_us / 100).unwrap_or(u16::MAX),
        })
    }

    /// The input this wait is about, given the snapshot's `last_input_seq`.
    pub fn seq(&self, last_input_seq: u32) -> u32 {
        last_input_seq.wrapping_sub(u32::from(self.seq_back))
    }

    pub fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_micros(u64::from(self.wait_100us) * 100)
    }
}

/// How many recent snapshots the server remembers per client as possible baselines.
/// At 20 Hz this tolerates 800 ms of ack delay before falling back to a full snapshot.
pub const SENT_RING: usize = 16;

/// One entity of a client's view: what the server sent or what the client decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewEntity {
    pub local: LocalId,
    pub net_id: NetId,
    pub state: EntityState,
    /// Velocity in centimetres per tick, as the snapshots state it: left out of a
    /// delta, the entity moves by this much a tick (dead reckoning). Zero when it
    /// enters. Interest leaves it zero; the sender works it out.
    pub vel: (i32, i32),
}

impl ViewEntity {
    /// An entity with no stated velocity.
    pub fn new(local: LocalId, net_id: NetId, state: EntityState) -> Self {
        ViewEntity {
            local,
            net_id,
            state,
            vel: (0, 0),
        }
    }

    /// Where this entity is `dt` ticks later by its velocity (wrapping, as the client
    /// computes it).
    pub fn extrapolated(&self, dt: u32) -> (i32, i32) {
        let dt = dt as i32;
        (
            self.state.x_cm.wrapping_add(self.vel.0.wrapping_mul(dt)),
            self.state.y_cm.wrapping_add(self.vel.1.wrapping_mul(dt)),
        )
    }
}

/// The fastest velocity a sender states, in centimetres per tick (400 m/s at 20 Hz):
/// a bigger step is a teleport or a respawn, not a walk.
pub const MAX_VEL_CM: u32 = 2_000;

/// How far, in centimetres per tick on an axis, a step may differ from the stated
/// velocity before the velocity is stated anew: positions round to whole
/// centimetres, so a steady walker's steps wander by one either side of its speed,
/// two apart; the residual absorbs that.
pub const VEL_SLACK: u32 = 2;

/// Whether `step` looks like a player at velocity `vel` whose inputs came unevenly:
/// none in a tick (a step of 0), or several at once, so the step is a whole multiple
/// of the velocity (within [`VEL_SLACK`] per input) in the same direction. A turn or
/// a change of speed is not.
pub(crate) fn hiccup(step: (i32, i32), vel: (i32, i32)) -> bool {
    // Beyond that it is a teleport, not a walk (and the products below stay small).
    let far = MAX_INPUTS_AT_ONCE * MAX_VEL_CM;
    if [step.0, step.1, vel.0, vel.1]
        .iter()
        .any(|c| c.unsigned_abs() > far)
    {
        return false;
    }
    let (v, s) = (
        (i64::from(vel.0), i64::from(vel.1)),
        (i64::from(step.0), i64::from(step.1)),
    );
    let speed2 = v.0 * v.0 + v.1 * v.1;
    if speed2 == 0 {
        return false;
    }
    // How many inputs' worth the step is along the velocity, rounded.
    let n = ((s.0 * v.0 + s.1 * v.1) * 2 + speed2).div_euclid(2 * speed2);
    if n == 1 || !(0..=i64::from(MAX_INPUTS_AT_ONCE)).contains(&n) {
        return false;
    }
    let slack = i64::from(VEL_SLACK) * n.max(1);
    (s.0 - n * v.0).abs() <= slack && (s.1 - n * v.1).abs() <= slack
}

/// The most inputs [`hiccup`] takes a zone to apply in one tick.
const MAX_INPUTS_AT_ONCE: u32 = 8;

/// The step from `from` to `to`, in centimetres (wrapping, as positions do).
fn step_between(from: &EntityState, to: &EntityState) -> (i32, i32) {
    (
        to.x_cm.wrapping_sub(from.x_cm),
        to.y_cm.wrapping_sub(from.y_cm),
    )
}

/// Whether velocities `a` and `b` differ by more than [`VEL_SLACK`] on an axis.
fn differs(a: (i32, i32), b: (i32, i32)) -> bool {
    a.0.wrapping_sub(b.0).unsigned_abs() > VEL_SLACK
        || a.1.wrapping_sub(b.1).unsigned_abs() > VEL_SLACK
}

/// `c`'s entry in `list` (sorted by local id, as `c`'s list is), searched from
/// `*cursor` on; the cursor is left there for the next, higher, local id.
// Inlined: called, it cost the 1,000-player profile tick 0.12 M instructions.
#[inline(always)]
fn same_entity<'a>(
    list: &'a [ViewEntity],
    cursor: &mut usize,
    c: &ViewEntity,
) -> Option<&'a ViewEntity> {
    while list.get(*cursor).is_some_and(|q| q.local < c.local) {
        *cursor += 1;
    }
    list.get(*cursor)
        .filter(|q| q.local == c.local && q.net_id == c.net_id)
}

/// Fills `snap`'s leaves/enters/updates with what turns `base` (taken `dt` ticks ago)
/// into `current`, and appends to `sent` `current` as the client will hold it
/// (velocities included). `prev` and `before` are the views sent one and two ticks ago
/// (empty when there is none). An entity's velocity is its step since `prev`, stated
/// anew when it differs from the baseline's by more than [`VEL_SLACK`] on an axis,
/// unless it is a player's [`hiccup`] the step before it (since `before`) does not
/// confirm: an input that missed its tick, then two in the next, leaves the velocity as
/// it was and costs a residual, where stating it twice would cost two velocities. A
/// turn is stated at once, and so is the step of an entity not in `before`. All slices
/// are sorted by local id.
pub fn diff_views(
    base: &[ViewEntity],
    dt: u32,
    (prev, before): (&[ViewEntity], &[ViewEntity]),
    current: &[ViewEntity],
    snap: &mut Snapshot,
    sent: &mut Vec<ViewEntity>,
) {
    snap.leaves.clear();
    snap.enters.clear();
    snap.updates.clear();
    let enter = |c: &ViewEntity| EntityEnter {
        local: c.local,
        net_id: c.net_id,
        state: c.state,
    };
    // With acks a tick behind, the baseline is the view sent one tick ago: then each
    // entity's `prev` is its baseline entry, and `prev` is not walked.
    let prev_is_base = core::ptr::eq(prev, base);
    // `sent` is `current` with each entity's velocity as the client will hold it: one
    // copy up front, then the merge writes only the velocities (zero for an entity
    // the client meets anew).
    let start = sent.len();
    sent.extend_from_slice(current);
    let sent = &mut sent[start..];
    // A merge of id-sorted lists; most entities are in all of them.
    let (mut i, mut j, mut k, mut m) = (0, 0, 0, 0);
    while let (Some(c), Some(s)) = (current.get(j), sent.get_mut(j)) {
        let Some(b) = base.get(i) else {
            break;
        };
        if b.local < c.local {
            snap.leaves.push(b.local);
            i += 1;
            continue;
        }
        j += 1;
        if c.local < b.local {
            snap.enters.push(enter(c));
            s.vel = (0, 0);
            continue;
        }
        i += 1;
        let (bs, cs) = (&b.state, &c.state);
        if b.net_id != c.net_id || bs.kind != cs.kind || bs.variant != cs.variant {
            // The local id was reused for another entity.
            snap.leaves.push(b.local);
            snap.enters.push(enter(c));
            s.vel = (0, 0);
            continue;
        }
        let p = if prev_is_base {
            Some(b)
        } else {
            same_entity(prev, &mut k, c)
        };
        let mut vel = b.vel;
        if let Some(p) = p
            && let v = step_between(&p.state, cs)
            && differs(v, b.vel)
        {
            // Only players move by inputs, so only their steps can be hiccups. One is
            // confirmed by the step before it (or stated at once when the entity was
            // not in view two ticks ago). `before` is walked only here.
            let restate = cs.kind != EntityKind::Player
                || !hiccup(v, b.vel)
                || same_entity(before, &mut m, c)
                    .is_none_or(|q| !differs(step_between(&q.state, &p.state), v));
            if restate {
                vel = if v.0.unsigned_abs() > MAX_VEL_CM || v.1.unsigned_abs() > MAX_VEL_CM {
                    (0, 0)
                } else {
                    v
                };
            }
        }
        s.vel = vel;
        let (px, py) = b.extrapolated(dt);
        let residual = (cs.x_cm.wrapping_sub(px), cs.y_cm.wrapping_sub(py));
        let moved = residual != (0, 0);
        if moved || vel != b.vel || bs.hp_pct != cs.hp_pct || bs.flags != cs.flags {
            snap.updates.push(EntityUpdate {
                local: c.local,
                pos_delta: moved.then_some(residual),
                hp_pct: (bs.hp_pct != cs.hp_pct).then_some(cs.hp_pct),
                flags: (bs.flags != cs.flags).then_some(cs.flags),
                vel: (vel != b.vel).then_some(vel),
            });
        }
    }
    snap.leaves.extend(base[i..].iter().map(|b| b.local));
    for (c, s) in current[j..].iter().zip(&mut sent[j..]) {
        snap.enters.push(enter(c));
        s.vel = (0, 0);
    }
}
