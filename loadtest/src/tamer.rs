//! What a tamer bot knows of its roster (from the zone's `Roster` and `RosterEntry`
//! events) and which pair it breeds next; its hunt is `behaviour::hunt`. Pure, so it
//! is tested without a server.

use std::collections::{BTreeMap, BTreeSet};

use arcane_protocol::{CreatureId, CreatureView, EventKind};

/// One entry of a tamer's roster as the zone last reported it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    species: String,
    egg: bool,
    breed_ready_tick: u32,
}

/// What a tamer knows of its roster (from `Roster` and `RosterEntry` events), and the
/// pairs the zone refused, so it does not ask for them again.
#[derive(Debug, Clone, Default)]
pub struct TamerRoster {
    entries: BTreeMap<CreatureId, Entry>,
    capacity: usize,
    refused: BTreeSet<(CreatureId, CreatureId)>,
    /// Eggs that hatched while the bot watched.
    pub hatched: u64,
}

impl TamerRoster {
    /// A new zone: timers are on its clock, so the roster is asked for again.
    pub fn reset(&mut self) {
        self.entries.clear();
        self.capacity = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn put(&mut self, c: &CreatureView) {
        let entry = Entry {
            species: c.species.clone(),
            egg: c.hatch_tick.is_some(),
            breed_ready_tick: c.breed_ready_tick,
        };
        if let Some(old) = self.entries.insert(c.id, entry)
            && old.egg
            && c.hatch_tick.is_none()
        {
            self.hatched += 1;
        }
    }

    /// Takes what an event says about the roster.
    pub fn on_event(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Roster {
                capacity,
                creatures,
            } => {
                self.entries.clear();
                self.capacity = usize::from(*capacity);
                creatures.iter().for_each(|c| self.put(c));
            }
            EventKind::RosterEntry { creature } => self.put(creature),
            _ => {}
        }
    }

    /// Notes a pair the zone would not breed (incompatible, kin).
    pub fn refuse(&mut self, pair: (CreatureId, CreatureId)) {
        self.refused.insert(pair);
    }

    /// Two hatched creatures ready to breed at `tick`, same species first, when the
    /// roster has room for an egg.
    pub fn pick_pair(&self, tick: u32) -> Option<(CreatureId, CreatureId)> {
        if self.capacity == 0 || self.entries.len() >= self.capacity {
            return None;
        }
        let ready: Vec<(&CreatureId, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.egg && e.breed_ready_tick <= tick)
            .collect();
        let pairs = ready
            .iter()
            .enumerate()
            .flat_map(|(i, a)| ready[i + 1..].iter().map(move |b| (*a, *b)));
        let allowed: Vec<_> = pairs
            .filter(|((a, _), (b, _))| !self.refused.contains(&(**a, **b)))
            .collect();
        allowed
            .iter()
            .find(|((_, ea), (_, eb))| ea.species == eb.species)
            .or(allowed.first())
            .map(|((a, _), (b, _))| (**a, **b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: CreatureId, species: &str, egg: bool, ready: u32) -> CreatureView {
        CreatureView {
            id,
            species: species.into(),
            generation: 0,
            parents: None,
            gene_version: 1,
            traits: Vec::new(),
            hatch_tick: egg.then_some(500),
            breed_ready_tick: ready,
        }
    }

    #[test]
    fn pairs_are_ready_hatched_same_species_first_and_never_refused_twice() {
        let mut r = TamerRoster::default();
        r.on_event(&EventKind::Roster {
            capacity: 5,
            creatures: vec![
                entry(1, "mossling", false, 0),
                entry(2, "emberfox", false, 0),
                entry(3, "mossling", false, 0),
                entry(4, "mossling", true, 0),
                entry(5, "mossling", false, 900),
            ],
        });
        assert_eq!(r.pick_pair(100), None, "full");
        r.capacity = 6;
        assert_eq!(r.pick_pair(100), Some((1, 3)));
        r.refuse((1, 3));
        assert_eq!(r.pick_pair(100), Some((1, 2)));
        r.on_event(&EventKind::RosterEntry {
            creature: Box::new(entry(4, "mossling", false, 0)),
        });
        assert_eq!(r.hatched, 1);
    }
}
