//! Creature scenarios: capture with each refusal, player breeding through an egg that
//! survives a disconnect, wild breeding under per-cell caps (a property test over
//! random histories), determinism of every genome, and content reloads that remove a
//! species.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::hash::Hasher;

use arcane_engine::content::{ContentSources, ZoneContent};
use arcane_engine::creatures::{BreedingCells, Roster, WildCreature};
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::saved::{SavedCreatureState, SavedPlayer};
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    AdminCommand, BreedOutcome, BreedRefusal, CaptureOutcome, CaptureRefusal, ClientTier,
    CreatureId, EventKind, NetId,
};
use proptest::prelude::*;

/// A walled 100 m square, cut into 25 m cells, with a few wild creatures in the east.
fn content(initial: u32, cap: u32) -> ZoneContent {
    let mut s = ContentSources::shipped();
    s.set(
        "zones/pen.ron",
        format!(
            r#"ZoneDef(
                id: "pen",
                bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
                player_speed: 5.0,
                max_players: 16,
                spawn_points: [(20.0, 20.0)],
                spawn_radius: 0.0,
                obstacles: [Box(min: (26.0, 0.0), max: (27.0, 40.0))],
                wild: Some(WildDef(
                    cell_size: 25.0,
                    breed_interval_s: (0.5, 1.0),
                    populations: [
                        WildPopulation(species: "mossling", area: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)), initial: {initial}, cap_per_cell: {cap}),
                    ],
                )),
            )"#
        ),
    );
    let creatures = s
        .get("creatures.ron")
        .unwrap()
        .replace("adult_after_s: 20.0", "adult_after_s: 0.0")
        .replace("\"test_area\"]", "\"test_area\", \"pen\"]")
        .replace("incubation_s: 20.0", "incubation_s: 2.0")
        .replace("cooldown_s: 30.0", "cooldown_s: 1.0");
    s.set("creatures.ron", creatures);
    s.zone("pen").unwrap()
}

fn join(p: u64, role: Role, saved: Option<SavedPlayer>) -> ZoneCommand {
    ZoneCommand::Join {
        player: PlayerId(p),
        tier: ClientTier::Desktop,
        role,
        saved: saved.map(Box::new),
    }
}

fn admin(p: u64, seq: u32, command: AdminCommand) -> ZoneCommand {
    ZoneCommand::Admin {
        player: PlayerId(p),
        seq,
        command: Box::new(command),
    }
}

/// Steps once and returns the events and saves of the tick.
fn step(zone: &mut Zone, commands: Vec<ZoneCommand>) -> (Vec<EventKind>, Vec<ZoneOutput>) {
    zone.step(commands);
    let mut events = Vec::new();
    let mut rest = Vec::new();
    for o in zone.drain_outputs() {
        match o {
            ZoneOutput::Event { event, .. } => events.push(event.kind),
            ZoneOutput::Snapshot { .. } => {}
            other => rest.push(other),
        }
    }
    (events, rest)
}

/// Spawns a creature by admin command at a point and returns its net id.
fn spawn_at(zone: &mut Zone, seq: u32, x: f32, y: f32, genes: &[(&str, &str)]) -> NetId {
    let (events, _) = step(
        zone,
        vec![admin(
            1,
            seq,
            AdminCommand::SpawnCreature {
                species: "mossling".into(),
                x_cm: (x * 100.0) as i32,
                y_cm: (y * 100.0) as i32,
                genes: genes
                    .iter()
                    .map(|(g, v)| (g.to_string(), v.to_string()))
                    .collect(),
            },
        )],
    );
    let detail = events
        .iter()
        .find_map(|e| match e {
            EventKind::AdminResult {
                ok: true, detail, ..
            } => Some(detail.clone()),
            EventKind::AdminResult { detail, .. } => panic!("spawn refused: {detail}"),
            _ => None,
        })
        .unwrap();
    let id = detail
        .split("(id ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    // One more tick so the spatial index has it.
    step(zone, vec![]);
    NetId(id.parse().unwrap())
}

fn capture(zone: &mut Zone, seq: u32, target: NetId) -> CaptureOutcome {
    let (events, _) = step(
        zone,
        vec![ZoneCommand::Capture {
            player: PlayerId(1),
            seq,
            target,
        }],
    );
    events
        .iter()
        .find_map(|e| match e {
            EventKind::CaptureResult { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .unwrap()
}

fn set_hp(zone: &mut Zone, seq: u32, target: NetId, hp: u32) {
    step(
        zone,
        vec![admin(1, seq, AdminCommand::SetHp { target, hp })],
    );
}

fn roster(zone: &mut Zone) -> Roster {
    let e = zone.player_entity(PlayerId(1)).unwrap();
    zone.world_mut().get::<Roster>(e).unwrap().clone()
}

/// Captures a weakened docile mossling next to the player (retrying escapes) and
/// returns its id.
fn catch_one(zone: &mut Zone, seq: &mut u32, x: f32) -> CreatureId {
    let target = spawn_at(
        zone,
        *seq,
        x,
        22.0,
        &[("temperament", "docile"), ("speed", "0.8")],
    );
    *seq += 1;
    set_hp(zone, *seq, target, 1);
    *seq += 1;
    for _ in 0..200 {
        match capture(zone, *seq, target) {
            CaptureOutcome::Captured { creature } => {
                *seq += 1;
                return creature;
            }
            CaptureOutcome::Escaped | CaptureOutcome::Refused(CaptureRefusal::Cooldown) => {}
            other => panic!("{other:?}"),
        }
        *seq += 1;
    }
    panic!("never captured");
}

#[test]
fn capture_is_validated_and_moves_the_creature_into_the_roster() {
    let mut zone = Zone::new(content(0, 4), 7);
    step(&mut zone, vec![join(1, Role::Admin, None)]);
    let far = spawn_at(&mut zone, 1, 60.0, 60.0, &[("temperament", "docile")]);
    assert_eq!(
        capture(&mut zone, 2, far),
        CaptureOutcome::Refused(CaptureRefusal::OutOfRange)
    );
    let near = spawn_at(
        &mut zone,
        3,
        24.0,
        21.0,
        &[("temperament", "docile"), ("speed", "0.8")],
    );
    assert_eq!(
        capture(&mut zone, 4, near),
        CaptureOutcome::Refused(CaptureRefusal::TooHealthy)
    );
    assert_eq!(
        capture(&mut zone, 5, NetId(99_999)),
        CaptureOutcome::Refused(CaptureRefusal::NotACreature)
    );
    // Behind the wall at x = 26..27.
    let hidden = spawn_at(
        &mut zone,
        6,
        27.5,
        20.0,
        &[("temperament", "docile"), ("speed", "0.8")],
    );
    set_hp(&mut zone, 7, hidden, 1);
    assert_eq!(
        capture(&mut zone, 8, hidden),
        CaptureOutcome::Refused(CaptureRefusal::NoLineOfSight)
    );
    // A replayed sequence number changes nothing.
    assert_eq!(
        capture(&mut zone, 8, near),
        CaptureOutcome::Refused(CaptureRefusal::StaleSequence)
    );
    let mut seq = 10;
    let id = catch_one(&mut zone, &mut seq, 23.0);
    let r = roster(&mut zone);
    assert_eq!(r.creatures.len(), 1);
    assert_eq!(r.creatures[0].id, id);
    assert_eq!(r.creatures[0].species, "mossling");
    // It left the world and is saved with the player.
    let world = zone.world_mut();
    let wild = world.query::<&WildCreature>().iter(world).count();
    assert_eq!(wild, 3, "far, near and hidden are still wild");
    let saved = zone.saved_player(PlayerId(1)).unwrap();
    assert_eq!(saved.creatures.len(), 1);
    assert_eq!(saved.creatures[0].id, id);
    let c = zone.counters();
    assert_eq!(c.captures, 1);
    assert!(c.capture_refused[CaptureRefusal::OutOfRange as usize] >= 1);
}

/// Where the wild creature `net` is.
fn creature_at(zone: &mut Zone, net: NetId) -> glam::Vec2 {
    let world = zone.world_mut();
    let mut q = world.query::<(
        &arcane_engine::common::components::Replicated,
        &arcane_engine::common::components::Position,
    )>();
    q.iter(world).find(|(r, _)| r.net_id == net).unwrap().1.0
}

#[test]
fn skittish_creatures_flee_and_aggressive_ones_bite_the_weak() {
    let mut zone = Zone::new(content(0, 4), 7);
    step(&mut zone, vec![join(1, Role::Admin, None)]);
    let me = zone.player_position(PlayerId(1)).unwrap();
    // West of the player (the wall is to the east).
    let shy = spawn_at(
        &mut zone,
        1,
        me.x - 3.0,
        me.y,
        &[("temperament", "skittish")],
    );
    for _ in 0..40 {
        step(&mut zone, vec![]);
    }
    assert!(creature_at(&mut zone, shy).distance(me) > 6.0, "it ran off");

    // A healthy player is left alone; a weakened one is bitten.
    let fierce = spawn_at(
        &mut zone,
        2,
        me.x - 1.0,
        me.y + 1.0,
        &[("temperament", "aggressive")],
    );
    let bites = |zone: &mut Zone| {
        (0..40)
            .flat_map(|_| step(zone, vec![]).0)
            .filter(|e| matches!(e, EventKind::Damage { source, .. } if *source == fierce))
            .count()
    };
    assert_eq!(bites(&mut zone), 0);
    step(
        &mut zone,
        vec![admin(
            1,
            3,
            AdminCommand::SetHp {
                target: NetId(0),
                hp: 30,
            },
        )],
    );
    assert!(bites(&mut zone) >= 1);
}

fn breed(zone: &mut Zone, seq: u32, first: CreatureId, second: CreatureId) -> BreedOutcome {
    let (events, _) = step(
        zone,
        vec![ZoneCommand::Breed {
            player: PlayerId(1),
            seq,
            first,
            second,
        }],
    );
    events
        .iter()
        .find_map(|e| match e {
            EventKind::BreedResult { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .unwrap()
}

#[test]
fn an_egg_survives_a_disconnect_and_hatches_once_with_its_lineage() {
    let mut zone = Zone::new(content(0, 4), 7);
    step(&mut zone, vec![join(1, Role::Admin, None)]);
    let mut seq = 1;
    let a = catch_one(&mut zone, &mut seq, 23.0);
    let b = catch_one(&mut zone, &mut seq, 24.0);
    assert_eq!(
        breed(&mut zone, seq, a, a),
        BreedOutcome::Refused(BreedRefusal::SameCreature)
    );
    assert_eq!(
        breed(&mut zone, seq + 1, a, 12_345),
        BreedOutcome::Refused(BreedRefusal::NotOwned)
    );
    let BreedOutcome::EggLaid { egg, .. } = breed(&mut zone, seq + 2, a, b) else {
        panic!("no egg");
    };
    // Both parents rest now.
    assert_eq!(
        breed(&mut zone, seq + 3, a, b),
        BreedOutcome::Refused(BreedRefusal::Cooldown)
    );
    // Disconnect mid-incubation: the logout carries the egg.
    let (_, out) = step(
        &mut zone,
        vec![ZoneCommand::Leave {
            player: PlayerId(1),
        }],
    );
    let state = out
        .iter()
        .find_map(|o| match o {
            ZoneOutput::Logout { state, .. } => Some(state.clone()),
            _ => None,
        })
        .unwrap();
    let held: Vec<_> = state.creatures.iter().map(|c| c.id).collect();
    assert_eq!(held, [a, b, egg]);
    assert!(matches!(
        state.creatures[2].state,
        SavedCreatureState::Egg { .. }
    ));
    // Back (in another zone, even): the egg hatches once, in place.
    let mut zone = Zone::new(content(0, 4), 99);
    step(&mut zone, vec![join(1, Role::Player, Some(state))]);
    let mut hatched = 0;
    for _ in 0..80 {
        let (events, _) = step(&mut zone, vec![]);
        hatched += events
            .iter()
            .filter(|e| matches!(e, EventKind::RosterEntry { creature } if creature.id == egg && creature.hatch_tick.is_none()))
            .count();
    }
    assert_eq!(hatched, 1);
    let r = roster(&mut zone);
    assert_eq!(r.creatures.len(), 3, "nothing lost or duplicated");
    let child = r.get(egg).unwrap();
    assert_eq!(child.parents, Some((a, b)));
    assert_eq!(child.generation, 1);
    assert!(child.hatch_tick.is_none());
    // The roster message shows it.
    let (events, _) = step(
        &mut zone,
        vec![ZoneCommand::RosterRequest {
            player: PlayerId(1),
        }],
    );
    let shown = events
        .iter()
        .find_map(|e| match e {
            EventKind::Roster { creatures, .. } => Some(creatures.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(shown.len(), 3);
    assert!(
        shown
            .iter()
            .any(|c| c.id == egg && c.parents == Some((a, b)) && !c.traits.is_empty())
    );
    // Parent × child is refused by the lineage rule (once cooldowns are over).
    for _ in 0..60 {
        step(&mut zone, vec![]);
    }
    assert_eq!(
        breed(&mut zone, 1, a, egg),
        BreedOutcome::Refused(BreedRefusal::Lineage)
    );
}

/// Every cell holds at most its cap of each species, and the grid's counts are the
/// creatures that exist.
fn check_caps(zone: &mut Zone) {
    let world = zone.world_mut();
    let mut actual = std::collections::HashMap::new();
    for c in world.query::<&WildCreature>().iter(world) {
        *actual
            .entry((c.cell, usize::from(c.species)))
            .or_insert(0u32) += 1;
    }
    let cells = world.resource::<BreedingCells>();
    for (cell, species, n, cap) in cells.occupancy() {
        assert!(
            n <= cap,
            "cell {cell} holds {n} of species {species}, cap {cap}"
        );
        assert_eq!(actual.get(&(cell, species)).copied().unwrap_or(0), n);
    }
    let total: u32 = actual.values().sum();
    assert_eq!(u64::from(total), cells.population().iter().sum::<u64>());
}

#[derive(Debug, Clone)]
enum Op {
    Ticks(u8),
    Spawn(u8, u8),
    SetPopulation(u8, u8, u8),
    Kill(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..40).prop_map(Op::Ticks),
        (0u8..100, 0u8..100).prop_map(|(x, y)| Op::Spawn(x, y)),
        (0u8..100, 0u8..100, 0u8..8).prop_map(|(x, y, n)| Op::SetPopulation(x, y, n)),
        any::<u8>().prop_map(Op::Kill),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Wild breeding, wandering, admin spawns and population changes, and deaths in
    /// any order never put a cell over its cap.
    #[test]
    fn a_cell_never_exceeds_its_cap(seed in any::<u64>(), cap in 1u32..4, ops in prop::collection::vec(op(), 1..25)) {
        let mut zone = Zone::new(content(4 * cap, cap), seed);
        step(&mut zone, vec![join(1, Role::Admin, None)]);
        check_caps(&mut zone);
        for (seq, op) in (1u32..).zip(ops) {
            match op {
                Op::Ticks(n) => for _ in 0..n {
                    step(&mut zone, vec![]);
                    check_caps(&mut zone);
                },
                Op::Spawn(x, y) => {
                    step(&mut zone, vec![admin(1, seq, AdminCommand::SpawnCreature {
                        species: "mossling".into(), x_cm: i32::from(x) * 100, y_cm: i32::from(y) * 100, genes: vec![],
                    })]);
                }
                Op::SetPopulation(x, y, n) => {
                    step(&mut zone, vec![admin(1, seq, AdminCommand::SetCellPopulation {
                        species: "mossling".into(), x_cm: i32::from(x) * 100, y_cm: i32::from(y) * 100, count: u32::from(n),
                    })]);
                }
                Op::Kill(k) => {
                    let world = zone.world_mut();
                    let ids: Vec<u32> = world
                        .query::<(&WildCreature, &arcane_engine::common::components::Replicated)>()
                        .iter(world)
                        .map(|(_, r)| r.net_id.0)
                        .collect();
                    if !ids.is_empty() {
                        let target = NetId(ids[usize::from(k) % ids.len()]);
                        step(&mut zone, vec![admin(1, seq, AdminCommand::SetHp { target, hp: 0 })]);
                    }
                }
            }
            check_caps(&mut zone);
        }
    }
}

/// Every genome of every wild creature, in wild-id order, hashed.
fn genomes(zone: &mut Zone) -> (usize, u64) {
    let world = zone.world_mut();
    let mut all: Vec<(u32, u64)> = world
        .query::<&WildCreature>()
        .iter(world)
        .map(|c| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.genome.hash_into(&mut h);
            h.write_u16(c.species);
            h.write_u16(c.generation);
            (c.wild_id, h.finish())
        })
        .collect();
    all.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (id, g) in &all {
        h.write_u32(*id);
        h.write_u64(*g);
    }
    (all.len(), h.finish())
}

#[test]
fn the_same_seed_and_inputs_give_the_same_creatures() {
    let run = |seed: u64| {
        let mut zone = Zone::new(content(12, 3), seed);
        let mut births = 0;
        for t in 0..600u32 {
            let cmds = if t == 0 {
                vec![join(1, Role::Admin, None)]
            } else {
                vec![]
            };
            zone.step(cmds);
            zone.drain_outputs().for_each(drop);
            births = zone.counters().creature_births;
        }
        (genomes(&mut zone), births, zone.state_hash())
    };
    let (a, births, hash) = run(42);
    assert!(births > 0, "wild breeding happened");
    assert_eq!(run(42), (a, births, hash));
    assert_ne!(run(43).0, a);
}

#[test]
fn a_reload_that_removes_a_species_keeps_owned_ones_and_clears_wild_ones() {
    let mut zone = Zone::new(content(6, 3), 5);
    step(&mut zone, vec![join(1, Role::Admin, None)]);
    let mut seq = 1;
    let owned = catch_one(&mut zone, &mut seq, 23.0);
    // The new content: mosslings are gone (and so are their crosses and populations).
    let mut s = ContentSources::shipped();
    let creatures = s
        .get("creatures.ron")
        .unwrap()
        .replace(
            r#"SpeciesDef(id: "mossling", name: "Mossling", max_hp: 60, speed: 2.0, attack: 3,
            capture_difficulty: 0.2, habitats: ["meadow", "forest", "test_area"], adult_after_s: 20.0),"#,
            "",
        )
        .replace(r#"Cross(parents: ("mossling", "emberfox"), offspring: "thornback"),"#, "");
    s.set("creatures.ron", creatures);
    s.set(
        "zones/pen.ron",
        r#"ZoneDef(id: "pen", bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)), player_speed: 5.0,
            max_players: 16, spawn_points: [(20.0, 20.0)], spawn_radius: 0.0)"#,
    );
    let next = s.zone("pen").unwrap();
    assert!(next.creatures.species_index("mossling").is_none());
    zone.reload(next).unwrap();
    for _ in 0..5 {
        step(&mut zone, vec![]);
    }
    let world = zone.world_mut();
    assert_eq!(world.query::<&WildCreature>().iter(world).count(), 0);
    let r = roster(&mut zone);
    assert_eq!(
        r.get(owned).unwrap().species,
        "mossling",
        "owned creatures are untouched"
    );
    let saved = zone.saved_player(PlayerId(1)).unwrap();
    assert_eq!(saved.creatures[0].id, owned);
}
