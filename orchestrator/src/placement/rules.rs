//! Where players go: pure decisions over the zone registry, tested beside the code.
//!
//! Zones run a content map (their *template*). A shared zone's overflow copies are
//! named `<template>~<n>`; a party's instance of a template is `<template>~<party>`.
//! A player belongs to the zone that owns them (`store::Ownership`); placement only
//! moves ownership between zones that run the same map, so a saved position stays
//! meaningful.

use crate::registry::ZoneStatus;

/// The content zone a zone id runs (`meadow~2` → `meadow`).
pub fn template_of(zone_id: &str) -> &str {
    zone_id.split('~').next().unwrap_or(zone_id)
}

/// The zone id of `party`'s instance of `template` (one per party at a time).
pub fn instance_id(template: &str, party: &str) -> String {
    let clean: String = party
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{template}~{clean}")
}

/// The party key of a player: its party, or a party of one.
pub fn party_key(party: Option<&str>, player: u64) -> String {
    match party {
        Some(p) if !p.is_empty() => format!("party-{p}"),
        _ => format!("solo-{player}"),
    }
}

/// The outcome of a placement decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Place the player in this zone (moving ownership when it is not the owner).
    Zone(String),
    /// Every copy of the map is at its overflow threshold: open `<template>~<n>`.
    OpenCopy(String),
    /// Nowhere to go now (the owner zone is down and has no running copy).
    Unavailable(String),
}

fn open(z: &ZoneStatus) -> bool {
    z.up && z.load.players < z.info.capacity
}

/// A zone that has dilated time this long (its ticks over budget, its time slowed)
/// takes no new arrivals: they go to a copy below its threshold, or a new copy opens.
/// Players returning to it still go home.
pub const DILATION_OVERFLOW_S: f64 = 10.0;

/// Whether `z` has dilated time for [`DILATION_OVERFLOW_S`] or more without a break.
pub fn persistently_dilated(z: &ZoneStatus) -> bool {
    z.load.dilated_s >= DILATION_OVERFLOW_S
}

fn below_threshold(z: &ZoneStatus) -> bool {
    z.up && z.load.players < z.info.overflow_at() && !persistently_dilated(z)
}

fn fill(z: &ZoneStatus) -> f64 {
    f64::from(z.load.players) / f64::from(z.info.overflow_at().max(1))
}

/// Where a player owned by `owner` goes when they log in. They return to their own
/// zone while it is up and has room (sticky). When it is down or full, they go to the
/// least-filled running copy of the same map below its overflow threshold (a copy
/// that has dilated time for long counts as past it); when every copy is past it, a
/// new copy is opened. `arriving` marks a new player or a transfer
/// (they count as new arrivals for the overflow threshold even in their own zone).
pub fn choose(zones: &[ZoneStatus], owner: &str, arriving: bool) -> Choice {
    let template = template_of(owner);
    let own = zones.iter().find(|z| z.info.zone_id == owner);
    if let Some(z) = own
        && (if arriving {
            below_threshold(z)
        } else {
            open(z)
        })
    {
        return Choice::Zone(owner.to_string());
    }
    // Instances are not shared: a party's instance has no copies to fall back on.
    if own.is_some_and(|z| z.info.instance) {
        return Choice::Unavailable(format!("instance {owner} is full or not responding"));
    }
    let copies = || {
        zones
            .iter()
            .filter(|z| !z.info.instance && z.info.template() == template)
    };
    if let Some(best) = copies().filter(|z| below_threshold(z)).min_by(|a, b| {
        fill(a)
            .total_cmp(&fill(b))
            .then_with(|| a.info.zone_id.cmp(&b.info.zone_id))
    }) {
        return Choice::Zone(best.info.zone_id.clone());
    }
    if copies().any(|z| z.up) {
        // Everything running is past its threshold: a new copy.
        return Choice::OpenCopy(free_copy_id(zones, template));
    }
    Choice::Unavailable(format!(
        "zone {owner} is not running; try again when it is back"
    ))
}

/// The id of a new copy of `template`, after the lowest number no zone in `zones`
/// uses (`meadow~2`, `meadow~3`…).
pub fn free_copy_id(zones: &[ZoneStatus], template: &str) -> String {
    let n = (2..)
        .find(|n| {
            !zones
                .iter()
                .any(|z| z.info.zone_id == format!("{template}~{n}"))
        })
        .unwrap_or(2);
    format!("{template}~{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ZoneInfo, ZoneLoad};

    fn zone(id: &str, players: u32, capacity: u32, up: bool) -> ZoneStatus {
        ZoneStatus {
            info: ZoneInfo {
                zone_id: id.into(),
                endpoint: format!("ws://{id}"),
                capacity,
                template: template_of(id).into(),
                overflow_at: capacity * 8 / 10,
                ..ZoneInfo::default()
            },
            load: ZoneLoad {
                players,
                ..ZoneLoad::default()
            },
            last_heartbeat_ms: 0,
            up,
        }
    }

    #[test]
    fn names() {
        assert_eq!(template_of("meadow~2"), "meadow");
        assert_eq!(template_of("meadow"), "meadow");
        assert_eq!(
            instance_id("crypt", "party-red team"),
            "crypt~party-red_team"
        );
        assert_eq!(party_key(None, 7), "solo-7");
        assert_eq!(party_key(Some("red"), 7), "party-red");
    }

    #[test]
    fn sticky_while_up_and_with_room() {
        let zones = [
            zone("meadow", 90, 100, true),
            zone("meadow~2", 0, 100, true),
        ];
        // A returning player goes home even past the threshold...
        assert_eq!(
            choose(&zones, "meadow", false),
            Choice::Zone("meadow".into())
        );
        // ...a new arrival goes to the copy.
        assert_eq!(
            choose(&zones, "meadow", true),
            Choice::Zone("meadow~2".into())
        );
    }

    #[test]
    fn down_or_full_owner_moves_to_a_copy_of_the_same_map_only() {
        let zones = [
            zone("meadow", 0, 100, false),
            zone("forest", 0, 100, true),
            zone("meadow~2", 10, 100, true),
            zone("meadow~3", 5, 100, true),
        ];
        assert_eq!(
            choose(&zones, "meadow", false),
            Choice::Zone("meadow~3".into())
        );
        let zones = [zone("meadow", 100, 100, true), zone("forest", 0, 100, true)];
        assert_eq!(
            choose(&zones, "meadow", false),
            Choice::OpenCopy("meadow~2".into())
        );
        let zones = [zone("meadow", 0, 100, false), zone("forest", 0, 100, true)];
        assert!(matches!(
            choose(&zones, "meadow", false),
            Choice::Unavailable(_)
        ));
    }

    #[test]
    fn overflow_opens_the_lowest_free_copy() {
        let zones = [
            zone("meadow", 80, 100, true),
            zone("meadow~3", 80, 100, true),
        ];
        assert_eq!(
            choose(&zones, "meadow", true),
            Choice::OpenCopy("meadow~2".into())
        );
    }

    #[test]
    fn a_zone_dilating_time_for_long_sends_arrivals_to_a_new_copy() {
        let mut meadow = zone("meadow", 30, 100, true);
        meadow.load.time_rate = 0.45;
        meadow.load.dilated_s = DILATION_OVERFLOW_S - 1.0;
        // A short dilation: still its own zone.
        assert_eq!(
            choose(std::slice::from_ref(&meadow), "meadow", true),
            Choice::Zone("meadow".into())
        );
        meadow.load.dilated_s = DILATION_OVERFLOW_S;
        assert_eq!(
            choose(std::slice::from_ref(&meadow), "meadow", true),
            Choice::OpenCopy("meadow~2".into())
        );
        // A copy with room takes them; returning players still go home.
        let zones = [meadow, zone("meadow~2", 10, 100, true)];
        assert_eq!(
            choose(&zones, "meadow", true),
            Choice::Zone("meadow~2".into())
        );
        assert_eq!(
            choose(&zones, "meadow", false),
            Choice::Zone("meadow".into())
        );
    }

    #[test]
    fn instances_have_no_copies() {
        let mut i = zone("crypt~party-red", 8, 8, true);
        i.info.instance = true;
        let zones = [i, zone("crypt", 0, 8, true)];
        assert!(matches!(
            choose(&zones, "crypt~party-red", false),
            Choice::Unavailable(_)
        ));
    }
}
