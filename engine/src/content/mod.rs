//! Designer content: typed RON definitions (netcode tuning, classes, skills, enemies,
//! creatures, zones) loaded with `deny_unknown_fields` and then checked semantically. Every problem
//! is reported at once, each as `file:line:col: message`.

mod chat;
mod check;
mod check_creatures;
mod classes;
mod creatures;
mod enemies;
pub mod locate;
mod netcode;
mod skills;
mod sources;
mod zone;

pub use chat::ChatContent;
pub use classes::ClassDef;
pub use creatures::{
    BreedingRules, CaptureRules, CreatureContent, Cross, FLEE_SPEED_FACTOR, GeneDef, Inheritance,
    SpeciesDef, WildDef, WildPopulation,
};
pub use enemies::{EnemyAttack, EnemyDef, IdleBehaviour, TargetRule, TelegraphShape};
pub use netcode::{InputLimits, InterestTier, NetcodeDef, Tiers};
pub use skills::{SkillDef, SkillEffect, SkillTarget};
pub use sources::{ContentSources, ContentVersion};
pub use zone::{
    Arrival, Bounds, Exit, ExitTarget, InstanceDef, NpcGroup, Obstacle, Spawner, ZoneDef,
};

use std::fmt;
use std::path::PathBuf;

/// One problem found in a content file.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentError {
    pub file: PathBuf,
    /// 1-based line and column when the problem has a position in the text.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// All problems of one load, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ContentErrors(pub Vec<ContentError>);

impl fmt::Display for ContentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Everything a zone needs from `content/`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneContent {
    pub zone: ZoneDef,
    pub netcode: NetcodeDef,
    pub skills: Vec<SkillDef>,
    pub classes: Vec<ClassDef>,
    pub enemies: Vec<EnemyDef>,
    pub creatures: CreatureContent,
    /// Chat limits and the word filter (`chat.ron`, optional).
    pub chat: ChatContent,
    /// Identifies the content files this was loaded from.
    pub version: ContentVersion,
}

impl ZoneContent {
    /// Loads the zone `zone_id` from the content folder `dir`, reporting every problem.
    pub fn load(dir: &std::path::Path, zone_id: &str) -> Result<ZoneContent, ContentErrors> {
        ContentSources::read_dir(dir)?.zone(zone_id)
    }

    /// Loads the map `template` to run as zone `run_as` (an overflow copy or an
    /// instance has its own id but its template's content).
    pub fn load_as(
        dir: &std::path::Path,
        template: &str,
        run_as: &str,
    ) -> Result<ZoneContent, ContentErrors> {
        ContentSources::read_dir(dir)?.zone_as(template, run_as)
    }

    pub fn skill_index(&self, id: &str) -> Option<usize> {
        self.skills.iter().position(|s| s.id == id)
    }

    pub fn enemy_index(&self, id: &str) -> Option<usize> {
        self.enemies.iter().position(|e| e.id == id)
    }

    /// The class players of this zone play (validated to exist).
    pub fn player_class(&self) -> Option<&ClassDef> {
        self.classes.iter().find(|c| c.id == self.zone.player_class)
    }

    /// Skill indices (into `skills`) of the player class's slots.
    pub fn class_skill_indices(&self) -> Vec<usize> {
        self.player_class()
            .map(|c| {
                c.skills
                    .iter()
                    .filter_map(|s| self.skill_index(s))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The fastest anything walks here (metres per second); projectiles excluded. A
    /// fleeing creature counts at its top speed.
    pub fn fastest_speed(&self) -> f32 {
        let npcs = self.zone.npcs.iter().map(|g| g.speed);
        let enemies = self.enemies.iter().map(|e| e.speed);
        // Only species that live here: a cell holds none of the others (cap 0).
        let populations = self.zone.wild.iter().flat_map(|w| &w.populations);
        let creatures = populations
            .filter_map(|p| self.creatures.species_index(&p.species))
            .map(|i| self.creatures.species[i].speed * self.creatures.top_speed_factor());
        npcs.chain(enemies)
            .chain(creatures)
            .fold(self.zone.player_speed, f32::max)
    }

    /// Seconds to whole ticks at this zone's tick rate (at least `min`).
    pub fn ticks(&self, seconds: f32, min: u64) -> u64 {
        let hz = f32::from(self.netcode.tick_rate_hz.max(1));
        ((seconds * hz).round().max(0.0) as u64).max(min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec2;

    fn one_error(sources: &ContentSources, zone: &str) -> ContentError {
        let errs = sources.zone(zone).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{errs}");
        errs.0[0].clone()
    }

    #[test]
    fn exits_must_lead_somewhere_from_inside_the_bounds() {
        let mut s = ContentSources::shipped();
        let meadow = s.get("zones/meadow.ron").unwrap().to_string();
        s.set(
            "zones/meadow.ron",
            meadow.replace("to: Zone(\"forest\")", "to: Zone(\"swamp\")"),
        );
        let e = one_error(&s, "meadow");
        assert!(e.message.contains("unknown zone \"swamp\""), "{e}");
        let mut s = ContentSources::shipped();
        s.set(
            "zones/meadow.ron",
            meadow.replace(
                "min: (995.0, 0.0), max: (1000.0, 1000.0)",
                "min: (995.0, 0.0), max: (1010.0, 1000.0)",
            ),
        );
        let e = one_error(&s, "meadow");
        assert!(e.message.contains("not inside the zone bounds"), "{e}");
        assert!(e.position.is_some(), "{e}");
    }

    #[test]
    fn shipped_content_validates() {
        let ids = ContentSources::shipped().validate().unwrap();
        assert_eq!(ids, ["crypt", "forest", "meadow", "test_area"]);
        let test_area = ContentSources::shipped().zone("test_area").unwrap();
        let c = &test_area.creatures;
        assert!(c.species.len() >= 3 && c.genes.len() >= 5);
        assert!(c.gene_index("temperament").is_some() && c.gene_index("diet").is_some());
        assert!(test_area.zone.wild.is_some());
        let crypt = ContentSources::shipped().zone("crypt").unwrap();
        assert!(crypt.zone.instance.is_some());
        assert_eq!(crypt.zone.exits[0].to, ExitTarget::Zone("meadow".into()));
        let c = ContentSources::shipped().zone("meadow").unwrap();
        assert_eq!(c.player_class().unwrap().id, "mage");
        assert_eq!(c.class_skill_indices().len(), 3);
    }

    #[test]
    fn unknown_field_reports_line_and_column() {
        let mut s = ContentSources::shipped();
        let text = s
            .get("zones/meadow.ron")
            .unwrap()
            .replacen("player_speed", "player_sped", 1);
        s.set("zones/meadow.ron", text);
        let e = one_error(&s, "meadow");
        assert_eq!(e.position, Some((5, 5)), "{e}");
        assert!(e.to_string().contains("player_sped"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_value_and_all_are_reported() {
        let mut s = ContentSources::shipped();
        let skills =
            s.get("skills.ron")
                .unwrap()
                .replacen("cooldown_s: 6.0", "cooldown_s: -6.0", 1);
        s.set("skills.ron", skills);
        let classes = s
            .get("classes.ron")
            .unwrap()
            .replacen("\"heal\"]", "\"fireball\"]", 1);
        s.set("classes.ron", classes);
        let errs = s.validate().unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.0.len(), 2, "{text}");
        assert!(
            text.contains(
                "content/skills.ron:16:9: arcane_nova: cooldown_s must be positive, got -6"
            ),
            "{text}"
        );
        assert!(
            text.contains("content/classes.ron:9:50: mage: unknown skill \"fireball\""),
            "{text}"
        );
    }

    #[test]
    fn creature_content_problems_point_at_their_value() {
        let mut s = ContentSources::shipped();
        let creatures = s
            .get("creatures.ron")
            .unwrap()
            .replacen("range: (0.6, 1.6)", "range: (1.6, 0.6)", 1)
            .replacen("offspring: \"thornback\"", "offspring: \"griffin\"", 1);
        s.set("creatures.ron", creatures);
        let test_area = s
            .get("zones/test_area.ron")
            .unwrap()
            .replacen("species: \"emberfox\"", "species: \"dodo\"", 1)
            .replacen(
                "initial: 4, cap_per_cell: 2",
                "initial: 40, cap_per_cell: 2",
                1,
            );
        s.set("zones/test_area.ron", test_area);
        let text = s.validate().unwrap_err().to_string();
        for want in [
            "content/creatures.ron:33:29: range is an empty range: (1.6, 0.6)",
            "content/creatures.ron:47:54: unknown species \"griffin\"",
            "content/zones/test_area.ron:20:11: unknown species \"dodo\"",
            "cap_per_cell 2 over the area's 4 cells holds 8, below the initial 40",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(
            text.contains("content/zones/test_area.ron:"),
            "zone problems name the zone file: {text}"
        );
    }

    #[test]
    fn an_ack_timeout_shorter_than_the_baseline_ring_is_refused() {
        let mut s = ContentSources::shipped();
        let netcode = s.get("netcode.ron").unwrap().replacen(
            "ack_timeout_ticks: 200",
            "ack_timeout_ticks: 5",
            1,
        );
        s.set("netcode.ron", netcode);
        let text = s.validate().unwrap_err().to_string();
        assert!(
            text.contains("ack_timeout_ticks must be at least 16") && text.contains("got 5"),
            "{text}"
        );
    }

    #[test]
    fn segment_blocking_matches_the_obstacle_shapes() {
        let circle = Obstacle::Circle {
            center: Vec2::new(0.0, 0.0),
            radius: 1.0,
        };
        assert!(circle.blocks_segment(Vec2::new(-5.0, 0.0), Vec2::new(5.0, 0.0)));
        assert!(!circle.blocks_segment(Vec2::new(-5.0, 2.0), Vec2::new(5.0, 2.0)));
        assert!(!circle.blocks_segment(Vec2::new(-5.0, 0.0), Vec2::new(-2.0, 0.0)));
        let boxed = Obstacle::Box {
            min: Vec2::new(0.0, 0.0),
            max: Vec2::new(2.0, 2.0),
        };
        assert!(boxed.blocks_segment(Vec2::new(-1.0, 1.0), Vec2::new(3.0, 1.0)));
        assert!(boxed.blocks_segment(Vec2::new(1.0, -1.0), Vec2::new(1.0, 3.0)));
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, 3.0), Vec2::new(3.0, 3.0)));
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, -1.0), Vec2::new(-0.5, 3.0)));
        // Touching an edge is not entering the box.
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, 0.0), Vec2::new(3.0, 0.0)));
    }
}
