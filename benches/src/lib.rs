//! Shared set-up for the benchmarks: loaded zones driven the way real clients drive
//! them (one input per player per tick, acks one tick behind).

use arcane_engine::content::{ContentSources, NpcGroup, Spawner, ZoneContent};
use arcane_engine::{PlayerId, Zone, ZoneCommand};
use arcane_protocol::ticket::Role;
use arcane_protocol::{CastIntent, CastTarget, ClientTier, MoveInput};

/// The meadow, scaled so `players + npcs` entities keep the shipped density
/// (about 4,000 per km², 30–45 entities in a desktop view).
pub fn scaled_content(players: u32, npcs: u32) -> ZoneContent {
    let mut c = match ContentSources::shipped().zone("meadow") {
        Ok(c) => c,
        Err(e) => panic!("shipped content must load: {e}"),
    };
    let total = f64::from(players + npcs);
    let side = ((total / 4_000.0).sqrt() * 1000.0).max(200.0) as f32;
    let scale = side / 1000.0;
    c.zone.bounds.max *= scale;
    for p in &mut c.zone.spawn_points {
        *p *= scale;
    }
    c.zone.spawn_radius *= scale;
    for o in &mut c.zone.obstacles {
        match *o {
            arcane_engine::content::Obstacle::Circle {
                ref mut center,
                ref mut radius,
            } => {
                *center *= scale;
                *radius *= scale;
            }
            arcane_engine::content::Obstacle::Box {
                ref mut min,
                ref mut max,
            } => {
                *min *= scale;
                *max *= scale;
            }
        }
    }
    c.zone.max_players = players.max(1);
    c.zone.npcs = vec![NpcGroup {
        count: npcs,
        speed: 2.0,
        min_leg_ticks: 20,
        max_leg_ticks: 100,
        idle_chance: 0.3,
    }];
    for p in &mut c.zone.respawn_points {
        *p *= scale;
    }
    // Enemies and creatures are opt-in (`combat_content`, `creature_content`), so
    // movement-only figures stay comparable.
    c.zone.spawners.clear();
    c.zone.wild = None;
    c
}

/// The meadow scaled for `players + npcs + creatures` at the shipped density, with
/// `creatures` wild creatures (three fifths mosslings, two fifths emberfoxes) over a
/// grid of at least 2,000 breeding cells (45 × 45) that breed on the content's
/// 5–15 s timers. Caps are the starting density rounded up, so the population stays
/// at about `creatures` (births fill the few free places and stop, as in a zone
/// whose populations have grown to their caps).
pub fn creature_content(players: u32, npcs: u32, creatures: u32) -> ZoneContent {
    use arcane_engine::content::{WildDef, WildPopulation};
    let mut c = scaled_content(players, npcs + creatures);
    c.zone.npcs[0].count = npcs;
    let bounds = c.zone.bounds;
    let side = bounds.max.x - bounds.min.x;
    let cells = 45u32;
    let mosslings = creatures * 3 / 5;
    let per_cell = |n: u32| n.div_ceil(cells * cells).max(1);
    c.zone.wild = Some(WildDef {
        cell_size: side / cells as f32,
        breed_interval_s: (5.0, 15.0),
        populations: vec![
            WildPopulation {
                species: "mossling".into(),
                area: bounds,
                initial: mosslings,
                cap_per_cell: per_cell(mosslings),
            },
            WildPopulation {
                species: "emberfox".into(),
                area: bounds,
                initial: creatures - mosslings,
                cap_per_cell: per_cell(creatures - mosslings),
            },
        ],
    });
    // Adults from the start, so breeding works from the first tick.
    for s in &mut c.creatures.species {
        s.adult_after_s = 0.0;
    }
    c
}

/// The scaling scenario of `benches/scale.sh` (issue 28): `players` players and
/// nothing else in a square of side √players·50 m (one per 2,500 m²), a desktop
/// interest radius of 150 m (about 28 in view), players at 40 m/s, spawn points on
/// a 10 × 10 grid. Only the players' paths differ from the bot swarm's random walk.
pub fn scale_content(players: u32) -> ZoneContent {
    let mut c = scaled_content(players, 0);
    let side = (f64::from(players.max(1)).sqrt() * 50.0) as f32;
    let z = &mut c.zone;
    z.bounds.min = glam::Vec2::ZERO;
    z.bounds.max = glam::Vec2::splat(side);
    z.player_speed = 40.0;
    let k = 10;
    let cell = side / k as f32;
    z.spawn_points = (0..k * k)
        .map(|i| glam::Vec2::new((i / k) as f32 + 0.5, (i % k) as f32 + 0.5) * cell)
        .collect();
    z.respawn_points = z.spawn_points.clone();
    z.spawn_radius = cell * 0.71;
    z.obstacles.clear();
    z.npcs.clear();
    z.exits.clear();
    c.netcode.tiers.desktop.radius = 150.0;
    c
}

/// The meadow scaled for `players + enemies` at the shipped density, with `enemies`
/// enemies (wolves, archers, golems) spread over a grid of spawners and no wildlife.
pub fn combat_content(players: u32, enemies: u32) -> ZoneContent {
    let mut c = scaled_content(players, enemies);
    c.zone.npcs.clear();
    let side = c.zone.bounds.max.x;
    let cells = 10u32;
    let per = enemies.div_ceil(cells * cells);
    let kinds = ["wolf", "archer", "wolf", "golem"];
    for i in 0..cells * cells {
        let (cx, cy) = (i % cells, i / cells);
        let at = glam::Vec2::new(
            (cx as f32 + 0.5) * side / cells as f32,
            (cy as f32 + 0.5) * side / cells as f32,
        );
        c.zone.spawners.push(Spawner {
            enemy: kinds[i as usize % kinds.len()].to_string(),
            at,
            radius: side / cells as f32 * 0.45,
            count: per.min(enemies.saturating_sub(per * i)),
            respawn_s: 5.0,
        });
    }
    c
}

/// A zone with `players` connected players and `npcs` wanderers, warmed up.
pub struct LoadedZone {
    pub zone: Zone,
    players: u32,
    seq: u32,
    commands: Vec<ZoneCommand>,
    /// Also send a cast intent per player per tick (and respawn when dead).
    casting: bool,
    /// Walk straight legs of 1–4 s in random directions, as the swarm's wanderers do,
    /// rather than turning a little every tick.
    legs: bool,
}

impl LoadedZone {
    pub fn new(players: u32, npcs: u32) -> LoadedZone {
        Self::with_content(scaled_content(players, npcs), players, false)
    }

    /// `players` players among `npcs` wanderers and `creatures` wild creatures.
    pub fn creatures(players: u32, npcs: u32, creatures: u32) -> LoadedZone {
        Self::with_content(creature_content(players, npcs, creatures), players, false)
    }

    /// The scaling scenario's zone (`scale_content`): `players` players alone.
    pub fn scale(players: u32) -> LoadedZone {
        let mut z = Self::with_content(scale_content(players), players, false);
        z.legs = true;
        z
    }

    /// `players` players casting at their full rate among `enemies` enemies.
    pub fn combat(players: u32, enemies: u32) -> LoadedZone {
        Self::with_content(combat_content(players, enemies), players, true)
    }

    fn with_content(content: ZoneContent, players: u32, casting: bool) -> LoadedZone {
        let mut zone = Zone::new(content, 42);
        zone.step((0..players).map(|p| ZoneCommand::Join {
            player: PlayerId(u64::from(p)),
            tier: ClientTier::Desktop,
            role: Role::Player,
            saved: None,
        }));
        zone.drain_outputs().for_each(drop);
        let mut lz = LoadedZone {
            zone,
            players,
            seq: 0,
            commands: Vec::new(),
            casting,
            legs: false,
        };
        for _ in 0..10 {
            lz.tick();
        }
        lz
    }

    /// One tick with one input and one ack per player; returns the snapshot bytes sent.
    pub fn tick(&mut self) -> usize {
        self.seq += 1;
        let seq = self.seq;
        self.commands.clear();
        for p in 0..self.players {
            let (dir_x, dir_y) = if self.legs {
                let (angle_x, angle_y) = leg_heading(p, seq);
                MoveInput::quantize_direction(angle_x, angle_y)
            } else {
                let a = (p as f32 * 0.37 + seq as f32 * 0.01).sin();
                MoveInput::quantize_direction(a, (1.0 - a * a).sqrt())
            };
            self.commands.push(ZoneCommand::Input {
                player: PlayerId(u64::from(p)),
                input: MoveInput { seq, dir_x, dir_y },
                received_us: 0,
            });
            // Snapshot ids are per client and start at 1 with the join tick: ack the one
            // sent last tick, as a client one tick of latency away would.
            self.commands.push(ZoneCommand::Ack {
                player: PlayerId(u64::from(p)),
                snapshot_id: seq,
            });
            if self.casting {
                // Like a client mashing its keys: a nova every half second, a heal on
                // oneself now and then, otherwise a missile at the nearest enemy in
                // range (a client picks it from its view; here from the zone's index),
                // or at the ground ahead when none is. Intents on cooldown are refused,
                // as the zone would refuse them.
                let player = PlayerId(u64::from(p));
                let (slot, target) = match (seq + p) % 20 {
                    0 | 10 => (1, CastTarget::Caster),
                    5 => (2, CastTarget::Caster),
                    _ => {
                        let me = self.zone.player_position(player).unwrap_or_default();
                        match self.nearest_enemy(me, 28.0) {
                            Some(net) => (0, CastTarget::Entity(net)),
                            None => {
                                let ahead = glam::Vec2::new(f32::from(dir_x), f32::from(dir_y));
                                let at = me + ahead / 127.0 * 15.0;
                                let cm = |m: f32| (m * 100.0) as i32;
                                let (x_cm, y_cm) = (cm(at.x), cm(at.y));
                                (0, CastTarget::Point { x_cm, y_cm })
                            }
                        }
                    }
                };
                self.commands.push(ZoneCommand::Cast {
                    player,
                    intent: CastIntent { seq, slot, target },
                });
                self.commands.push(ZoneCommand::Respawn { player });
            }
        }
        self.zone.step(self.commands.drain(..));
        let mut bytes = 0;
        for out in self.zone.drain_outputs() {
            if let arcane_engine::ZoneOutput::Snapshot { bytes: b, .. } = out {
                bytes += b.len();
            }
        }
        bytes
    }
}

/// Player `p`'s heading at input `seq` when walking legs: a random direction held for
/// 20–79 inputs (each player its own length and phase), as the swarm's wanderers walk.
fn leg_heading(p: u32, seq: u32) -> (f32, f32) {
    let mix = |x: u64| {
        // splitmix64's finalizer: a fixed, well-spread hash of the inputs.
        let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let len = 20 + mix(u64::from(p)) % 60;
    let leg = (u64::from(seq) + mix(u64::from(p) + 1)) / len;
    let a = (mix(u64::from(p) << 32 | leg) % 3600) as f32 / 3600.0 * std::f32::consts::TAU;
    (a.cos(), a.sin())
}

impl LoadedZone {
    /// The nearest enemy within `range` metres of `at`, as a client would pick it.
    fn nearest_enemy(&mut self, at: glam::Vec2, range: f32) -> Option<arcane_protocol::NetId> {
        let index = self
            .zone
            .world_mut()
            .resource::<arcane_engine::common::spatial::SpatialIndex>();
        let mut best: Option<(f32, arcane_protocol::NetId)> = None;
        index.for_each_within(at, range, |i, d2| {
            let f = &index.frame[i as usize];
            if f.state.kind == arcane_protocol::EntityKind::Enemy
                && f.state.hp_pct > 0
                && best.is_none_or(|(b, _)| d2 < b)
            {
                best = Some((d2, f.net_id));
            }
        });
        best.map(|(_, n)| n)
    }
}

/// A realistic snapshot taken from a loaded zone (desktop client, steady state).
pub fn sample_snapshot() -> arcane_protocol::Snapshot {
    let mut lz = LoadedZone::new(500, 5000);
    lz.tick();
    let mut found = None;
    lz.zone.step([]);
    for out in lz.zone.drain_outputs() {
        if let arcane_engine::ZoneOutput::Snapshot { bytes, .. } = out
            && let Ok(arcane_protocol::ServerMessage::Snapshot(s)) =
                arcane_protocol::codec::decode_server_message(&bytes)
            && found
                .as_ref()
                .is_none_or(|f: &arcane_protocol::Snapshot| s.updates.len() > f.updates.len())
        {
            found = Some(s);
        }
    }
    found.unwrap_or_default()
}
