//! The state digest the journal records: equal for equal runs, different for a
//! different seed, and precise when one thing changes (the part and the entity);
//! a headless zone (a replay: no views, no snapshots) reaches the same digests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_engine::combat::Health;
use arcane_engine::common::components::Replicated;
use arcane_engine::content::ContentSources;
use arcane_engine::{PlayerId, Zone, ZoneCommand};
use arcane_protocol::ticket::Role;
use arcane_protocol::{CastIntent, CastTarget, ClientTier, MoveInput};

/// Ten ticks of three players walking and casting, from `seed`.
fn run(seed: u64, headless: bool) -> Zone {
    let mut zone = Zone::new(ContentSources::shipped().zone("meadow").unwrap(), seed);
    zone.set_headless(headless);
    zone.step((1..=3).map(|p| ZoneCommand::Join {
        player: PlayerId(p),
        tier: ClientTier::Desktop,
        role: Role::Player,
        saved: None,
    }));
    for t in 1..=10u32 {
        let mut commands = Vec::new();
        for p in 1..=3u64 {
            commands.push(ZoneCommand::Input {
                player: PlayerId(p),
                input: MoveInput {
                    seq: t,
                    dir_x: 127,
                    dir_y: (p as i8) * 20,
                },
                received_us: u64::from(t) * 50_000,
            });
            if t % 4 == 0 {
                commands.push(ZoneCommand::Cast {
                    player: PlayerId(p),
                    intent: CastIntent {
                        seq: t,
                        slot: 1,
                        target: CastTarget::Caster,
                    },
                });
            }
        }
        zone.step_at(commands, u64::from(t) * 50_000);
        zone.drain_outputs().for_each(drop);
    }
    zone
}

#[test]
fn equal_runs_agree_part_by_part_and_another_seed_does_not() {
    let (mut a, mut b) = (run(5, false), run(5, false));
    let (da, db) = (a.state_digest(true), b.state_digest(true));
    assert_eq!(da, db);
    assert!(
        da.parts.len() >= 12,
        "{:?}",
        da.parts.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    assert!(
        da.parts
            .iter()
            .all(|p| !p.rows.is_empty() || p.name == "projectiles")
    );
    assert_ne!(run(6, false).state_hash(), a.state_hash());
}

#[test]
fn one_changed_hp_is_named_by_part_and_entity() {
    let mut zone = run(5, false);
    let before = zone.state_digest(true);
    let world = zone.world_mut();
    let mut q = world.query::<(&Replicated, &mut Health)>();
    let (net_id, mut health) = q.iter_mut(world).next().unwrap();
    let net_id = u64::from(net_id.net_id.0);
    health.hp = if health.hp > 1 { health.hp - 1 } else { 2 };
    let after = zone.state_digest(true);
    assert_ne!(before.total, after.total);
    assert_eq!(
        after.diff(&before),
        vec![("health".to_string(), vec![net_id])]
    );
}

#[test]
fn a_headless_zone_reaches_the_same_digests() {
    let (mut full, mut headless) = (run(5, false), run(5, true));
    assert_eq!(full.state_digest(true), headless.state_digest(true));
}
