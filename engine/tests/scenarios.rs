//! Scenario tests: build a small zone, feed commands, step N ticks, assert outcomes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_engine::content::{ContentSources, ZoneContent};
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::codec::decode_server_message;
use arcane_protocol::messages::RejectReason;
use arcane_protocol::quant::{POSITION_EPSILON_M, cm_to_metres};
use arcane_protocol::ticket::Role;
use arcane_protocol::view::ClientView;
use arcane_protocol::{ClientTier, EventKind, KickReason, MoveInput, NetId, ServerMessage};
use proptest::prelude::*;

/// A 200 m square zone with one spawn point per corner region and `npcs` wanderers.
fn zone_content(npcs: u32, spawn_radius: f32) -> ZoneContent {
    let mut sources = ContentSources::shipped();
    sources.set("zones/test.ron", zone_content_text(npcs, spawn_radius));
    sources.zone("test").unwrap()
}

/// The RON of [`zone_content`]'s zone.
fn zone_content_text(npcs: u32, spawn_radius: f32) -> String {
    format!(
        r#"ZoneDef(
            id: "test",
            bounds: Bounds(min: (0.0, 0.0), max: (200.0, 200.0)),
            player_speed: 5.0,
            max_players: 100,
            spawn_points: [(100.0, 100.0)],
            spawn_radius: {spawn_radius},
            obstacles: [Box(min: (0.0, 190.0), max: (10.0, 200.0))],
            npcs: [NpcGroup(count: {npcs}, speed: 2.0, min_leg_ticks: 5, max_leg_ticks: 20, idle_chance: 0.2)],
        )"#
    )
}

fn join(p: u64) -> ZoneCommand {
    ZoneCommand::Join {
        player: PlayerId(p),
        tier: ClientTier::Desktop,
        role: Role::Player,
        saved: None,
    }
}

fn mv(p: u64, seq: u32, x: i8, y: i8) -> ZoneCommand {
    ZoneCommand::Input {
        player: PlayerId(p),
        input: MoveInput {
            seq,
            dir_x: x,
            dir_y: y,
        },
        received_us: 0,
    }
}

/// Collects one tick's outputs per player.
#[derive(Default)]
struct Outputs {
    welcomes: Vec<(PlayerId, NetId)>,
    snapshots: Vec<(PlayerId, Vec<u8>)>,
    events: Vec<(PlayerId, EventKind)>,
    kicks: Vec<(PlayerId, KickReason)>,
    disconnects: Vec<(PlayerId, KickReason)>,
    logouts: Vec<PlayerId>,
}

fn drain(zone: &mut Zone) -> Outputs {
    let mut o = Outputs::default();
    for out in zone.drain_outputs() {
        match out {
            ZoneOutput::Welcome { player, welcome } => o.welcomes.push((player, welcome.player)),
            ZoneOutput::Snapshot { player, bytes } => o.snapshots.push((player, bytes.to_vec())),
            ZoneOutput::Event { player, event } => o.events.push((player, event.kind)),
            ZoneOutput::Broadcast { players, event } => {
                let each = players.into_iter().map(|p| (p, event.kind.clone()));
                o.events.extend(each);
            }
            ZoneOutput::Kick { player, reason, .. } => o.kicks.push((player, reason)),
            ZoneOutput::Disconnect { player, reason, .. } => o.disconnects.push((player, reason)),
            ZoneOutput::Logout { player, .. } => o.logouts.push(player),
            // Persistence and chat have their own scenarios (tests/persistence.rs, chat.rs).
            ZoneOutput::Checkpoint(_) | ZoneOutput::Transfer { .. } | ZoneOutput::Chat(_) => {}
        }
    }
    o
}

fn snapshot_of(bytes: &[u8]) -> arcane_protocol::Snapshot {
    match decode_server_message(bytes).unwrap() {
        ServerMessage::Snapshot(s) => s,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

#[test]
fn same_seed_and_journal_give_the_same_state_every_tick() {
    let journal: Vec<Vec<ZoneCommand>> = (0..60u32)
        .map(|t| {
            let mut cmds = vec![];
            if t == 0 {
                cmds.extend((1..=5).map(join));
            }
            cmds.extend((1..=5).map(|p| mv(p, t + 1, (t as i8 % 3) * 60, 100 - p as i8)));
            cmds
        })
        .collect();
    let mut a = Zone::new(zone_content(50, 30.0), 7);
    let mut b = Zone::new(zone_content(50, 30.0), 7);
    let mut c = Zone::new(zone_content(50, 30.0), 8);
    let mut differs = false;
    for cmds in &journal {
        a.step(cmds.clone());
        b.step(cmds.clone());
        c.step(cmds.clone());
        let (ha, hb, hc) = (a.state_hash(), b.state_hash(), c.state_hash());
        assert_eq!(ha, hb, "tick {}", a.tick());
        differs |= ha != hc;
    }
    assert!(differs, "a different seed should give a different world");
}

#[test]
fn inputs_move_the_player_at_content_speed_and_are_echoed() {
    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    zone.step([join(1)]);
    let o = drain(&mut zone);
    assert_eq!(o.welcomes.len(), 1);
    let start = zone.player_position(PlayerId(1)).unwrap();
    for seq in 1..=20 {
        zone.step([mv(1, seq, 127, 0)]);
    }
    let end = zone.player_position(PlayerId(1)).unwrap();
    // 20 ticks at 20 Hz and 5 m/s: 5 m east.
    assert!((end.x - start.x - 5.0).abs() < 1e-3, "{start} -> {end}");
    assert_eq!(end.y, start.y);
    let o = drain(&mut zone);
    let last = snapshot_of(&o.snapshots.last().unwrap().1);
    assert_eq!(last.last_input_seq, 20);
}

#[test]
fn snapshots_report_how_long_the_oldest_input_of_the_tick_waited() {
    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    zone.step_at([join(1)], 0);
    drain(&mut zone);
    let at = |cmd: ZoneCommand, received_us: u64| match cmd {
        ZoneCommand::Input { player, input, .. } => ZoneCommand::Input {
            player,
            input,
            received_us,
        },
        other => other,
    };
    // Tick at 50 ms: input 1 arrived at 38 ms, so it waited 12 ms.
    zone.step_at([at(mv(1, 1, 127, 0), 38_000)], 50_000);
    let snap = snapshot_of(&drain(&mut zone).snapshots[0].1);
    assert_eq!(snap.last_input_seq, 1);
    let wait = snap.input_wait.expect("an input was applied");
    assert_eq!((wait.seq(snap.last_input_seq), wait.wait_100us), (1, 120));
    // A tick without input reports none, though the newest input is still 1.
    zone.step_at([], 100_000);
    let snap = snapshot_of(&drain(&mut zone).snapshots[0].1);
    assert_eq!((snap.last_input_seq, snap.input_wait), (1, None));
    // Input 2 came late for the tick at 100 ms (at 101 ms) and input 3 on time: both
    // apply at 150 ms on saved credit, and the report names the oldest, 2, which
    // waited 49 ms: a client that meant it for the tick at 100 ms reads "1 ms late".
    zone.step_at(
        [at(mv(1, 2, 127, 0), 101_000), at(mv(1, 3, 127, 0), 140_000)],
        150_000,
    );
    let snap = snapshot_of(&drain(&mut zone).snapshots[0].1);
    assert_eq!(snap.last_input_seq, 3);
    let wait = snap.input_wait.unwrap();
    assert_eq!((wait.seq(3), wait.wait_100us), (2, 490));
}

#[test]
fn flooding_cannot_speed_up_and_gets_the_player_kicked() {
    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    zone.step([join(1), join(2)]);
    let start = zone.player_position(PlayerId(1)).unwrap();
    let mut seq = 0;
    let mut kicked = None;
    for tick in 0..100 {
        let mut cmds = vec![];
        for _ in 0..6 {
            seq += 1;
            cmds.push(mv(1, seq, 127, 0));
        }
        cmds.push(mv(2, tick + 1, 0, 127));
        zone.step(cmds);
        let o = drain(&mut zone);
        if let Some(k) = o.kicks.iter().find(|(p, _)| *p == PlayerId(1)) {
            kicked = Some((tick, k.1));
            break;
        }
        let moved = zone.player_position(PlayerId(1)).unwrap().x - start.x;
        // Never faster than one input per tick (plus the saved burst of credit_cap).
        assert!(
            moved <= 0.25 * (tick as f32 + 3.0) + 1e-3,
            "moved {moved} m in {tick} ticks"
        );
    }
    let (tick, reason) = kicked.expect("flooding player was not kicked");
    assert_eq!(reason, KickReason::TooManyViolations);
    assert!(tick < 40, "kicked only after {tick} ticks");
    assert!(zone.counters().rejected(RejectReason::Flood) > 0);
    // The honest player is still there and still moving.
    assert!(zone.player_position(PlayerId(1)).is_none());
    assert!(zone.player_position(PlayerId(2)).is_some());
}

#[test]
fn a_client_that_acknowledges_nothing_is_let_go_once_and_saved_on_leaving() {
    let mut sources = ContentSources::shipped();
    let netcode = sources.get("netcode.ron").unwrap().replacen(
        "ack_timeout_ticks: 200,",
        "ack_timeout_ticks: 40,",
        1,
    );
    sources.set("netcode.ron", netcode);
    sources.set("zones/test.ron", zone_content_text(0, 0.0));
    let mut zone = Zone::new(sources.zone("test").unwrap(), 1);
    // 1 acks every snapshot; 2 acks for 10 ticks, then never again; 3 acks each one
    // 25 ticks late (beyond the baseline ring: full snapshots, but it reads them).
    zone.step([join(1), join(2), join(3)]);
    let mut sent: std::collections::HashMap<PlayerId, Vec<u32>> = Default::default();
    let mut let_go = vec![];
    for tick in 0..120u32 {
        let mut cmds = vec![];
        for (p, ids) in &sent {
            let ack = match p.0 {
                1 => ids.last().copied(),
                2 if tick < 10 => ids.last().copied(),
                3 => ids.len().checked_sub(25).map(|i| ids[i]),
                _ => None,
            };
            if let Some(snapshot_id) = ack {
                cmds.push(ZoneCommand::Ack {
                    player: *p,
                    snapshot_id,
                });
            }
        }
        zone.step(cmds);
        let o = drain(&mut zone);
        for (p, bytes) in &o.snapshots {
            sent.entry(*p).or_default().push(snapshot_of(bytes).id);
        }
        let_go.extend(o.disconnects.iter().map(|d| (tick, d.0, d.1)));
        assert!(o.kicks.is_empty() && o.logouts.is_empty());
    }
    // Only 2, once, about 40 snapshots after its last ack (made on tick 9).
    assert_eq!(let_go.len(), 1, "{let_go:?}");
    let (tick, player, reason) = let_go[0];
    assert_eq!((player, reason), (PlayerId(2), KickReason::SlowClient));
    assert!((45..=52).contains(&tick), "let go on tick {tick}");
    // It stays (and is still sent snapshots) until its session's leave, which saves it.
    assert!(zone.player_position(PlayerId(2)).is_some());
    zone.step([ZoneCommand::Leave {
        player: PlayerId(2),
    }]);
    assert_eq!(drain(&mut zone).logouts, vec![PlayerId(2)]);
    assert!(zone.player_position(PlayerId(2)).is_none());
    assert!(zone.player_position(PlayerId(3)).is_some());
}

#[test]
fn replayed_and_invalid_inputs_are_rejected_with_events() {
    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    zone.step([join(1)]);
    drain(&mut zone);
    zone.step([mv(1, 5, 127, 0)]);
    assert!(drain(&mut zone).events.is_empty());
    zone.step([
        mv(1, 5, 127, 0), // a replay of an applied input
        mv(1, 4, 127, 0), // reordered by the network, after 5 was applied: no blame
        mv(1, 4, 127, 0), // a replay of that
        mv(1, 6, -128, 0),
    ]);
    assert_eq!(zone.counters().inputs_superseded, 1);
    let o = drain(&mut zone);
    let reasons: Vec<_> = o
        .events
        .iter()
        .map(|(_, k)| match k {
            EventKind::InputRejected { reason, .. } => *reason,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            RejectReason::StaleSequence,
            RejectReason::StaleSequence,
            RejectReason::InvalidDirection
        ]
    );
    assert!(o.kicks.is_empty());
}

#[test]
fn near_players_see_each_other_and_far_ones_do_not() {
    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    // All spawn at (100, 100); player 3 walks 95 m away (beyond 50 + 8 m).
    zone.step([join(1), join(2), join(3)]);
    let ids: std::collections::HashMap<_, _> = drain(&mut zone).welcomes.into_iter().collect();
    let mut views: std::collections::HashMap<PlayerId, ClientView> = Default::default();
    for seq in 1..=380u32 {
        // Each tick: player 3 walks west; everyone acks the newest snapshot it applied.
        let mut cmds = vec![mv(3, seq, -127, 0)];
        cmds.extend(views.iter().map(|(p, v)| ZoneCommand::Ack {
            player: *p,
            snapshot_id: v.current_id(),
        }));
        zone.step(cmds);
        for (p, bytes) in drain(&mut zone).snapshots {
            views
                .entry(p)
                .or_default()
                .apply(&snapshot_of(&bytes))
                .unwrap();
        }
    }
    let p3x = zone.player_position(PlayerId(3)).unwrap().x;
    assert!(
        p3x <= 5.0 + 1e-3,
        "player 3 should be at the west edge, is at {p3x}"
    );
    let v1 = &views[&PlayerId(1)];
    assert!(v1.entity(ids[&PlayerId(2)]).is_some(), "1 sees 2");
    assert!(v1.entity(ids[&PlayerId(3)]).is_none(), "1 does not see 3");
    assert!(
        views[&PlayerId(3)].entity(ids[&PlayerId(1)]).is_none(),
        "3 does not see 1"
    );
    assert!(
        views[&PlayerId(3)].entity(ids[&PlayerId(3)]).is_some(),
        "3 sees itself"
    );
}

#[test]
fn tracked_cap_keeps_the_nearest_and_far_ones_still_refresh() {
    // 60 wanderers around one player; desktop caps are 160 tracked / 96 per snapshot,
    // so shrink them to force the priority path.
    let mut content = zone_content(0, 0.0);
    content.netcode.tiers.desktop.tracked_cap = 20;
    content.netcode.tiers.desktop.snapshot_cap = 5;
    content.zone.npcs = vec![arcane_engine::content::NpcGroup {
        count: 200,
        speed: 2.0,
        min_leg_ticks: 5,
        max_leg_ticks: 10,
        idle_chance: 0.0,
    }];
    let mut zone = Zone::new(content, 3);
    zone.step([join(1)]);
    drain(&mut zone);
    let mut view = ClientView::new();
    let mut refreshed: std::collections::HashMap<NetId, u32> = Default::default();
    let mut last: std::collections::HashMap<NetId, (i32, i32)> = Default::default();
    for _ in 0..100 {
        let o = drain(&mut zone);
        for (_, bytes) in o.snapshots {
            let s = snapshot_of(&bytes);
            assert!(s.enters.len() + s.updates.len() <= 20);
            view.apply(&s).unwrap();
            for e in view.entities() {
                let now = (e.state.x_cm, e.state.y_cm);
                if last
                    .insert(e.net_id, now)
                    .is_some_and(|before| before != now)
                {
                    *refreshed.entry(e.net_id).or_default() += 1;
                }
            }
            zone.step([ZoneCommand::Ack {
                player: PlayerId(1),
                snapshot_id: s.id,
            }]);
        }
        if view.current_id() == 0 {
            zone.step([]);
        }
        assert!(view.entities().len() <= 20);
    }
    // Several distinct entities were refreshed, not just the nearest five.
    assert!(
        refreshed.len() > 5,
        "only {} entities ever refreshed",
        refreshed.len()
    );
}

#[test]
fn newcomers_appear_within_the_query_interval() {
    let content = zone_content(0, 0.0);
    let interval = u64::from(content.netcode.tiers.desktop.query_interval_ticks);
    assert!(interval > 1, "the shipped content staggers queries");
    let mut zone = Zone::new(content, 1);
    zone.step([join(1)]);
    let me = drain(&mut zone).welcomes[0].1;
    let mut view = ClientView::new();
    // Let player 1's view settle, then a second player spawns right next to it.
    for _ in 0..5 {
        zone.step([]);
        for (_, b) in drain(&mut zone).snapshots {
            view.apply(&snapshot_of(&b)).unwrap();
        }
    }
    zone.step([join(2)]);
    let other = drain(&mut zone).welcomes[0].1;
    let mut seen_after = None;
    for t in 0..=interval {
        if t > 0 {
            zone.step([]);
        }
        for (p, b) in drain(&mut zone).snapshots {
            if p == PlayerId(1) {
                view.apply(&snapshot_of(&b)).unwrap();
            }
        }
        if view.entity(other).is_some() {
            seen_after = Some(t);
            break;
        }
    }
    assert!(view.entity(me).is_some());
    let t = seen_after.expect("the newcomer never appeared");
    assert!(t < interval, "appeared after {t} ticks");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Over random movement with random ack loss, every decoded client view matches
    /// the server's tracked set for that client, positions within quantization; with
    /// a query every tick, nothing within the enter radius is missing. With queries
    /// further apart, the ticks between them refresh what is tracked without one.
    #[test]
    fn decoded_views_match_the_server_under_ack_loss(
        seed in 0u64..1000,
        dirs in prop::collection::vec((-127i8..=127, -127i8..=127), 40),
        ack_loss in prop::collection::vec(any::<bool>(), 40),
        query_interval in 1u8..=4,
    ) {
        let mut content = zone_content(80, 60.0);
        content.netcode.tiers.desktop.snapshot_cap = 160; // compare fresh state
        content.netcode.tiers.desktop.query_interval_ticks = query_interval;
        let mut zone = Zone::new(content, seed);
        zone.step((1..=4).map(join));
        drain(&mut zone);
        let mut views: std::collections::HashMap<PlayerId, ClientView> = Default::default();
        for (t, (x, y)) in dirs.iter().enumerate() {
            let mut cmds: Vec<_> = (1..=4).map(|p| mv(p, t as u32 + 1, *x, y.wrapping_mul(p as i8))).collect();
            for (p, v) in &views {
                if !ack_loss[t] {
                    cmds.push(ZoneCommand::Ack { player: *p, snapshot_id: v.current_id() });
                }
            }
            zone.step(cmds);
            for (p, bytes) in drain(&mut zone).snapshots {
                let v = views.entry(p).or_default();
                v.apply(&snapshot_of(&bytes)).unwrap();
            }
            // Compare with the server's truth: every entity the client sees is where
            // the server has it (within quantization) and is within the leave radius.
            let world = zone.world_mut();
            let mut q = world.query::<(&arcane_engine::common::components::Replicated, &arcane_engine::common::components::Position)>();
            let truth: std::collections::HashMap<NetId, glam::Vec2> = q.iter(world).map(|(r, p)| (r.net_id, p.0)).collect();
            for (p, v) in &views {
                let me = zone.player_position(*p).unwrap();
                for e in v.entities() {
                    let at = truth[&e.net_id];
                    prop_assert!((cm_to_metres(e.state.x_cm) - at.x).abs() <= POSITION_EPSILON_M + 1e-3);
                    prop_assert!((cm_to_metres(e.state.y_cm) - at.y).abs() <= POSITION_EPSILON_M + 1e-3);
                    prop_assert!(at.distance(me) <= 58.0 + 1e-3);
                }
                // And nothing within the enter radius is missing (newcomers wait for
                // the next query).
                let within = truth.values().filter(|q| q.distance(me) <= 50.0 - 1e-3).count();
                prop_assert!(
                    query_interval > 1 || v.entities().len() >= within,
                    "sees {} of {}", v.entities().len(), within
                );
            }
        }
    }
}

/// Each concern gives a joining player its own components (no plugin spawns
/// another's): the players plugin the entity, movement the input stream and speed,
/// combat the health and side, skills the mana and slots, persistence the inventory,
/// interest the view, replication the snapshot link. A saved player comes back with
/// what it was saved with; a reconnect starts the streams over.
#[test]
fn every_concern_equips_a_joining_player_from_its_saved_state() {
    use arcane_engine::combat::{Health, Team};
    use arcane_engine::interest::InterestState;
    use arcane_engine::movement::PlayerInput;
    use arcane_engine::persist::Inventory;
    use arcane_engine::players::Violations;
    use arcane_engine::replication::SnapshotLink;
    use arcane_engine::skills::{Caster, Mana};
    use arcane_protocol::saved::{ItemStack, SavedPlayer};

    let mut zone = Zone::new(zone_content(0, 0.0), 1);
    let saved = SavedPlayer {
        x: 50.0,
        y: 60.0,
        hp: 77,
        mana: 12,
        inventory: vec![ItemStack {
            item: "gem".into(),
            count: 3,
        }],
        creatures: Vec::new(),
    };
    zone.step([ZoneCommand::Join {
        player: PlayerId(9),
        tier: ClientTier::Mobile,
        role: Role::Player,
        saved: Some(Box::new(saved.clone())),
    }]);
    let e = zone.player_entity(PlayerId(9)).unwrap();
    let world = zone.world_mut();
    let ent = world.entity(e);
    assert_eq!(ent.get::<Health>().unwrap().hp, 77);
    assert_eq!(ent.get::<Team>(), Some(&Team::Players));
    // Saved with 12; the join's tick regenerates one tick's worth (6 per second).
    assert!((ent.get::<Mana>().unwrap().current - 12.3).abs() < 1e-4);
    assert!(!ent.get::<Caster>().unwrap().slots.is_empty());
    assert_eq!(ent.get::<Inventory>().unwrap().0, saved.inventory);
    assert_eq!(ent.get::<InterestState>().unwrap().tier, ClientTier::Mobile);
    assert!(ent.contains::<PlayerInput>() && ent.contains::<SnapshotLink>());
    assert!(ent.contains::<Violations>());
    assert_eq!(
        zone.player_position(PlayerId(9)),
        Some(glam::Vec2::new(50.0, 60.0))
    );

    // Inputs 1..=3 arrive; then the client reconnects and numbers from 1 again.
    zone.step((1..=3).map(|seq| mv(9, seq, 127, 0)));
    let world = zone.world_mut();
    assert_eq!(world.get::<PlayerInput>(e).unwrap().last_seq_received, 3);
    zone.step([join(9)]);
    let world = zone.world_mut();
    assert_eq!(world.get::<PlayerInput>(e).unwrap().last_seq_received, 0);
    assert_eq!(
        world.get::<InterestState>(e).unwrap().tier,
        ClientTier::Desktop,
        "a fresh view of the new tier"
    );
    assert_eq!(zone.player_count(), 1, "the same entity, not a second one");
}
