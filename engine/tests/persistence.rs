//! Persistence and exits, engine side: a saved player comes back as saved, checkpoints
//! come on their interval, an exit freezes the player and hands over its state at the
//! arrival point, a failed transfer unfreezes it, and a logout carries the final state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_engine::content::{ContentSources, ExitTarget, ZoneContent};
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::saved::{
    ItemStack, SavedCreature, SavedCreatureState, SavedGene, SavedPlayer,
};
use arcane_protocol::ticket::Role;
use arcane_protocol::{ClientTier, EventKind, MoveInput};

/// A 100 m square with an east border to `forest` and checkpoints every 10 ticks.
fn content() -> ZoneContent {
    let zone = r#"ZoneDef(
        id: "west",
        bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
        player_speed: 5.0,
        max_players: 10,
        spawn_points: [(50.0, 50.0)],
        spawn_radius: 0.0,
        exits: [
            Exit(area: Bounds(min: (95.0, 0.0), max: (100.0, 100.0)), to: Zone("forest"), arrive: KeepY(8.0)),
        ],
    )"#;
    let mut sources = ContentSources::shipped();
    sources.set("zones/west.ron", zone.to_string());
    sources.set(
        "netcode.ron",
        sources.get("netcode.ron").unwrap().replace(
            "tiers:",
            "checkpoint_interval_ticks: 10,\n    transfer_retry_ticks: 20,\n    tiers:",
        ),
    );
    sources.zone("west").unwrap()
}

fn saved(x: f32, y: f32) -> SavedPlayer {
    SavedPlayer {
        x,
        y,
        hp: 77,
        mana: 12,
        inventory: vec![ItemStack {
            item: "gold".into(),
            count: 40,
        }],
        creatures: vec![SavedCreature {
            id: 3,
            species: "mossling".into(),
            gene_version: 1,
            genome: [("size".to_string(), SavedGene::Numeric(1.2))].into(),
            parents: Some((1, 2)),
            generation: 1,
            born_zone: "meadow".into(),
            born_tick: 5,
            state: SavedCreatureState::Active,
            breed_ready_in_ticks: 0,
        }],
    }
}

fn join(p: u64, state: Option<SavedPlayer>) -> ZoneCommand {
    ZoneCommand::Join {
        player: PlayerId(p),
        tier: ClientTier::Desktop,
        role: Role::Player,
        saved: state.map(Box::new),
    }
}

fn east(p: u64, seq: u32) -> ZoneCommand {
    ZoneCommand::Input {
        player: PlayerId(p),
        input: MoveInput {
            seq,
            dir_x: 127,
            dir_y: 0,
        },
        received_us: 0,
    }
}

#[test]
fn a_saved_player_returns_as_saved_and_is_checkpointed_on_the_interval() {
    let mut zone = Zone::new(content(), 1);
    zone.step([join(1, Some(saved(30.0, 60.0))), join(2, None)]);
    assert_eq!(zone.saved_player(PlayerId(1)).unwrap(), saved(30.0, 60.0));
    let fresh = zone.saved_player(PlayerId(2)).unwrap();
    assert_eq!((fresh.x, fresh.y), (50.0, 50.0));
    assert!(fresh.inventory.is_empty());
    let mut checkpoints = vec![];
    for _ in 0..25 {
        zone.step([]);
        let tick = zone.tick();
        for out in zone.drain_outputs() {
            if let ZoneOutput::Checkpoint(states) = out {
                checkpoints.push((tick, states));
            }
        }
    }
    let ticks: Vec<u64> = checkpoints.iter().map(|(t, _)| *t).collect();
    assert_eq!(ticks, [11, 21], "every 10 ticks");
    let (_, states) = &checkpoints[0];
    assert_eq!(states.len(), 2);
    let (_, p1) = states.iter().find(|(p, _)| *p == PlayerId(1)).unwrap();
    // Mana regenerates meanwhile; everything else is as saved.
    assert!(p1.mana > 12);
    assert_eq!(
        *p1,
        SavedPlayer {
            mana: p1.mana,
            ..saved(30.0, 60.0)
        }
    );
    // A saved position inside an obstacle or out of bounds is not trusted.
    zone.step([join(3, Some(saved(500.0, 500.0)))]);
    let p3 = zone.saved_player(PlayerId(3)).unwrap();
    assert!((0.0..=100.0).contains(&p3.x) && (0.0..=100.0).contains(&p3.y));
    // A player saved dead comes back alive at a respawn point.
    zone.step([join(
        4,
        Some(SavedPlayer {
            hp: 0,
            ..saved(30.0, 30.0)
        }),
    )]);
    assert!(zone.saved_player(PlayerId(4)).unwrap().hp > 0);
}

#[test]
fn an_exit_freezes_the_player_and_hands_over_its_state_at_the_arrival_point() {
    let mut zone = Zone::new(content(), 1);
    zone.step([
        join(1, Some(saved(93.0, 40.0))),
        join(2, Some(saved(60.0, 40.0))),
    ]);
    zone.drain_outputs().for_each(drop);
    let mut transfer = None;
    let mut seq = 0;
    for _ in 0..40 {
        seq += 1;
        zone.step([east(1, seq)]);
        for out in zone.drain_outputs() {
            if let ZoneOutput::Transfer { player, to, state } = out {
                assert!(transfer.is_none(), "one transfer per freeze");
                transfer = Some((player, to, state));
            }
        }
    }
    let (player, to, state) = transfer.expect("walking east crosses the border");
    assert_eq!(player, PlayerId(1));
    assert_eq!(to, ExitTarget::Zone("forest".into()));
    assert_eq!((state.x, state.y), (8.0, 40.0), "arrives at x=8 keeping y");
    assert_eq!(
        (state.hp, state.inventory.clone()),
        (77, saved(0.0, 0.0).inventory)
    );
    // Frozen: inputs do nothing, and checkpoints leave the player out.
    let frozen_at = zone.player_position(PlayerId(1)).unwrap();
    let mut checkpointed = vec![];
    for _ in 0..12 {
        seq += 1;
        zone.step([east(1, seq)]);
        for out in zone.drain_outputs() {
            if let ZoneOutput::Checkpoint(states) = out {
                checkpointed.extend(states.into_iter().map(|(p, _)| p));
            }
        }
    }
    assert_eq!(zone.player_position(PlayerId(1)).unwrap(), frozen_at);
    assert_eq!(checkpointed, [PlayerId(2)]);

    // The transfer fails: unfrozen, told why, and the exit waits before trying again.
    zone.step([ZoneCommand::TransferFailed {
        player: PlayerId(1),
        detail: "forest is closed".into(),
    }]);
    let notices: Vec<_> = zone
        .drain_outputs()
        .filter_map(|o| match o {
            ZoneOutput::Event { player, event } => Some((player, event.kind)),
            _ => None,
        })
        .collect();
    assert!(
        notices.iter().any(|(p, k)| *p == PlayerId(1)
            && matches!(k, EventKind::Notice { text } if text.contains("forest is closed"))),
        "{notices:?}"
    );
    let mut again = vec![];
    for i in 0..30 {
        zone.step([]);
        if zone
            .drain_outputs()
            .any(|o| matches!(o, ZoneOutput::Transfer { .. }))
        {
            again.push(i);
        }
    }
    assert_eq!(again.len(), 1, "one retry after the wait: {again:?}");
    assert!(again[0] >= 18, "not before the retry wait: {again:?}");

    // Leaving while frozen saves nothing (the handoff is the only copy); a normal
    // logout carries the final state.
    zone.step([
        ZoneCommand::Leave {
            player: PlayerId(1),
        },
        ZoneCommand::Leave {
            player: PlayerId(2),
        },
    ]);
    let logouts: Vec<_> = zone
        .drain_outputs()
        .filter_map(|o| match o {
            ZoneOutput::Logout { player, state } => Some((player, state)),
            _ => None,
        })
        .collect();
    assert_eq!(logouts.len(), 1);
    let (who, last) = &logouts[0];
    assert_eq!(*who, PlayerId(2));
    assert_eq!(
        *last,
        SavedPlayer {
            mana: last.mana,
            ..saved(60.0, 40.0)
        }
    );
}

#[test]
fn an_evacuation_hands_every_player_over_where_they_stand_once() {
    let mut zone = Zone::new(content(), 1);
    zone.step([
        join(1, Some(saved(30.0, 60.0))),
        join(2, Some(saved(10.0, 20.0))),
    ]);
    zone.drain_outputs().for_each(drop);
    let to = ExitTarget::Zone("west".into());
    zone.step([ZoneCommand::Evacuate { to: to.clone() }]);
    let mut handed: Vec<(u64, SavedPlayer)> = zone
        .drain_outputs()
        .filter_map(|o| match o {
            ZoneOutput::Transfer {
                player,
                to: t,
                state,
            } => {
                assert_eq!(t, to);
                Some((player.0, state))
            }
            _ => None,
        })
        .collect();
    handed.sort_by_key(|(p, _)| *p);
    assert_eq!(handed, vec![(1, saved(30.0, 60.0)), (2, saved(10.0, 20.0))]);
    // Frozen: inputs are ignored, and a second evacuation hands nobody over twice.
    zone.step([east(1, 1), ZoneCommand::Evacuate { to: to.clone() }]);
    assert!(
        !zone
            .drain_outputs()
            .any(|o| matches!(o, ZoneOutput::Transfer { .. })),
        "players already in transfer are not handed over again"
    );
    // A refused transfer unfreezes the player, who can then be evacuated again.
    zone.step([ZoneCommand::TransferFailed {
        player: PlayerId(1),
        detail: "no copy is running".into(),
    }]);
    zone.drain_outputs().for_each(drop);
    zone.step([ZoneCommand::Evacuate { to }]);
    let again: Vec<u64> = zone
        .drain_outputs()
        .filter_map(|o| match o {
            ZoneOutput::Transfer { player, .. } => Some(player.0),
            _ => None,
        })
        .collect();
    assert_eq!(again, vec![1]);
}

#[test]
fn a_player_kicked_for_violations_is_saved_where_they_stand_first() {
    let mut zone = Zone::new(content(), 1);
    zone.step([join(1, Some(saved(20.0, 50.0)))]);
    zone.drain_outputs().for_each(drop);
    // Fewer legitimate steps than a checkpoint interval: only the kick's save can
    // hold where this walk ended.
    for seq in 1..=6 {
        zone.step([east(1, seq)]);
    }
    zone.drain_outputs().for_each(drop);
    let here = zone.player_position(PlayerId(1)).unwrap();
    assert!(here.x > 21.0, "walked east: {here}");

    // Replays of an old input, never applied, until the zone has had enough.
    let mut outputs = vec![];
    for _ in 0..100 {
        zone.step((0..8).map(|_| east(1, 2)));
        outputs.extend(zone.drain_outputs());
        if zone.player_position(PlayerId(1)).is_none() {
            break;
        }
    }
    let logout = outputs
        .iter()
        .position(|o| matches!(o, ZoneOutput::Logout { .. }));
    let kick = outputs
        .iter()
        .position(|o| matches!(o, ZoneOutput::Kick { .. }));
    let (Some(logout), Some(kick)) = (logout, kick) else {
        panic!("expected a logout and a kick, got {outputs:?}");
    };
    assert!(logout < kick, "saved before the kick closes the session");
    let ZoneOutput::Logout { player, state } = &outputs[logout] else {
        unreachable!()
    };
    assert_eq!(*player, PlayerId(1));
    assert_eq!(
        *state,
        SavedPlayer {
            x: here.x,
            y: here.y,
            mana: state.mana,
            ..saved(20.0, 50.0)
        }
    );
}

/// The sequence a stopped-and-continued zone once died of: a backlog of inputs taken
/// for a flood kicks a player on the very tick an exit freezes it.
#[test]
fn a_flood_kick_on_the_tick_of_an_exit_hands_the_player_over_once_without_a_fault() {
    let mut zone = Zone::new(content(), 1);
    // A step short of the exit.
    zone.step([join(1, Some(saved(94.9, 50.0)))]);
    zone.drain_outputs().for_each(drop);
    // The step into the exit, and enough replays of it to cross the kick threshold
    // in the same tick.
    zone.step((0..200).map(|_| east(1, 1)));
    let outputs: Vec<ZoneOutput> = zone.drain_outputs().collect();
    let transfers = outputs
        .iter()
        .filter(|o| matches!(o, ZoneOutput::Transfer { .. }))
        .count();
    assert_eq!(transfers, 1, "{outputs:?}");
    assert!(
        outputs.iter().any(|o| matches!(o, ZoneOutput::Kick { .. })),
        "{outputs:?}"
    );
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, ZoneOutput::Logout { .. })),
        "the handoff is the only state of a frozen player: {outputs:?}"
    );
    assert_eq!(zone.counters().system_faults, 0);
    assert_eq!(zone.player_position(PlayerId(1)), None);
    // The zone goes on.
    zone.step([join(2, None)]);
    assert!(zone.player_position(PlayerId(2)).is_some());
}

/// After a stall, every client's queued inputs arrive in one burst: it is refused as
/// a flood (the inputs are lost like dropped packets) but kicks nobody. The same burst
/// without the host's `Resumed` kicks, so the test shows what the amnesty does.
#[test]
fn the_input_backlog_after_a_stall_kicks_nobody_but_the_same_burst_otherwise_does() {
    for resumed in [true, false] {
        let mut zone = Zone::new(content(), 1);
        zone.step([join(1, Some(saved(20.0, 50.0)))]);
        zone.drain_outputs().for_each(drop);
        let mut burst: Vec<ZoneCommand> = Vec::new();
        if resumed {
            burst.push(ZoneCommand::Resumed { missed_ticks: 160 });
        }
        // Eight seconds of honest inputs at 20 Hz, all at once.
        burst.extend((1..=160).map(|seq| east(1, seq)));
        zone.step(burst);
        for seq in 161..200 {
            zone.step([east(1, seq)]);
        }
        let kicked = zone
            .drain_outputs()
            .any(|o| matches!(o, ZoneOutput::Kick { .. }));
        assert_eq!(kicked, !resumed, "resumed: {resumed}");
        if resumed {
            let here = zone.player_position(PlayerId(1)).unwrap();
            assert!(here.x > 25.0, "kept walking: {here}");
        }
    }
}
