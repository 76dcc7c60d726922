//! The tamer bot: it hunts the nearest wild creature, weakens it with missiles to the
//! capture threshold, walks into range and captures it; and it breeds the creatures
//! it owns. Pure decisions over the decoded view and the roster the zone reports, so
//! they are tested without a server.

use std::collections::{BTreeMap, BTreeSet};

use arcane_protocol::snapshot::ViewEntity;
use arcane_protocol::view::ClientView;
use arcane_protocol::{CastTarget, CreatureId, CreatureView, EntityKind, EventKind, OwnState};

use crate::behaviour::{Decision, MISSILE_RANGE_CM, Slots, Walk, alive, nearest, ready, toward};

/// A creature at or below this HP percentage may be captured (the shipped content's
/// `max_hp_fraction` is 0.5; the wire rounds up, so 50 % is at most half).
pub const CAPTURE_HP_PCT: u8 = 50;
/// Tamers try from a bit inside the 8 m capture range.
pub const CAPTURE_RANGE_CM: f32 = 700.0;
/// They close in to this distance.
const CLOSE_CM: f32 = 500.0;

/// This tick's walk, missile and capture for a tamer whose entity is `me`.
pub fn hunt(view: &ClientView, me: &ViewEntity, own: &OwnState, slots: Slots) -> Decision {
    let tick = view.tick;
    let mut d = Decision {
        walk: Walk::Wander,
        cast: None,
        respawn: false,
        capture: None,
    };
    if own.hp * 100 / own.max_hp.max(1) < 40
        && let Some(heal) = ready(own, tick, slots.heal)
    {
        d.cast = Some((heal, CastTarget::Caster));
        d.walk = Walk::Stand;
        return d;
    }
    let Some((c, dist)) = nearest(view, me, EntityKind::Creature, alive) else {
        return d;
    };
    d.walk = if dist > CLOSE_CM {
        toward(me, c, 1.0)
    } else {
        Walk::Stand
    };
    if c.state.hp_pct <= CAPTURE_HP_PCT {
        if dist <= CAPTURE_RANGE_CM {
            d.capture = Some(c.net_id);
        }
    } else if dist <= MISSILE_RANGE_CM
        && own.mana >= 10
        && let Some(missile) = ready(own, tick, slots.missile)
    {
        d.cast = Some((missile, CastTarget::Entity(c.net_id)));
    }
    d
}

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
    use arcane_protocol::snapshot::EntityEnter;
    use arcane_protocol::{EntityState, NetId, Snapshot};

    fn view(creature_hp: u8, x_cm: i32) -> ClientView {
        let state = |kind, x, hp| EntityState {
            kind,
            variant: 0,
            x_cm: x,
            y_cm: 0,
            hp_pct: hp,
            flags: 0,
        };
        let mut v = ClientView::new();
        v.apply(&Snapshot {
            id: 1,
            tick: 100,
            enters: vec![
                EntityEnter {
                    local: 0,
                    net_id: NetId(1),
                    state: state(EntityKind::Player, 0, 100),
                },
                EntityEnter {
                    local: 1,
                    net_id: NetId(2),
                    state: state(EntityKind::Creature, x_cm, creature_hp),
                },
            ],
            own: Some(OwnState {
                hp: 200,
                max_hp: 200,
                mana: 100,
                max_mana: 100,
                ready_tick: vec![0, 0, 0],
                ..OwnState::default()
            }),
            ..Snapshot::default()
        })
        .unwrap();
        v
    }

    const SLOTS: Slots = Slots {
        missile: Some(0),
        nova: Some(1),
        heal: Some(2),
    };

    fn decide(v: &ClientView) -> Decision {
        crate::behaviour::decide(crate::behaviour::Behaviour::Tamer, v, NetId(1), SLOTS)
    }

    #[test]
    fn a_healthy_creature_is_shot_and_a_weak_one_in_range_captured() {
        let d = decide(&view(100, 1_500));
        assert_eq!(d.cast, Some((0, CastTarget::Entity(NetId(2)))));
        assert_eq!(d.capture, None);
        let d = decide(&view(40, 600));
        assert_eq!(d.capture, Some(NetId(2)));
        assert_eq!(d.cast, None, "no missile at a weakened creature");
        let far = decide(&view(40, 2_000));
        assert_eq!(far.capture, None);
        assert!(matches!(far.walk, Walk::Toward(x, _) if x > 0.0));
    }

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
