//! The delta snapshot format and its server-side encoder.
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

use crate::codec::{self, CodecError};
use crate::messages::ServerMessage;

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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EntityUpdate {
    pub local: LocalId,
    /// Position change in centimetres since the baseline.
    pub pos_delta: Option<(i32, i32)>,
    pub hp_pct: Option<u8>,
    pub flags: Option<u8>,
}

/// Field mask bits of an `EntityUpdate` (written only when the short form does not apply).
pub mod field {
    pub const POSITION: u8 = 1 << 0;
    pub const HP: u8 = 1 << 1;
    pub const FLAGS: u8 = 1 << 2;
    /// Every bit a decoder of this protocol version understands.
    pub const KNOWN: u8 = POSITION | HP | FLAGS;
}

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
        m
    }
}

// Wire form: a varint header `local << 1 | short`. `short == 1` means "position only"
// and the two deltas follow directly, which is the common case for moving entities
// (3 bytes in total for small moves). Otherwise a mask byte follows, then each field
// whose bit is set, in bit order.
impl EntityUpdate {
    /// The most bytes one update takes: header ≤ 5, mask 1, two deltas ≤ 5 each, HP 1,
    /// flags 1.
    const MAX_BYTES: usize = 18;

    /// Appends this update's wire form (see above) to `out`.
    #[inline]
    fn write_to<const N: usize>(&self, out: &mut codec::StackBytes<N>) {
        let mask = self.mask();
        let short = mask == field::POSITION;
        out.u32((u32::from(self.local) << 1) | u32::from(short));
        if !short {
            out.u8(mask);
        }
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
    }
}

impl Encode for EntityUpdate {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let mut out = codec::StackBytes::<{ EntityUpdate::MAX_BYTES }>::new();
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
    let mut chunk = codec::StackBytes::<512>::new();
    for update in updates {
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
        let header = u32::decode(decoder)?;
        let local = LocalId::try_from(header >> 1)
            .map_err(|_| DecodeError::Other("update local id out of range"))?;
        let mask = if header & 1 == 1 {
            field::POSITION
        } else {
            u8::decode(decoder)?
        };
        if mask & !field::KNOWN != 0 {
            return Err(DecodeError::Other("unknown update field bits"));
        }
        if mask == 0 {
            return Err(DecodeError::Other("update with no fields"));
        }
        let pos_delta = if mask & field::POSITION != 0 {
            Some((i32::decode(decoder)?, i32::decode(decoder)?))
        } else {
            None
        };
        let hp_pct = if mask & field::HP != 0 {
            Some(u8::decode(decoder)?)
        } else {
            None
        };
        let flags = if mask & field::FLAGS != 0 {
            Some(u8::decode(decoder)?)
        } else {
            None
        };
        Ok(EntityUpdate {
            local,
            pos_delta,
            hp_pct,
            flags,
        })
    }
}
bincode::impl_borrow_decode!(EntityUpdate);

/// The receiving player's own vital state: exact HP and mana and when each skill slot
/// is ready. Sent only when it differs from the baseline's (times are absolute ticks,
/// so a cooldown counting down does not change it).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode, Serialize, Deserialize,
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

/// One snapshot for one client. Encoded field by field in this order (by hand, so the
/// updates can be batched: see `encode_updates`); decoded by the derived code.
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Decode, Serialize, Deserialize)]
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
    pub leaves: Vec<LocalId>,
    pub enters: Vec<EntityEnter>,
    pub updates: Vec<EntityUpdate>,
    /// The player's own state, when it changed since the baseline (always in a full
    /// snapshot of a player that has one).
    pub own: Option<OwnState>,
}

impl Encode for Snapshot {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.id.encode(encoder)?;
        self.tick.encode(encoder)?;
        self.baseline.encode(encoder)?;
        self.last_input_seq.encode(encoder)?;
        self.input_wait.encode(encoder)?;
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

/// One entity of a client's view: what the server sent or what the client decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewEntity {
    pub local: LocalId,
    pub net_id: NetId,
    pub state: EntityState,
}

/// How many recent snapshots the server remembers per client as possible baselines.
/// At 20 Hz this tolerates 800 ms of ack delay before falling back to a full snapshot.
pub const SENT_RING: usize = 16;

/// Sizes of one encoded snapshot, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    pub bytes: usize,
    pub enters: usize,
    pub updates: usize,
    pub leaves: usize,
    pub full: bool,
}

struct SentSnapshot {
    id: u32,
    entities: Vec<ViewEntity>,
    own: Option<OwnState>,
}

/// Server-side per-client snapshot state: the ring of recently sent views and the
/// newest acknowledged id. Pure logic: time and input come in as arguments.
pub struct SnapshotSender {
    ring: Vec<SentSnapshot>,
    next_id: u32,
    acked: Option<u32>,
    /// The newest snapshot the client acknowledged, whether or not it is still in the
    /// ring (0: none yet). A client that stays far behind still proves it reads.
    heard: u32,
    scratch: Snapshot,
}

impl Default for SnapshotSender {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotSender {
    pub fn new() -> Self {
        SnapshotSender {
            ring: (0..SENT_RING)
                .map(|_| SentSnapshot {
                    id: 0,
                    entities: Vec::new(),
                    own: None,
                })
                .collect(),
            next_id: 1,
            acked: None,
            heard: 0,
            scratch: Snapshot::default(),
        }
    }

    /// Records a client ack. Acks of unknown, future or older ids are ignored, so a
    /// reordered or forged ack can never select a baseline the client does not have.
    pub fn ack(&mut self, snapshot_id: u32) {
        if snapshot_id == 0 || snapshot_id >= self.next_id {
            return;
        }
        self.heard = self.heard.max(snapshot_id);
        if self.acked.is_some_and(|a| snapshot_id <= a) {
            return;
        }
        if self.sent(snapshot_id).is_some() {
            self.acked = Some(snapshot_id);
        }
    }

    /// How many snapshots were sent after the newest one the client acknowledged (all
    /// of them while it has acknowledged none). One a tick: a client that keeps
    /// reading stays near its round trip in ticks.
    pub fn unacknowledged(&self) -> u32 {
        // Ids wrap after 2³² snapshots (seven years at 20 Hz); no panic then.
        self.next_id.wrapping_sub(1).wrapping_sub(self.heard)
    }

    /// The newest acknowledged snapshot id still usable as a baseline.
    pub fn baseline_id(&self) -> Option<u32> {
        self.acked.filter(|id| self.sent(*id).is_some())
    }

    fn sent(&self, id: u32) -> Option<&SentSnapshot> {
        let slot = &self.ring[id as usize % SENT_RING];
        (slot.id == id && id != 0).then_some(slot)
    }

    /// Builds the next snapshot of `current` (sorted by `local`, unique) and the
    /// player's `own` state against the newest usable baseline, and appends its encoded
    /// `ServerMessage` to `out`.
    pub fn encode_next(
        &mut self,
        tick: u32,
        input: InputReceipt,
        current: &[ViewEntity],
        own: Option<&OwnState>,
        out: &mut Vec<u8>,
    ) -> Result<EncodeStats, CodecError> {
        debug_assert!(current.windows(2).all(|w| w[0].local < w[1].local));
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let baseline = self.baseline_id();
        let mut snap = std::mem::take(&mut self.scratch);
        snap.id = id;
        snap.tick = tick;
        snap.last_input_seq = input.seq;
        snap.input_wait = input.wait;
        snap.baseline = baseline.unwrap_or(0);
        let empty: &[ViewEntity] = &[];
        let base_snap = baseline.and_then(|b| self.sent(b));
        let base = base_snap.map_or(empty, |s| s.entities.as_slice());
        diff_views(base, current, &mut snap);
        let base_own = base_snap.and_then(|s| s.own.as_ref());
        snap.own = match own {
            Some(o) if base_own != Some(o) => Some(o.clone()),
            _ => None,
        };

        let stats = EncodeStats {
            bytes: 0,
            enters: snap.enters.len(),
            updates: snap.updates.len(),
            leaves: snap.leaves.len(),
            full: baseline.is_none(),
        };
        let start = out.len();
        let message = ServerMessage::Snapshot(snap);
        let result = codec::encode_server_message(&message, out);
        if let ServerMessage::Snapshot(s) = message {
            self.scratch = s;
        }
        result?;

        let slot = &mut self.ring[id as usize % SENT_RING];
        slot.id = id;
        slot.entities.clear();
        slot.entities.extend_from_slice(current);
        match (own, &mut slot.own) {
            (Some(o), Some(kept)) => kept.clone_from(o),
            (o, kept) => *kept = o.cloned(),
        }
        Ok(EncodeStats {
            bytes: out.len() - start,
            ..stats
        })
    }
}

/// Fills `snap`'s leaves/enters/updates with what turns `base` into `current`; both
/// slices are sorted by local id.
pub fn diff_views(base: &[ViewEntity], current: &[ViewEntity], snap: &mut Snapshot) {
    snap.leaves.clear();
    snap.enters.clear();
    snap.updates.clear();
    let enter = |c: &ViewEntity| EntityEnter {
        local: c.local,
        net_id: c.net_id,
        state: c.state,
    };
    // A merge of two id-sorted lists; most entities are in both.
    let (mut i, mut j) = (0, 0);
    while let (Some(b), Some(c)) = (base.get(i), current.get(j)) {
        if b.local < c.local {
            snap.leaves.push(b.local);
            i += 1;
            continue;
        }
        if c.local < b.local {
            snap.enters.push(enter(c));
            j += 1;
            continue;
        }
        let (bs, cs) = (&b.state, &c.state);
        if b.net_id != c.net_id || bs.kind != cs.kind || bs.variant != cs.variant {
            // The local id was reused for another entity.
            snap.leaves.push(b.local);
            snap.enters.push(enter(c));
        } else if bs != cs {
            let moved = bs.x_cm != cs.x_cm || bs.y_cm != cs.y_cm;
            snap.updates.push(EntityUpdate {
                local: c.local,
                pos_delta: moved
                    .then(|| (cs.x_cm.wrapping_sub(bs.x_cm), cs.y_cm.wrapping_sub(bs.y_cm))),
                hp_pct: (bs.hp_pct != cs.hp_pct).then_some(cs.hp_pct),
                flags: (bs.flags != cs.flags).then_some(cs.flags),
            });
        }
        i += 1;
        j += 1;
    }
    snap.leaves.extend(base[i..].iter().map(|b| b.local));
    snap.enters.extend(current[j..].iter().map(enter));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_server_message;

    fn ent(local: u16, net: u32, x: i32, y: i32) -> ViewEntity {
        ViewEntity {
            local,
            net_id: NetId(net),
            state: EntityState {
                kind: EntityKind::Npc,
                variant: 0,
                x_cm: x,
                y_cm: y,
                hp_pct: 100,
                flags: 0,
            },
        }
    }

    fn decode(bytes: &[u8]) -> Snapshot {
        match decode_server_message(bytes).unwrap() {
            ServerMessage::Snapshot(s) => s,
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn many_updates_of_every_size_round_trip() {
        // More updates than one 512-byte chunk of `encode_updates` holds, with deltas
        // of 1, 3 and 5 bytes and every field combination, so chunk edges fall inside
        // the list.
        let deltas = [0, 1, -1, 125, -126, 30_000, -40_000, i32::MAX, i32::MIN];
        let updates: Vec<EntityUpdate> = (0..400u16)
            .map(|i| {
                let d = deltas[usize::from(i) % deltas.len()];
                EntityUpdate {
                    local: i * 163,
                    pos_delta: (i % 4 != 1).then_some((d, d.wrapping_mul(3))),
                    hp_pct: (i % 3 == 1).then_some(i as u8),
                    flags: (i % 5 == 1 || i % 4 == 1).then_some(0xF0),
                }
            })
            .collect();
        let snap = Snapshot {
            id: 7,
            tick: 9,
            updates,
            ..Snapshot::default()
        };
        let mut bytes = Vec::new();
        codec::encode_server_message(&ServerMessage::Snapshot(snap.clone()), &mut bytes).unwrap();
        assert!(bytes.len() > 2 * 512, "{} bytes", bytes.len());
        assert_eq!(decode(&bytes), snap);
    }

    #[test]
    fn first_snapshot_is_full_then_deltas_follow_acks() {
        let mut tx = SnapshotSender::new();
        let mut out = Vec::new();
        let s1 = tx
            .encode_next(
                1,
                InputReceipt::default(),
                &[ent(0, 10, 0, 0), ent(1, 11, 500, 500)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(s1.full);
        assert_eq!(decode(&out).enters.len(), 2);
        tx.ack(1);
        out.clear();
        let s2 = tx
            .encode_next(
                2,
                InputReceipt::default(),
                &[ent(0, 10, 20, -20), ent(1, 11, 500, 500)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(!s2.full);
        let snap = decode(&out);
        assert_eq!(snap.baseline, 1);
        // The unchanged entity costs nothing; the moved one is one short update.
        assert_eq!(
            snap.updates,
            vec![EntityUpdate {
                local: 0,
                pos_delta: Some((20, -20)),
                ..EntityUpdate::default()
            }]
        );
        assert!(snap.enters.is_empty() && snap.leaves.is_empty());
    }

    #[test]
    fn small_move_update_is_three_bytes() {
        let mut bytes = Vec::new();
        codec::encode_into(
            &EntityUpdate {
                local: 40,
                pos_delta: Some((-100, 125)),
                ..EntityUpdate::default()
            },
            &mut bytes,
        )
        .unwrap();
        assert_eq!(bytes.len(), 3);
    }

    #[test]
    fn reused_local_id_becomes_leave_and_enter() {
        let mut snap = Snapshot::default();
        diff_views(&[ent(3, 1, 0, 0)], &[ent(3, 2, 0, 0)], &mut snap);
        assert_eq!(snap.leaves, vec![3]);
        assert_eq!(snap.enters.len(), 1);
        assert!(snap.updates.is_empty());
    }

    #[test]
    fn acks_for_unsent_or_older_snapshots_are_ignored() {
        let mut tx = SnapshotSender::new();
        let mut out = Vec::new();
        tx.encode_next(1, InputReceipt::default(), &[], None, &mut out)
            .unwrap();
        tx.encode_next(2, InputReceipt::default(), &[], None, &mut out)
            .unwrap();
        tx.ack(7);
        assert_eq!(tx.baseline_id(), None);
        tx.ack(2);
        tx.ack(1);
        assert_eq!(tx.baseline_id(), Some(2));
    }

    #[test]
    fn unacknowledged_counts_snapshots_since_the_newest_ack_even_beyond_the_ring() {
        let mut tx = SnapshotSender::new();
        let mut out = Vec::new();
        let mut send = |tx: &mut SnapshotSender, n: u32| {
            for t in 0..n {
                tx.encode_next(t, InputReceipt::default(), &[], None, &mut out)
                    .unwrap();
            }
        };
        assert_eq!(tx.unacknowledged(), 0);
        send(&mut tx, 3);
        assert_eq!(tx.unacknowledged(), 3, "nothing acknowledged yet");
        tx.ack(99); // never sent: ignored
        assert_eq!(tx.unacknowledged(), 3);
        tx.ack(2);
        assert_eq!(tx.unacknowledged(), 1);
        // A client far behind: its ack is too old to be a baseline, but it still shows
        // the client reads its snapshots.
        send(&mut tx, SENT_RING as u32 + 10);
        tx.ack(5);
        assert_eq!(tx.baseline_id(), None);
        assert_eq!(tx.unacknowledged(), 3 + SENT_RING as u32 + 10 - 5);
        tx.ack(4); // older than one already heard: changes nothing
        assert_eq!(tx.unacknowledged(), 3 + SENT_RING as u32 + 10 - 5);
    }

    #[test]
    fn baseline_older_than_the_ring_falls_back_to_full() {
        let mut tx = SnapshotSender::new();
        let mut out = Vec::new();
        tx.encode_next(
            1,
            InputReceipt::default(),
            &[ent(0, 1, 0, 0)],
            None,
            &mut out,
        )
        .unwrap();
        tx.ack(1);
        for t in 0..SENT_RING as u32 {
            tx.encode_next(
                t + 2,
                InputReceipt::default(),
                &[ent(0, 1, 0, 0)],
                None,
                &mut out,
            )
            .unwrap();
        }
        out.clear();
        let stats = tx
            .encode_next(
                99,
                InputReceipt::default(),
                &[ent(0, 1, 0, 0)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(stats.full);
    }

    #[test]
    fn unknown_mask_bits_are_a_decode_error() {
        // header: local 1, long form (0b10), then mask with an unknown bit
        let bytes = [0b10u8, 0b1000_0000];
        let r: Result<EntityUpdate, _> = codec::decode_limited::<_, 64>(&bytes);
        assert!(r.is_err());
    }
}
