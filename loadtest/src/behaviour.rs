//! What a bot does each tick besides walking: pure decisions from its decoded view and
//! own state, so they can be tested without a server. Bots cast only when their own
//! state says the skill is ready, as a real client's UI would let them.

use arcane_protocol::snapshot::{ViewEntity, flags};
use arcane_protocol::view::ClientView;
use arcane_protocol::{CastTarget, EntityKind, NetId, OwnState};

/// A bot's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// Random walk only (the movement-only load of the netcode benchmarks).
    Wanderer,
    /// Hunts the nearest enemy: missiles at range, a nova when surrounded, heals
    /// itself when low.
    Caster,
    /// Keeps the nearest wounded player (or itself) alive, fights when nobody needs it.
    Healer,
    /// Walks east until a zone transfer, then west until the next one, and so on:
    /// crosses zone borders (with the shipped content, meadow ⇄ forest).
    Traveller,
    /// Weakens wild creatures with missiles and captures them, and breeds the ones it
    /// owns (see `tamer`).
    Tamer,
    /// Half of them cross into the next zone once, then all wander, and they chat:
    /// one message every `--chat-every` (0: none) on say, zone, party or a whisper;
    /// every fourth bot makes a party of the next three (see `social`).
    Social,
}

/// Which behaviour each bot gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BehaviourMix {
    Wanderer,
    Caster,
    Healer,
    Traveller,
    Tamer,
    Social,
    /// A quarter casters, a quarter healers, an eighth each of tamers, wanderers,
    /// travellers and social bots.
    Mix,
}

impl BehaviourMix {
    pub fn for_bot(self, i: usize) -> Behaviour {
        match self {
            BehaviourMix::Wanderer => Behaviour::Wanderer,
            BehaviourMix::Caster => Behaviour::Caster,
            BehaviourMix::Healer => Behaviour::Healer,
            BehaviourMix::Traveller => Behaviour::Traveller,
            BehaviourMix::Tamer => Behaviour::Tamer,
            BehaviourMix::Social => Behaviour::Social,
            BehaviourMix::Mix => match i % 8 {
                0 | 1 => Behaviour::Caster,
                4 => Behaviour::Social,
                5 => Behaviour::Tamer,
                2 | 6 => Behaviour::Healer,
                3 => Behaviour::Wanderer,
                _ => Behaviour::Traveller,
            },
        }
    }
}

/// Slots of the skills bots know, from the welcome message's skill list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slots {
    pub missile: Option<u8>,
    pub nova: Option<u8>,
    pub heal: Option<u8>,
}

impl Slots {
    pub fn from_welcome(skills: &[String]) -> Self {
        let find = |id: &str| skills.iter().position(|s| s == id).map(|i| i as u8);
        Slots {
            missile: find("magic_missile"),
            nova: find("arcane_nova"),
            heal: find("heal"),
        }
    }
}

/// What to do this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Direction to walk (unit-ish), or `None` to use the random walk.
    pub walk: Walk,
    pub cast: Option<(u8, CastTarget)>,
    pub respawn: bool,
    /// A wild creature to try to capture (tamers).
    pub capture: Option<NetId>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Walk {
    Wander,
    Stand,
    Toward(f32, f32),
    /// Keep walking the traveller's current heading (east or west).
    Travel,
}

/// Missiles are cast from a bit inside their 30 m range, so a moving target is still
/// in range when the intent arrives.
const MISSILE_RANGE_CM: f32 = 2_600.0;
const NOVA_RANGE_CM: f32 = 700.0;
const HEAL_RANGE_CM: f32 = 2_200.0;
/// Casters close in to this distance and back off inside `KITE_CM`.
const ENGAGE_CM: f32 = 1_800.0;
const KITE_CM: f32 = 400.0;

fn distance_cm(a: &ViewEntity, b: &ViewEntity) -> f32 {
    let dx = (b.state.x_cm - a.state.x_cm) as f32;
    let dy = (b.state.y_cm - a.state.y_cm) as f32;
    dx.hypot(dy)
}

fn toward(a: &ViewEntity, b: &ViewEntity, sign: f32) -> Walk {
    let dx = (b.state.x_cm - a.state.x_cm) as f32;
    let dy = (b.state.y_cm - a.state.y_cm) as f32;
    let len = dx.hypot(dy).max(1.0);
    Walk::Toward(sign * dx / len, sign * dy / len)
}

fn alive(e: &ViewEntity) -> bool {
    e.state.hp_pct > 0 && e.state.flags & flags::DEAD == 0
}

/// The nearest entity of `kind` matching `keep`, with its distance.
fn nearest<'a>(
    view: &'a ClientView,
    me: &ViewEntity,
    kind: EntityKind,
    keep: impl Fn(&ViewEntity) -> bool,
) -> Option<(&'a ViewEntity, f32)> {
    view.entities()
        .iter()
        .filter(|e| e.state.kind == kind && e.net_id != me.net_id && keep(e))
        .map(|e| (e, distance_cm(me, e)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Decides this tick's walk and cast for a bot whose own entity is `me`.
pub fn decide(behaviour: Behaviour, view: &ClientView, me: NetId, slots: Slots) -> Decision {
    let idle = Decision {
        walk: Walk::Wander,
        cast: None,
        respawn: false,
        capture: None,
    };
    let Some(own) = view.own() else {
        return idle;
    };
    // A living wanderer wanders whatever it sees: spare it the search of its view
    // for its own entity (a swarm of thousands makes that search every tick).
    if behaviour == Behaviour::Wanderer && own.respawn_tick.is_none() {
        return idle;
    }
    let Some(me) = view.entity(me) else {
        return idle;
    };
    let tick = view.tick;
    if let Some(at) = own.respawn_tick {
        return Decision {
            walk: Walk::Stand,
            cast: None,
            respawn: tick >= at,
            capture: None,
        };
    }
    if behaviour == Behaviour::Wanderer {
        return idle;
    }
    if matches!(behaviour, Behaviour::Traveller | Behaviour::Social) {
        return Decision {
            walk: Walk::Travel,
            ..idle
        };
    }
    if own.casting.is_some() {
        // Standing still keeps a cast with a cast time from being interrupted.
        return Decision {
            walk: Walk::Stand,
            ..idle
        };
    }
    let ready = |slot: Option<u8>| ready(own, tick, slot);
    let hp_pct = own.hp * 100 / own.max_hp.max(1);
    if behaviour == Behaviour::Tamer {
        return hunt(view, me, own, slots);
    }
    let enemy = nearest(view, me, EntityKind::Enemy, alive);
    let mut cast = None;
    let mut walk = match enemy {
        Some((e, d)) if d > ENGAGE_CM => toward(me, e, 1.0),
        Some((e, d)) if d < KITE_CM => toward(me, e, -1.0),
        Some(_) => Walk::Stand,
        None => Walk::Wander,
    };
    if behaviour == Behaviour::Healer {
        let wounded = nearest(view, me, EntityKind::Player, |e| {
            alive(e) && e.state.hp_pct < 75
        })
        .filter(|(_, d)| *d <= HEAL_RANGE_CM);
        if let Some(heal) = ready(slots.heal) {
            if hp_pct < 75 {
                cast = Some((heal, CastTarget::Caster));
            } else if let Some((ally, _)) = wounded {
                cast = Some((heal, CastTarget::Entity(ally.net_id)));
            }
        }
        if cast.is_some() {
            walk = Walk::Stand;
        } else if let Some((ally, d)) = nearest(view, me, EntityKind::Player, alive)
            && d > 1_000.0
        {
            walk = toward(me, ally, 1.0);
        }
    } else if hp_pct < 40
        && let Some(heal) = ready(slots.heal)
    {
        cast = Some((heal, CastTarget::Caster));
        walk = Walk::Stand;
    }
    if cast.is_none()
        && own.mana >= 10
        && let Some((e, d)) = enemy
    {
        if d <= NOVA_RANGE_CM
            && let Some(nova) = ready(slots.nova)
        {
            cast = Some((nova, CastTarget::Caster));
        } else if d <= MISSILE_RANGE_CM
            && let Some(missile) = ready(slots.missile)
        {
            cast = Some((missile, CastTarget::Entity(e.net_id)));
        }
    }
    Decision {
        walk,
        cast,
        respawn: false,
        capture: None,
    }
}

/// `slot` when its skill and the global cooldown are ready at `tick`.
fn ready(own: &arcane_protocol::OwnState, tick: u32, slot: Option<u8>) -> Option<u8> {
    slot.filter(|&s| {
        tick >= own.gcd_ready_tick
            && own
                .ready_tick
                .get(usize::from(s))
                .is_some_and(|&r| tick >= r)
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use arcane_protocol::snapshot::EntityEnter;
    use arcane_protocol::{EntityState, Snapshot};

    fn view(entities: &[(u32, EntityKind, i32, u8)], own: OwnState) -> ClientView {
        let mut v = ClientView::new();
        let snap = Snapshot {
            id: 1,
            tick: 100,
            enters: entities
                .iter()
                .enumerate()
                .map(|(i, &(id, kind, x, hp))| EntityEnter {
                    local: i as u16,
                    net_id: NetId(id),
                    state: EntityState {
                        kind,
                        variant: 0,
                        x_cm: x,
                        y_cm: 0,
                        hp_pct: hp,
                        flags: 0,
                    },
                })
                .collect(),
            own: Some(own),
            ..Snapshot::default()
        };
        v.apply(&snap).unwrap();
        v
    }

    fn fresh() -> OwnState {
        OwnState {
            hp: 200,
            max_hp: 200,
            mana: 100,
            max_mana: 100,
            ready_tick: vec![0, 0, 0],
            ..OwnState::default()
        }
    }

    const SLOTS: Slots = Slots {
        missile: Some(0),
        nova: Some(1),
        heal: Some(2),
    };

    #[test]
    fn casters_shoot_at_range_nova_up_close_and_heal_when_low() {
        let far = view(
            &[
                (1, EntityKind::Player, 0, 100),
                (2, EntityKind::Enemy, 2_000, 80),
            ],
            fresh(),
        );
        let d = decide(Behaviour::Caster, &far, NetId(1), SLOTS);
        assert_eq!(d.cast, Some((0, CastTarget::Entity(NetId(2)))));
        let close = view(
            &[
                (1, EntityKind::Player, 0, 100),
                (2, EntityKind::Enemy, 500, 80),
            ],
            fresh(),
        );
        assert_eq!(
            decide(Behaviour::Caster, &close, NetId(1), SLOTS).cast,
            Some((1, CastTarget::Caster))
        );
        let low = OwnState { hp: 50, ..fresh() };
        let hurt = view(
            &[
                (1, EntityKind::Player, 0, 25),
                (2, EntityKind::Enemy, 2_000, 80),
            ],
            low,
        );
        assert_eq!(
            decide(Behaviour::Caster, &hurt, NetId(1), SLOTS).cast,
            Some((2, CastTarget::Caster))
        );
    }

    #[test]
    fn tamers_shoot_a_healthy_creature_and_capture_a_weak_one_in_range() {
        let creature = |hp, x| {
            view(
                &[
                    (1, EntityKind::Player, 0, 100),
                    (2, EntityKind::Creature, x, hp),
                ],
                fresh(),
            )
        };
        let d = decide(Behaviour::Tamer, &creature(100, 1_500), NetId(1), SLOTS);
        assert_eq!(d.cast, Some((0, CastTarget::Entity(NetId(2)))));
        assert_eq!(d.capture, None);
        let d = decide(Behaviour::Tamer, &creature(40, 600), NetId(1), SLOTS);
        assert_eq!(d.capture, Some(NetId(2)));
        assert_eq!(d.cast, None, "no missile at a weakened creature");
        let far = decide(Behaviour::Tamer, &creature(40, 2_000), NetId(1), SLOTS);
        assert_eq!(far.capture, None);
        assert!(matches!(far.walk, Walk::Toward(x, _) if x > 0.0));
    }

    #[test]
    fn nothing_is_cast_on_cooldown_and_the_dead_ask_to_respawn() {
        let cooling = OwnState {
            ready_tick: vec![150, 150, 150],
            ..fresh()
        };
        let v = view(
            &[
                (1, EntityKind::Player, 0, 100),
                (2, EntityKind::Enemy, 500, 80),
            ],
            cooling,
        );
        assert_eq!(decide(Behaviour::Caster, &v, NetId(1), SLOTS).cast, None);
        let dead = OwnState {
            hp: 0,
            respawn_tick: Some(90),
            ..fresh()
        };
        let v = view(&[(1, EntityKind::Player, 0, 0)], dead);
        let d = decide(Behaviour::Caster, &v, NetId(1), SLOTS);
        assert!(d.respawn && d.cast.is_none());
    }

    #[test]
    fn healers_heal_the_wounded_ally() {
        let v = view(
            &[
                (1, EntityKind::Player, 0, 100),
                (3, EntityKind::Player, 1_000, 40),
            ],
            fresh(),
        );
        let d = decide(Behaviour::Healer, &v, NetId(1), SLOTS);
        assert_eq!(d.cast, Some((2, CastTarget::Entity(NetId(3)))));
        assert_eq!(d.walk, Walk::Stand);
        assert_eq!(decide(Behaviour::Wanderer, &v, NetId(1), SLOTS).cast, None);
    }
}
