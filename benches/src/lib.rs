//! Shared set-up for the benchmarks: loaded zones driven the way real clients drive
//! them (one input per player per tick, acks one tick behind).

use arcane_engine::content::{NpcGroup, ZoneContent};
use arcane_engine::{PlayerId, Zone, ZoneCommand};
use arcane_protocol::{ClientTier, MoveInput};

pub const NETCODE: &str = include_str!("../../content/netcode.ron");
pub const MEADOW: &str = include_str!("../../content/zones/meadow.ron");

/// The meadow, scaled so `players + npcs` entities keep the shipped density
/// (about 4,000 per km², 30–45 entities in a desktop view).
pub fn scaled_content(players: u32, npcs: u32) -> ZoneContent {
    let mut c = match ZoneContent::from_strs(NETCODE, MEADOW) {
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
        match o {
            arcane_engine::content::Obstacle::Circle { center, radius } => {
                *center *= scale;
                *radius *= scale;
            }
            arcane_engine::content::Obstacle::Box { min, max } => {
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
    c
}

/// A zone with `players` connected players and `npcs` wanderers, warmed up.
pub struct LoadedZone {
    pub zone: Zone,
    players: u32,
    seq: u32,
    commands: Vec<ZoneCommand>,
}

impl LoadedZone {
    pub fn new(players: u32, npcs: u32) -> LoadedZone {
        let mut zone = Zone::new(scaled_content(players, npcs), 42);
        zone.step((0..players).map(|p| ZoneCommand::Join {
            player: PlayerId(u64::from(p)),
            tier: ClientTier::Desktop,
        }));
        zone.drain_outputs().for_each(drop);
        let mut lz = LoadedZone {
            zone,
            players,
            seq: 0,
            commands: Vec::new(),
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
            let a = (p as f32 * 0.37 + seq as f32 * 0.01).sin();
            let (dir_x, dir_y) = MoveInput::quantize_direction(a, (1.0 - a * a).sqrt());
            self.commands.push(ZoneCommand::Input {
                player: PlayerId(u64::from(p)),
                input: MoveInput { seq, dir_x, dir_y },
            });
            // Snapshot ids are per client and start at 1 with the join tick: ack the one
            // sent last tick, as a client one tick of latency away would.
            self.commands.push(ZoneCommand::Ack {
                player: PlayerId(u64::from(p)),
                snapshot_id: seq,
            });
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
