//! Property tests: codec round-trips, decoders never panic on arbitrary bytes, and
//! delta snapshots under random loss, reordering and ack loss always decode to exactly
//! the state the server sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_protocol::codec::{
    decode_client_frame, decode_limited, decode_server_message, encode_client_frame, encode_to_vec,
};
use arcane_protocol::sender::SnapshotSender;
use arcane_protocol::sent_views::SentViews;
use arcane_protocol::snapshot::{EntityUpdate, InputReceipt, OwnState, ViewEntity};
use arcane_protocol::view::{ApplyError, ClientView};
use arcane_protocol::{
    AdminCommand, CastIntent, CastTarget, ClientMessage, ClientTier, EntityKind, EntityState,
    Hello, MoveInput, NetId, ServerMessage,
};
use proptest::prelude::*;

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u16>(), "[a-zA-Z0-9._-]{0,40}", any::<bool>()).prop_map(|(v, t, d)| {
            ClientMessage::Hello(Hello {
                protocol_version: v,
                ticket: t,
                tier: if d {
                    ClientTier::Desktop
                } else {
                    ClientTier::Mobile
                },
            })
        }),
        (any::<u32>(), any::<i8>(), any::<i8>())
            .prop_map(|(seq, dir_x, dir_y)| ClientMessage::Input(MoveInput { seq, dir_x, dir_y })),
        any::<u32>().prop_map(|snapshot_id| ClientMessage::Ack { snapshot_id }),
        any::<u64>().prop_map(|nonce| ClientMessage::Ping { nonce }),
        (
            any::<u32>(),
            any::<u8>(),
            any::<u32>(),
            any::<i32>(),
            0u8..3
        )
            .prop_map(|(seq, slot, id, x, t)| {
                let target = match t {
                    0 => CastTarget::Caster,
                    1 => CastTarget::Entity(NetId(id)),
                    _ => CastTarget::Point { x_cm: x, y_cm: -x },
                };
                ClientMessage::Cast(CastIntent { seq, slot, target })
            }),
        Just(ClientMessage::Respawn),
        Just(ClientMessage::RosterRequest),
        (any::<u32>(), any::<u32>()).prop_map(|(seq, t)| ClientMessage::Capture {
            seq,
            target: NetId(t)
        }),
        (any::<u32>(), any::<u64>(), any::<u64>())
            .prop_map(|(seq, first, second)| { ClientMessage::Breed { seq, first, second } }),
        (any::<u32>(), "[a-z_]{0,12}", any::<i32>(), any::<u32>()).prop_map(
            |(seq, enemy, x, hp)| {
                ClientMessage::Admin {
                    seq,
                    command: match hp % 5 {
                        0 => AdminCommand::SpawnEnemy {
                            enemy,
                            x_cm: x,
                            y_cm: x / 2,
                        },
                        1 => AdminCommand::ResetArea,
                        2 => AdminCommand::SetHp {
                            target: NetId(seq),
                            hp,
                        },
                        3 => AdminCommand::Teleport {
                            target: NetId(0),
                            x_cm: x,
                            y_cm: 7,
                        },
                        _ => AdminCommand::SetInvulnerable {
                            target: NetId(seq),
                            on: hp % 2 == 0,
                        },
                    },
                }
            }
        ),
    ]
}

/// A world history: per step, the set of (net id, x, y) the client should see. Net ids
/// come from a small pool so entities leave and come back.
fn history() -> impl Strategy<Value = Vec<Vec<(u32, i32, i32)>>> {
    prop::collection::vec(
        prop::collection::btree_map(
            0u32..40,
            (-500_000i32..500_000, -500_000i32..500_000),
            0..30,
        )
        .prop_map(|m| m.into_iter().map(|(id, (x, y))| (id, x, y)).collect()),
        1..60,
    )
}

/// What a client shows of a view: everything but the velocities it extrapolates by.
fn states(view: &[ViewEntity]) -> Vec<(u16, NetId, EntityState)> {
    view.iter().map(|e| (e.local, e.net_id, e.state)).collect()
}

/// Assigns local ids the way a server does: keep an entity's id while it stays
/// visible, give a newcomer the lowest free one.
struct LocalIds {
    by_net: std::collections::BTreeMap<u32, u16>,
}

impl LocalIds {
    fn assign(&mut self, visible: &[(u32, i32, i32)]) -> Vec<ViewEntity> {
        self.by_net
            .retain(|net, _| visible.iter().any(|(n, _, _)| n == net));
        let mut out = Vec::new();
        for &(net, x, y) in visible {
            let local = match self.by_net.get(&net) {
                Some(l) => *l,
                None => {
                    let used: Vec<u16> = self.by_net.values().copied().collect();
                    let l = (0u16..).find(|l| !used.contains(l)).unwrap_or(0);
                    self.by_net.insert(net, l);
                    l
                }
            };
            let kind = match net % 4 {
                0 => EntityKind::Player,
                1 => EntityKind::Enemy,
                2 => EntityKind::Creature,
                _ => EntityKind::Npc,
            };
            // HP and flags derived from the position, so they change in some steps and
            // stay put in others, alone or together with a move.
            let hp_pct = if net % 2 == 0 {
                (x.rem_euclid(101)) as u8
            } else {
                100
            };
            let flags = (y.rem_euclid(4)) as u8;
            out.push(ViewEntity {
                local,
                net_id: NetId(net),
                state: EntityState {
                    kind,
                    variant: (net % 2) as u16,
                    x_cm: x,
                    y_cm: y,
                    hp_pct,
                    flags,
                },
                vel: (0, 0),
            });
        }
        out.sort_by_key(|e| e.local);
        out
    }
}

/// Sends `steps` through a sender to a client over a link that drops, reorders and
/// loses acks as told, checking every applied snapshot reproduces what was sent.
fn check_converges(
    steps: &[Vec<(u32, i32, i32)>],
    drops: &[bool],
    ack_drops: &[bool],
    swaps: &[bool],
) -> Result<(), TestCaseError> {
    let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
    let mut ids = LocalIds {
        by_net: Default::default(),
    };
    let mut client = ClientView::new();
    let mut sent: Vec<(u32, Vec<ViewEntity>, OwnState)> = Vec::new();
    let mut in_flight: Vec<Vec<u8>> = Vec::new();
    let mut pending_acks: Vec<u32> = Vec::new();

    // The player's own state changes every third step.
    let own_at = |i: usize| OwnState {
        hp: (i / 3) as u32,
        max_hp: 100,
        ready_tick: vec![i as u32 / 3, 7],
        casting: i.is_multiple_of(2).then_some((1, 9)),
        ..OwnState::default()
    };
    let deliver = |bytes: &[u8],
                   client: &mut ClientView,
                   sent: &[(u32, Vec<ViewEntity>, OwnState)],
                   acks: &mut Vec<u32>|
     -> Result<(), TestCaseError> {
        let snap = match decode_server_message(bytes).unwrap() {
            ServerMessage::Snapshot(s) => s,
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        };
        match client.apply(&snap) {
            Ok(()) => {
                let (_, expected, own) = sent.iter().find(|(id, _, _)| *id == snap.id).unwrap();
                prop_assert_eq!(states(client.entities()), states(expected));
                prop_assert_eq!(client.own(), Some(own));
                acks.push(snap.id);
            }
            Err(ApplyError::Stale { .. }) => {}
            Err(e) => return Err(TestCaseError::fail(format!("apply failed: {e}"))),
        }
        Ok(())
    };

    let total = steps.len();
    for (i, visible) in steps.iter().enumerate() {
        // Acks reach the server one step late, some are lost.
        for a in pending_acks.drain(..) {
            tx.ack(a);
        }
        let view = ids.assign(visible);
        let mut bytes = Vec::new();
        let own = own_at(i / 2);
        tx.encode_next(
            &mut views,
            i as u32,
            100,
            InputReceipt::default(),
            &view,
            Some(&own),
            &mut bytes,
        )
        .unwrap();
        sent.push((i as u32 + 1, view, own));
        in_flight.push(bytes);
        if swaps[i % 60] && in_flight.len() >= 2 {
            let n = in_flight.len();
            in_flight.swap(n - 1, n - 2);
        }
        // Deliver all but the newest (one step of latency), dropping some.
        while in_flight.len() > 1 {
            let b = in_flight.remove(0);
            if !drops[(i + in_flight.len()) % 60] {
                let mut acks = Vec::new();
                deliver(&b, &mut client, &sent, &mut acks)?;
                if !ack_drops[i % 60] {
                    pending_acks.extend(acks);
                }
            }
        }
    }
    // Clean delivery from here on: the client converges to the final state.
    let last = ids.assign(&steps[total - 1]);
    for _ in 0..3 {
        for b in in_flight.drain(..) {
            let mut acks = Vec::new();
            deliver(&b, &mut client, &sent, &mut acks)?;
            pending_acks.extend(acks);
        }
        for a in pending_acks.drain(..) {
            tx.ack(a);
        }
        let mut bytes = Vec::new();
        let own = own_at(total);
        let tick = sent.len() as u32;
        tx.encode_next(
            &mut views,
            tick,
            100,
            InputReceipt::default(),
            &last,
            Some(&own),
            &mut bytes,
        )
        .unwrap();
        sent.push((sent.len() as u32 + 1, last.clone(), own));
        in_flight.push(bytes);
    }
    for b in in_flight.drain(..) {
        let mut acks = Vec::new();
        deliver(&b, &mut client, &sent, &mut acks)?;
    }
    prop_assert_eq!(states(client.entities()), states(&last));
    prop_assert_eq!(client.own(), Some(&own_at(total)));
    Ok(())
}

/// Entities walking: each keeps a velocity (cm per tick) for a while, with a jitter of
/// a centimetre or two a tick, turns now and then, sometimes misses a step or makes
/// two at once (uneven inputs), and blinks out of view.
fn walks() -> impl Strategy<Value = Vec<Vec<(u32, i32, i32)>>> {
    let walker = (
        (-100_000i32..100_000, -100_000i32..100_000),
        prop::collection::vec(
            (
                any::<u8>(),
                (-300i32..300, -300i32..300),
                (-2i32..=2, -2i32..=2),
            ),
            60,
        ),
    );
    (prop::collection::vec(walker, 1..25), 1usize..60).prop_map(|(walkers, n)| {
        let mut at: Vec<(i32, i32, (i32, i32))> =
            walkers.iter().map(|(p, _)| (p.0, p.1, (0, 0))).collect();
        (0..n)
            .map(|step| {
                let mut visible = Vec::new();
                for (id, (_, plan)) in walkers.iter().enumerate() {
                    let (roll, turn, jitter) = plan[step];
                    let a = &mut at[id];
                    if roll < 25 {
                        a.2 = turn;
                    }
                    // Now and then an input misses its tick (no step) or two come at
                    // once (a double step): the sender must not lose track either way.
                    let inputs = match (roll / 8) % 8 {
                        0 => 0,
                        1 => 2,
                        _ => 1,
                    };
                    a.0 += a.2.0 * inputs + jitter.0;
                    a.1 += a.2.1 * inputs + jitter.1;
                    if roll % 8 != 7 {
                        visible.push((id as u32, a.0, a.1));
                    }
                }
                visible
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_frames_round_trip(msgs in prop::collection::vec(client_message(), 1..16)) {
        let mut bytes = Vec::new();
        encode_client_frame(&msgs, &mut bytes).unwrap();
        prop_assert_eq!(decode_client_frame(&bytes).unwrap(), msgs);
    }

    /// Any entity update decodes as sent, and its bytes follow PROTOCOL.md's layout:
    /// the local id in a byte, then a nudge, a residual form or a field mask with
    /// each field in bincode's encoding.
    #[test]
    fn entity_updates_round_trip_in_documented_layout(
        local in 0u16..=249,
        pos_delta in prop::option::of(prop_oneof![
            (-4i32..=3, -4i32..=3),
            (-300i32..300, -300i32..300),
            (any::<i32>(), any::<i32>()),
        ]),
        hp_pct in prop::option::of(any::<u8>()),
        flags in prop::option::of(any::<u8>()),
        vel in prop::option::of((any::<i32>(), any::<i32>())),
    ) {
        prop_assume!(pos_delta.is_some() || hp_pct.is_some() || flags.is_some() || vel.is_some());
        let update = EntityUpdate { local, pos_delta, hp_pct, flags, vel };
        let bytes = encode_to_vec(&update).unwrap();
        let mask = u8::from(pos_delta.is_some()) | u8::from(hp_pct.is_some()) << 1
            | u8::from(flags.is_some()) << 2 | u8::from(vel.is_some()) << 3;
        let mut expected = vec![local as u8];
        match pos_delta {
            Some((dx, dy)) if mask == 1 && (-4..=3).contains(&dx) && (-4..=3).contains(&dy) => {
                expected.push(0x80 | ((dx + 4) as u8) << 3 | (dy + 4) as u8);
            }
            Some((dx, dy)) if mask == 1 => {
                expected.push(0x40);
                expected.extend(encode_to_vec(&(dx, dy)).unwrap());
            }
            _ => {
                expected.push(mask);
                if let Some((dx, dy)) = pos_delta {
                    expected.extend(encode_to_vec(&(dx, dy)).unwrap());
                }
                expected.extend(hp_pct);
                expected.extend(flags);
                if let Some(v) = vel {
                    expected.extend(encode_to_vec(&v).unwrap());
                }
            }
        }
        prop_assert_eq!(&bytes, &expected);
        let decoded: EntityUpdate = decode_limited::<_, 64>(&bytes).unwrap();
        prop_assert_eq!(decoded, update);
    }

    /// Local ids over 249 and updates with no field have no wire form.
    #[test]
    fn unencodable_updates_are_refused(local in 250u16.., dx in any::<i32>()) {
        let far = EntityUpdate { local, pos_delta: Some((dx, 0)), ..EntityUpdate::default() };
        prop_assert!(encode_to_vec(&far).is_err());
        let empty = EntityUpdate { local: local % 250, ..EntityUpdate::default() };
        prop_assert!(encode_to_vec(&empty).is_err());
    }

    /// A snapshot's input receipt decodes as sent, whatever its values.
    #[test]
    fn input_receipts_round_trip(seq in any::<u32>(), back in any::<u32>(), wait_us in any::<u64>()) {
        let wait = arcane_protocol::InputWait::new(seq, seq.wrapping_sub(back), wait_us);
        prop_assert_eq!(wait.is_some(), back <= 255 && back <= seq);
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut bytes = Vec::new();
        tx.encode_next(&mut views, 1, 100, InputReceipt { seq, wait }, &[], None, &mut bytes).unwrap();
        let snap = match decode_server_message(&bytes).unwrap() {
            ServerMessage::Snapshot(s) => s,
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        };
        prop_assert_eq!((snap.last_input_seq, snap.input_wait), (seq, wait));
        if let Some(w) = snap.input_wait {
            prop_assert_eq!(w.seq(seq), seq - back);
            prop_assert_eq!(u64::from(w.wait_100us), (wait_us / 100).min(u64::from(u16::MAX)));
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_client_frame(&bytes);
        let _ = decode_server_message(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_frames(
        msgs in prop::collection::vec(client_message(), 1..8),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = Vec::new();
        encode_client_frame(&msgs, &mut bytes).unwrap();
        for (at, v) in flips {
            let n = bytes.len();
            bytes[at % n] ^= v;
        }
        let _ = decode_client_frame(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = decode_client_frame(&bytes);
    }

    /// The central property of the snapshot model: whatever is lost, reordered or
    /// acked late, every snapshot the client manages to apply reproduces exactly what
    /// the server sent in it, and once delivery is clean the client converges.
    #[test]
    fn delta_snapshots_converge_under_loss_and_reordering(
        steps in history(),
        drops in prop::collection::vec(any::<bool>(), 60),
        ack_drops in prop::collection::vec(any::<bool>(), 60),
        swaps in prop::collection::vec(any::<bool>(), 60),
    ) {
        check_converges(&steps, &drops, &ack_drops, &swaps)?;
    }

    /// The same for walkers, whose positions are dead-reckoned: extrapolated by the
    /// velocity a snapshot stated, over however many ticks separate it from the one
    /// built on it, plus the residual.
    #[test]
    fn dead_reckoned_walkers_converge_under_loss_and_reordering(
        steps in walks(),
        drops in prop::collection::vec(any::<bool>(), 60),
        ack_drops in prop::collection::vec(any::<bool>(), 60),
        swaps in prop::collection::vec(any::<bool>(), 60),
    ) {
        check_converges(&steps, &drops, &ack_drops, &swaps)?;
    }
}
