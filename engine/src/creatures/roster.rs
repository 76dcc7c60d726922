//! A player's roster: the creatures and eggs it owns (in their saved form, so content
//! changes never touch them), the ids new ones get, what the client sees of them,
//! hatching, and the roster's life with its player (join, reconnect, save).

use std::collections::BTreeMap;

use arcane_protocol::saved::{SavedCreature, SavedCreatureState, SavedGene};
use arcane_protocol::{CreatureId, CreatureView, EventKind, TraitView};
use bevy_ecs::prelude::*;

use super::genome::Genome;
use crate::common::components::{Player, Transferring};
use crate::common::events::{PlayerJoined, PlayerReconnected};
use crate::common::io::{PlayerId, ZoneCommand, ZoneOutbox};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::ZoneContent;

/// A creature or egg a player owns.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedCreature {
    pub id: CreatureId,
    pub species: String,
    pub gene_version: u16,
    /// By gene id (the saved form: it reads under any gene table).
    pub genome: BTreeMap<String, SavedGene>,
    pub parents: Option<(CreatureId, CreatureId)>,
    pub generation: u16,
    pub born_zone: String,
    pub born_tick: u64,
    /// Zone tick it hatches at, while it is an egg.
    pub hatch_tick: Option<u64>,
    /// Zone tick from which it may breed.
    pub breed_ready_tick: u64,
}

impl OwnedCreature {
    /// Loads a saved creature at zone tick `tick` (its timers are relative).
    pub fn from_saved(s: &SavedCreature, tick: u64) -> OwnedCreature {
        OwnedCreature {
            id: s.id,
            species: s.species.clone(),
            gene_version: s.gene_version,
            genome: s.genome.clone(),
            parents: s.parents,
            generation: s.generation,
            born_zone: s.born_zone.clone(),
            born_tick: s.born_tick,
            hatch_tick: match s.state {
                SavedCreatureState::Egg { hatch_in_ticks } => {
                    Some(tick + u64::from(hatch_in_ticks))
                }
                SavedCreatureState::Active => None,
            },
            breed_ready_tick: tick + u64::from(s.breed_ready_in_ticks),
        }
    }

    /// The saved form at zone tick `tick`.
    pub fn to_saved(&self, tick: u64) -> SavedCreature {
        let left = |at: u64| at.saturating_sub(tick).min(u64::from(u32::MAX)) as u32;
        SavedCreature {
            id: self.id,
            species: self.species.clone(),
            gene_version: self.gene_version,
            genome: self.genome.clone(),
            parents: self.parents,
            generation: self.generation,
            born_zone: self.born_zone.clone(),
            born_tick: self.born_tick,
            state: match self.hatch_tick {
                Some(at) => SavedCreatureState::Egg {
                    hatch_in_ticks: left(at),
                },
                None => SavedCreatureState::Active,
            },
            breed_ready_in_ticks: left(self.breed_ready_tick),
        }
    }

    /// What the client sees. A species the content no longer has shows its saved
    /// genes as they are.
    pub fn view(&self, content: &ZoneContent) -> CreatureView {
        let c = &content.creatures;
        let traits = if c.species_index(&self.species).is_some() {
            Genome::from_saved(c, &self.genome).traits(c)
        } else {
            self.genome
                .iter()
                .map(|(gene, v)| TraitView {
                    gene: gene.clone(),
                    value: match v {
                        SavedGene::Numeric(x) => format!("{x:.2}"),
                        SavedGene::Alleles(a, b) => format!("{a}/{b}"),
                    },
                })
                .collect()
        };
        let clamp = |t: u64| t.min(u64::from(u32::MAX)) as u32;
        CreatureView {
            id: self.id,
            species: self.species.clone(),
            generation: self.generation,
            parents: self.parents,
            gene_version: self.gene_version,
            traits,
            hatch_tick: self.hatch_tick.map(clamp),
            breed_ready_tick: clamp(self.breed_ready_tick),
        }
    }
}

/// The creatures and eggs a player owns.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Roster {
    pub creatures: Vec<OwnedCreature>,
}

impl Roster {
    pub fn get(&self, id: CreatureId) -> Option<&OwnedCreature> {
        self.creatures.iter().find(|c| c.id == id)
    }

    /// The saved form of every entry at zone tick `tick`.
    pub fn to_saved(&self, tick: u64) -> Vec<SavedCreature> {
        self.creatures.iter().map(|c| c.to_saved(tick)).collect()
    }
}

/// A player's creature intents: the last sequence number (capture and breed share
/// one stream) and when it may try a capture again.
#[derive(Component, Debug, Clone, Default)]
pub struct CreatureIntents {
    pub last_seq: u32,
    pub capture_ready_tick: u64,
}

impl CreatureIntents {
    /// Takes `seq` if it is newer than the last one by at most `MAX_SEQ_AHEAD`.
    pub fn accept(&mut self, seq: u32) -> bool {
        if !crate::common::commands::takes_seq(self.last_seq, seq) {
            return false;
        }
        self.last_seq = seq;
        true
    }
}

/// Ids for creatures this zone process creates (captures, eggs): a block reserved in
/// the store when the process starts ([`crate::Zone::grant_creature_ids`]), so ids are
/// unique across zones and restarts. Without a grant (tests, tools), a block derived
/// from the seed in the upper half of the id space, which the store never hands out.
#[derive(Resource, Debug, Clone)]
pub struct CreatureIds {
    next: u64,
    end: u64,
}

impl CreatureIds {
    pub fn from_seed(seed: u64) -> Self {
        let mut x = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let start = (1u64 << 62) | ((x & 0x3fff_ffff) << 32);
        CreatureIds::block(start, 1 << 32)
    }

    /// The next id and the end of the block (for the state hash).
    pub fn state_row(&self) -> (u64, u64) {
        (self.next, self.end)
    }

    pub fn block(start: u64, len: u64) -> Self {
        CreatureIds {
            next: start.max(1),
            end: start.max(1).saturating_add(len),
        }
    }

    /// The next id, or `None` when the block is spent.
    pub fn take(&mut self) -> Option<CreatureId> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// A joining player brings its creatures and eggs.
pub(super) fn add_player_roster(
    joined: On<PlayerJoined>,
    clock: Res<ZoneClock>,
    mut commands: Commands,
) {
    let creatures = joined
        .saved
        .as_ref()
        .map(|s| {
            s.creatures
                .iter()
                .map(|c| OwnedCreature::from_saved(c, clock.tick))
                .collect()
        })
        .unwrap_or_default();
    commands
        .entity(joined.entity)
        .insert((Roster { creatures }, CreatureIntents::default()));
}

/// A reconnected player's intent sequence starts over.
pub(super) fn restart_intent_stream(
    back: On<PlayerReconnected>,
    mut q: Query<&mut CreatureIntents>,
) {
    if let Ok(mut i) = q.get_mut(back.entity) {
        i.last_seq = 0;
    }
}

/// Sends the whole roster (ingest's handler for `RosterRequest`).
pub(super) fn send_roster(
    entity: &mut EntityWorldMut<'_>,
    command: &ZoneCommand,
) -> Option<crate::common::commands::Rejection> {
    let &ZoneCommand::RosterRequest { player } = command else {
        return None;
    };
    let creatures = entity.get::<Roster>()?.creatures.clone();
    entity.world_scope(|world| {
        let content = &world.resource::<ZoneSettings>().0;
        let capacity = content.creatures.roster_capacity;
        let creatures = creatures.iter().map(|c| c.view(content)).collect();
        let tick = world.resource::<ZoneClock>().tick as u32;
        world.resource_mut::<ZoneOutbox>().event(
            player,
            tick,
            EventKind::Roster {
                capacity,
                creatures,
            },
        );
    });
    None
}

/// Eggs whose time has come hatch, in place (same id), and their owner is told.
pub(super) fn hatch_eggs(
    mut rosters: Query<(&Player, &mut Roster), Without<Transferring>>,
    mut outbox: ResMut<ZoneOutbox>,
    mut counters: ResMut<ZoneCounters>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let tick = clock.tick;
    for (player, mut roster) in &mut rosters {
        if !roster
            .creatures
            .iter()
            .any(|c| c.hatch_tick.is_some_and(|t| t <= tick))
        {
            continue;
        }
        let zone = settings.0.zone.id.clone();
        for c in roster.creatures.iter_mut() {
            if c.hatch_tick.is_some_and(|t| t <= tick) {
                c.hatch_tick = None;
                c.born_tick = tick;
                c.born_zone = zone.clone();
                counters.hatches += 1;
                tell(&mut outbox, player.id, tick, c.view(&settings.0));
            }
        }
    }
}

/// Tells a player one roster entry changed.
pub(super) fn tell(outbox: &mut ZoneOutbox, player: PlayerId, tick: u64, creature: CreatureView) {
    outbox.event(
        player,
        tick as u32,
        EventKind::RosterEntry {
            creature: Box::new(creature),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_are_saved_relative_and_come_back_at_the_new_zone_tick() {
        let c = OwnedCreature {
            id: 5,
            species: "mossling".into(),
            gene_version: 1,
            genome: BTreeMap::new(),
            parents: Some((1, 2)),
            generation: 1,
            born_zone: "meadow".into(),
            born_tick: 10,
            hatch_tick: Some(150),
            breed_ready_tick: 120,
        };
        let saved = c.to_saved(100);
        assert_eq!(saved.state, SavedCreatureState::Egg { hatch_in_ticks: 50 });
        assert_eq!(saved.breed_ready_in_ticks, 20);
        let back = OwnedCreature::from_saved(&saved, 1000);
        assert_eq!(back.hatch_tick, Some(1050));
        assert_eq!(back.breed_ready_tick, 1020);
        // Past timers save as zero.
        assert_eq!(c.to_saved(500).breed_ready_in_ticks, 0);
    }

    #[test]
    fn ids_come_from_the_block_and_stop_at_its_end() {
        let mut ids = CreatureIds::block(100, 2);
        assert_eq!(
            (ids.take(), ids.take(), ids.take()),
            (Some(100), Some(101), None)
        );
        let a = CreatureIds::from_seed(1).take().unwrap();
        let b = CreatureIds::from_seed(2).take().unwrap();
        assert!(a >= 1 << 62 && b >= 1 << 62 && a != b && a < i64::MAX as u64);
    }
}
