//! Gameplay scenarios: step a small arena N ticks and check skills, the enemy state
//! machine, death and respawn against the shipped content's numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_engine::combat::{Health, Invulnerable};
use arcane_engine::common::components::Dead;
use arcane_engine::common::components::{NetIdAllocator, Position, Replicated};
use arcane_engine::content::{ContentSources, ZoneContent};
use arcane_engine::enemy_ai::{Enemy, EnemyState, enemy_bundle};
use arcane_engine::skills::Mana;
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    CastIntent, CastRejectReason, CastTarget, ClientTier, EventKind, MoveInput, NetId,
};
use bevy_ecs::entity::Entity;
use glam::Vec2;

/// A 100 m arena: spawn at (50, 50), respawn at (10, 10), one wall at x 70..72 for
/// line-of-sight checks, no wildlife and no spawners (each test places its enemies).
fn arena() -> ZoneContent {
    let mut sources = ContentSources::shipped();
    sources.set(
        "zones/arena.ron",
        r#"ZoneDef(
            id: "arena",
            bounds: Bounds(min: (0.0, 0.0), max: (100.0, 100.0)),
            player_speed: 5.0,
            max_players: 10,
            spawn_points: [(50.0, 50.0)],
            spawn_radius: 0.0,
            respawn_points: [(10.0, 10.0)],
            obstacles: [Box(min: (70.0, 40.0), max: (72.0, 60.0))],
        )"#,
    );
    sources.zone("arena").unwrap()
}

struct Arena {
    zone: Zone,
    events: Vec<(PlayerId, EventKind)>,
    seq: u32,
}

impl Arena {
    fn new(players: u64) -> Arena {
        let mut zone = Zone::new(arena(), 3);
        zone.step((1..=players).map(|p| ZoneCommand::Join {
            player: PlayerId(p),
            tier: ClientTier::Desktop,
            role: Role::Player,
            saved: None,
        }));
        let mut a = Arena {
            zone,
            events: Vec::new(),
            seq: 0,
        };
        a.collect();
        a
    }

    fn collect(&mut self) {
        for out in self.zone.drain_outputs() {
            if let ZoneOutput::Event { player, event } = out {
                self.events.push((player, event.kind));
            }
        }
    }

    fn step(&mut self, commands: impl IntoIterator<Item = ZoneCommand>) {
        self.zone.step(commands);
        self.collect();
    }

    fn idle(&mut self, ticks: u32) {
        for _ in 0..ticks {
            self.step([]);
        }
    }

    fn cast(&mut self, p: u64, slot: u8, target: CastTarget) {
        self.seq += 1;
        let intent = CastIntent {
            seq: self.seq,
            slot,
            target,
        };
        self.step([ZoneCommand::Cast {
            player: PlayerId(p),
            intent,
        }]);
    }

    fn spawn(&mut self, enemy: &str, at: Vec2) -> (Entity, NetId) {
        let content = self.zone.settings().clone();
        let def = content.enemy_index(enemy).unwrap() as u16;
        let world = self.zone.world_mut();
        let net = world.resource_mut::<NetIdAllocator>().allocate();
        let e = world.spawn(enemy_bundle(&content, def, at, None, net)).id();
        (e, net)
    }

    fn player(&self, p: u64) -> Entity {
        self.zone.player_entity(PlayerId(p)).unwrap()
    }

    fn net(&mut self, e: Entity) -> NetId {
        self.zone.world_mut().get::<Replicated>(e).unwrap().net_id
    }

    fn hp(&mut self, e: Entity) -> Option<u32> {
        self.zone.world_mut().get::<Health>(e).map(|h| h.hp)
    }

    fn pos(&mut self, e: Entity) -> Vec2 {
        self.zone.world_mut().get::<Position>(e).unwrap().0
    }

    fn rejections(&self, p: u64) -> Vec<CastRejectReason> {
        self.events
            .iter()
            .filter(|(who, _)| who.0 == p)
            .filter_map(|(_, k)| match k {
                EventKind::CastRejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn walk(&mut self, p: u64, dir: (i8, i8), ticks: u32) {
        for _ in 0..ticks {
            self.seq += 1;
            let input = MoveInput {
                seq: self.seq,
                dir_x: dir.0,
                dir_y: dir.1,
            };
            self.step([ZoneCommand::Input {
                player: PlayerId(p),
                input,
                received_us: 0,
            }]);
        }
    }
}

const MISSILE: u8 = 0;
const NOVA: u8 = 1;
const HEAL: u8 = 2;

#[test]
fn four_missiles_kill_a_wolf() {
    // Wolf: 100 HP; Magic Missile: 25 damage, 0.5 s cooldown, 40 m/s.
    let mut a = Arena::new(1);
    let (wolf, wolf_net) = a.spawn("wolf", Vec2::new(50.0, 75.0));
    a.idle(1);
    for n in 1..=4u32 {
        assert_eq!(a.hp(wolf), Some(100 - 25 * (n - 1)), "before missile {n}");
        a.cast(1, MISSILE, CastTarget::Entity(wolf_net));
        a.idle(14); // 25 m at 2 m per tick, then the cooldown is over too
    }
    assert_eq!(a.hp(wolf), None, "the wolf is despawned");
    assert!(
        a.events
            .iter()
            .any(|(_, k)| matches!(k, EventKind::Died { entity, .. } if *entity == wolf_net))
    );
    let hits = a
        .events
        .iter()
        .filter(|(p, k)| {
            p.0 == 1
                && matches!(k, EventKind::Damage { target, amount: 25, .. } if *target == wolf_net)
        })
        .count();
    assert_eq!(hits, 4);
    assert_eq!(a.zone.counters().kills, 1);
    assert!(a.rejections(1).is_empty(), "{:?}", a.rejections(1));
}

#[test]
fn nova_hits_every_enemy_inside_its_radius_and_none_outside() {
    // Arcane Nova: radius 8 m, 40 damage, 3 m knockback. Golems guard and have 400 HP.
    let mut a = Arena::new(1);
    let me = Vec2::new(50.0, 50.0);
    let inside = [
        Vec2::new(53.0, 50.0),
        Vec2::new(50.0, 43.0),
        Vec2::new(45.0, 55.0),
    ];
    let outside = [
        Vec2::new(59.0, 50.0),
        Vec2::new(50.0, 62.0),
        Vec2::new(38.0, 38.0),
    ];
    let ins: Vec<_> = inside.iter().map(|p| a.spawn("golem", *p).0).collect();
    let outs: Vec<_> = outside.iter().map(|p| a.spawn("golem", *p).0).collect();
    a.idle(1);
    a.cast(1, NOVA, CastTarget::Caster);
    for (e, p) in ins.iter().zip(inside) {
        assert_eq!(a.hp(*e), Some(360), "inside at {p}");
        assert!(
            a.pos(*e).distance(me) > p.distance(me) + 2.0,
            "knocked back from {p}"
        );
    }
    for (e, p) in outs.iter().zip(outside) {
        assert_eq!(a.hp(*e), Some(400), "outside at {p}");
    }
}

#[test]
fn heal_caps_at_max_hp_and_moving_interrupts_it() {
    // Heal: 60 HP after a 1 s cast (20 ticks), interrupted by movement; mage: 200 HP.
    let mut a = Arena::new(1);
    let me = a.player(1);
    a.zone.world_mut().get_mut::<Health>(me).unwrap().hp = 180;
    a.cast(1, HEAL, CastTarget::Caster);
    a.idle(19);
    assert_eq!(a.hp(me), Some(180), "not before the cast time");
    a.idle(1);
    assert_eq!(a.hp(me), Some(200), "capped at max HP");
    assert!(
        a.events
            .iter()
            .any(|(_, k)| matches!(k, EventKind::Healed { amount: 20, .. }))
    );

    a.zone.world_mut().get_mut::<Health>(me).unwrap().hp = 50;
    a.idle(60); // cooldown
    a.cast(1, HEAL, CastTarget::Caster);
    a.walk(1, (127, 0), 3);
    a.idle(30);
    assert_eq!(a.hp(me), Some(50), "the cast was interrupted");
    assert!(
        a.events
            .iter()
            .any(|(_, k)| matches!(k, EventKind::CastInterrupted { slot: HEAL, .. }))
    );
}

#[test]
fn cooldown_mana_range_target_and_line_of_sight_are_enforced() {
    use CastRejectReason as R;
    let mut a = Arena::new(1);
    let (_, near) = a.spawn("golem", Vec2::new(50.0, 65.0));
    let (_, far) = a.spawn("golem", Vec2::new(50.0, 95.0));
    let (_, walled) = a.spawn("golem", Vec2::new(80.0, 50.0));
    a.idle(1);
    a.cast(1, MISSILE, CastTarget::Entity(near));
    a.cast(1, NOVA, CastTarget::Caster); // next tick: global cooldown (5 ticks)
    a.idle(5);
    a.cast(1, MISSILE, CastTarget::Entity(near)); // skill cooldown (10 ticks)
    a.idle(10);
    a.cast(1, MISSILE, CastTarget::Entity(far)); // 45 m away, range 30
    a.cast(1, MISSILE, CastTarget::Entity(walled)); // behind the wall
    a.cast(1, MISSILE, CastTarget::Caster); // not an enemy
    a.cast(1, 9, CastTarget::Caster); // no such slot
    let me = a.player(1);
    a.zone.world_mut().get_mut::<Mana>(me).unwrap().current = 3.0;
    a.cast(1, MISSILE, CastTarget::Entity(near));
    // A replayed sequence number is refused before anything else.
    a.seq -= 1;
    a.cast(1, MISSILE, CastTarget::Entity(near));
    assert_eq!(
        a.rejections(1),
        vec![
            R::GlobalCooldown,
            R::Cooldown,
            R::OutOfRange,
            R::NoLineOfSight,
            R::InvalidTarget,
            R::UnknownSkill,
            R::NotEnoughMana,
            R::StaleSequence
        ]
    );
    assert_eq!(a.zone.counters().casts, 1);
}

#[test]
fn stepping_out_of_the_telegraph_during_wind_up_avoids_the_hit() {
    // Golem: aggro 10 m, attack range 3 m, circle telegraph of 4 m, 1.2 s wind-up
    // (24 ticks), 60 damage.
    let mut a = Arena::new(2);
    let (golem, golem_net) = a.spawn("golem", Vec2::new(52.0, 50.0));
    let (stayer, dodger) = (a.player(1), a.player(2));
    for _ in 0..10 {
        a.idle(1);
        if a.events
            .iter()
            .any(|(_, k)| matches!(k, EventKind::Telegraph { enemy, .. } if *enemy == golem_net))
        {
            break;
        }
    }
    assert!(
        a.events
            .iter()
            .any(|(p, k)| p.0 == 2 && matches!(k, EventKind::Telegraph { .. })),
        "both players are told about the telegraph"
    );
    assert_eq!(
        a.zone.world_mut().get::<Enemy>(golem).unwrap().state,
        EnemyState::WindUp
    );
    // Player 2 walks west at 5 m/s for 20 ticks: 5 m, out of the 4 m circle.
    a.walk(2, (-127, 0), 20);
    a.idle(6);
    assert_eq!(a.hp(stayer), Some(140), "the one who stayed is hit");
    assert_eq!(a.hp(dodger), Some(200), "the one who left is not");
    assert!(a.zone.counters().enemy_attacks >= 1);
}

#[test]
fn death_then_respawn_with_invulnerability_that_enemies_respect() {
    // Mage: respawn after 3 s, then 3 s of invulnerability (60 ticks each).
    let mut a = Arena::new(1);
    let me = a.player(1);
    let my_net = a.net(me);
    a.zone.world_mut().get_mut::<Health>(me).unwrap().hp = 10;
    let (wolf, _) = a.spawn("wolf", Vec2::new(52.0, 50.0));
    a.idle(30);
    assert!(
        a.zone.world_mut().get::<Dead>(me).is_some(),
        "the wolf killed the player"
    );
    assert!(
        a.events
            .iter()
            .any(|(_, k)| matches!(k, EventKind::Died { entity, .. } if *entity == my_net))
    );
    assert_eq!(a.zone.counters().player_deaths, 1);

    // Dead: casts are refused and movement does nothing.
    let at = a.pos(me);
    a.cast(1, NOVA, CastTarget::Caster);
    assert_eq!(a.rejections(1), vec![CastRejectReason::Dead]);
    a.walk(1, (127, 0), 5);
    assert_eq!(a.pos(me), at);

    // The wolf stays by the spawn point; the respawn point is far from it. Put a second
    // wolf on the respawn point to test invulnerability.
    let _ = wolf;
    let (guard, _) = a.spawn("wolf", Vec2::new(11.0, 10.0));
    a.step([ZoneCommand::Respawn {
        player: PlayerId(1),
    }]);
    a.idle(40);
    assert!(
        a.zone.world_mut().get::<Dead>(me).is_none(),
        "respawned once the delay passed"
    );
    assert_eq!(a.hp(me), Some(200));
    assert!(
        a.pos(me).distance(Vec2::new(10.0, 10.0)) < 0.01,
        "at the respawn point"
    );
    assert!(a.zone.world_mut().get::<Invulnerable>(me).is_some());
    assert_eq!(a.zone.counters().respawns, 1);
    // Invulnerable: the wolf next to it does not attack.
    a.idle(40);
    assert_eq!(a.hp(me), Some(200));
    assert_eq!(
        a.zone.world_mut().get::<Enemy>(guard).unwrap().state,
        EnemyState::Idle
    );
    // Once it wears off, the wolf goes for the player.
    a.idle(40);
    assert!(a.zone.world_mut().get::<Invulnerable>(me).is_none());
    assert!(
        a.hp(me).unwrap() < 200,
        "the wolf attacks once invulnerability is over"
    );
}

#[test]
fn a_leashed_enemy_goes_home_and_resets() {
    // Wolf: aggro 12 m, leash 30 m from its spawn, 4 m/s; the player runs at 5 m/s.
    let mut a = Arena::new(1);
    let home = Vec2::new(50.0, 58.0);
    let (wolf, wolf_net) = a.spawn("wolf", home);
    a.idle(1);
    a.cast(1, MISSILE, CastTarget::Entity(wolf_net));
    a.idle(10);
    assert_eq!(a.hp(wolf), Some(75));
    // Run south-west out of the leash; the wolf chases, then gives up.
    let me = a.player(1);
    let mut leashed = false;
    for _ in 0..200 {
        a.walk(1, (-90, -90), 1);
        let enemy = a.zone.world_mut().get::<Enemy>(wolf).unwrap().clone();
        if enemy.state == EnemyState::Return {
            leashed = true;
            break;
        }
    }
    assert!(leashed, "the wolf leashed (player at {})", a.pos(me));
    assert_eq!(a.hp(wolf), Some(100), "reset to full HP");
    a.idle(300);
    let enemy = a.zone.world_mut().get::<Enemy>(wolf).unwrap().clone();
    assert_ne!(enemy.state, EnemyState::Pursue);
    assert!(
        a.pos(wolf).distance(home) <= 6.5,
        "back near its spawn: {}",
        a.pos(wolf)
    );
}

#[test]
fn admin_commands_work_for_admins_only() {
    use arcane_protocol::AdminCommand as A;
    let mut zone = Zone::new(arena(), 3);
    zone.step([
        ZoneCommand::Join {
            player: PlayerId(1),
            tier: ClientTier::Desktop,
            role: Role::Admin,
            saved: None,
        },
        ZoneCommand::Join {
            player: PlayerId(2),
            tier: ClientTier::Desktop,
            role: Role::Player,
            saved: None,
        },
    ]);
    let mut a = Arena {
        zone,
        events: Vec::new(),
        seq: 0,
    };
    a.collect();
    let admin = |a: &mut Arena, p: u64, command: A| {
        a.seq += 1;
        let seq = a.seq;
        a.step([ZoneCommand::Admin {
            player: PlayerId(p),
            seq,
            command: Box::new(command),
        }]);
        a.events
            .iter()
            .find_map(|(who, k)| match k {
                EventKind::AdminResult { seq: s, ok, detail } if who.0 == p && *s == seq => {
                    Some((*ok, detail.clone()))
                }
                _ => None,
            })
            .unwrap()
    };
    let spawn = A::SpawnEnemy {
        enemy: "golem".into(),
        x_cm: 8000,
        y_cm: 8000,
    };
    let (ok, detail) = admin(&mut a, 2, spawn.clone());
    assert!(!ok && detail.contains("admin role"), "{detail}");
    assert_eq!(a.zone.counters().admin_refused, 1);

    let (ok, detail) = admin(&mut a, 1, spawn);
    assert!(ok, "{detail}");
    let count_enemies = |a: &mut Arena| {
        let w = a.zone.world_mut();
        w.query::<&Enemy>().iter(w).count()
    };
    assert_eq!(count_enemies(&mut a), 1);
    let (ok, _) = admin(
        &mut a,
        1,
        A::SpawnEnemy {
            enemy: "dragon".into(),
            x_cm: 100,
            y_cm: 100,
        },
    );
    assert!(!ok, "unknown enemy type");
    let (ok, _) = admin(
        &mut a,
        1,
        A::SpawnEnemy {
            enemy: "wolf".into(),
            x_cm: 7100,
            y_cm: 5000,
        },
    );
    assert!(!ok, "inside the wall");

    let other = a.player(2);
    let other_net = a.net(other);
    assert!(
        admin(
            &mut a,
            1,
            A::SetHp {
                target: other_net,
                hp: 33
            }
        )
        .0
    );
    assert_eq!(a.hp(other), Some(33));
    assert!(
        admin(
            &mut a,
            1,
            A::Teleport {
                target: NetId(0),
                x_cm: 2000,
                y_cm: 3000
            }
        )
        .0
    );
    let me = a.player(1);
    assert_eq!(a.pos(me), Vec2::new(20.0, 30.0));
    assert!(
        admin(
            &mut a,
            1,
            A::SetInvulnerable {
                target: other_net,
                on: true
            }
        )
        .0
    );
    assert!(a.zone.world_mut().get::<Invulnerable>(other).is_some());
    assert!(
        admin(
            &mut a,
            1,
            A::SetHp {
                target: other_net,
                hp: 0
            }
        )
        .0
    );
    assert!(a.zone.world_mut().get::<Dead>(other).is_some());

    let (ok, detail) = admin(&mut a, 1, A::ResetArea);
    assert!(ok, "{detail}");
    assert_eq!(count_enemies(&mut a), 0, "admin-spawned enemies are gone");
    assert!(a.zone.world_mut().get::<Dead>(other).is_none());
    assert_eq!(a.hp(other), Some(200));
    assert_eq!(a.zone.counters().admin_commands, 8);
}

#[test]
fn a_reload_changes_the_numbers_of_new_casts() {
    let mut a = Arena::new(1);
    let (golem, golem_net) = a.spawn("golem", Vec2::new(50.0, 70.0));
    a.idle(1);
    a.cast(1, MISSILE, CastTarget::Entity(golem_net));
    a.idle(14);
    assert_eq!(a.hp(golem), Some(375));
    let mut content = a.zone.settings().clone();
    if let arcane_engine::content::SkillEffect::Projectile { damage, .. } =
        &mut content.skills[0].effect
    {
        *damage = 100;
    }
    a.zone.reload(content).unwrap();
    a.cast(1, MISSILE, CastTarget::Entity(golem_net));
    a.idle(14);
    assert_eq!(
        a.hp(golem),
        Some(275),
        "the new damage applies to the next cast"
    );
    assert_eq!(a.zone.counters().content_reloads, 1);
}

#[test]
fn fights_are_deterministic_for_a_seed() {
    // The shipped test area: spawners, wandering wolves, a guarding golem; two players
    // walk into them casting. Same seed and journal: same state every tick.
    let run = |seed: u64| {
        let content = ContentSources::shipped().zone("test_area").unwrap();
        let mut zone = Zone::new(content, seed);
        let mut hashes = Vec::new();
        for t in 0..200u32 {
            let mut cmds = Vec::new();
            if t == 0 {
                for p in 1..=2 {
                    cmds.push(ZoneCommand::Join {
                        player: PlayerId(p),
                        tier: ClientTier::Desktop,
                        role: Role::Player,
                        saved: None,
                    });
                }
            }
            for p in 1..=2u64 {
                let input = MoveInput {
                    seq: t + 1,
                    dir_x: 127,
                    dir_y: if p == 1 { 10 } else { -10 },
                };
                cmds.push(ZoneCommand::Input {
                    player: PlayerId(p),
                    input,
                    received_us: 0,
                });
                let intent = CastIntent {
                    seq: t + 1,
                    slot: (t % 3) as u8,
                    target: CastTarget::Caster,
                };
                cmds.push(ZoneCommand::Cast {
                    player: PlayerId(p),
                    intent,
                });
            }
            zone.step(cmds);
            zone.drain_outputs().for_each(drop);
            hashes.push(zone.state_hash());
        }
        (hashes, zone.counters().clone())
    };
    let (a, counters) = run(11);
    let (b, _) = run(11);
    let (c, _) = run(12);
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed gives another fight");
    assert!(
        counters.casts > 0 && counters.enemy_attacks > 0,
        "{counters:?}"
    );
}
