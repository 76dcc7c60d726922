//! The text of a content folder, and loading a zone from it: parse every file, check
//! everything, resolve each problem's path to `file:line:col`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::check::{self, Problem};
use super::check_creatures;
use super::locate::{field_at, locate};
use super::{
    ChatContent, ClassDef, ContentError, ContentErrors, CreatureContent, EnemyDef, NetcodeDef,
    SkillDef, ZoneContent, ZoneDef,
};

/// The shared files every zone needs, relative to the content folder.
pub const SHARED_FILES: [&str; 5] = [
    "netcode.ron",
    "skills.ron",
    "classes.ron",
    "enemies.ron",
    "creatures.ron",
];

/// Shared files a folder may leave out (their defaults apply).
pub const OPTIONAL_FILES: [&str; 1] = ["chat.ron"];

/// A short hash of the content files, shown in `/metrics` and the welcome message so a
/// client, a bot or an operator can tell which content a zone runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContentVersion(pub u64);

impl fmt::Display for ContentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The files of a content folder, by path relative to it (`zones/meadow.ron`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSources {
    /// Where the files came from; error messages name files under it.
    root: PathBuf,
    files: BTreeMap<String, String>,
}

/// The shared files as far as they parsed, and every problem found in them.
struct Shared {
    netcode: Option<NetcodeDef>,
    skills: Option<Vec<SkillDef>>,
    classes: Option<Vec<ClassDef>>,
    enemies: Option<Vec<EnemyDef>>,
    creatures: Option<CreatureContent>,
    chat: Option<ChatContent>,
    errors: Vec<ContentError>,
}

impl ContentSources {
    /// An empty set whose errors name files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ContentSources {
            root: root.into(),
            files: BTreeMap::new(),
        }
    }

    /// The content shipped in this repository's `content/`, compiled in.
    pub fn shipped() -> Self {
        let mut s = ContentSources::new("content");
        s.set("netcode.ron", include_str!("../../../content/netcode.ron"));
        s.set("skills.ron", include_str!("../../../content/skills.ron"));
        s.set("classes.ron", include_str!("../../../content/classes.ron"));
        s.set("enemies.ron", include_str!("../../../content/enemies.ron"));
        s.set(
            "creatures.ron",
            include_str!("../../../content/creatures.ron"),
        );
        s.set("chat.ron", include_str!("../../../content/chat.ron"));
        s.set(
            "zones/meadow.ron",
            include_str!("../../../content/zones/meadow.ron"),
        );
        s.set(
            "zones/forest.ron",
            include_str!("../../../content/zones/forest.ron"),
        );
        s.set(
            "zones/crypt.ron",
            include_str!("../../../content/zones/crypt.ron"),
        );
        s.set(
            "zones/test_area.ron",
            include_str!("../../../content/zones/test_area.ron"),
        );
        s
    }

    /// Reads the shared files and every `zones/*.ron` under `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self, ContentErrors> {
        let mut s = ContentSources::new(dir);
        let mut errors = Vec::new();
        let unreadable = |rel: &str, e: std::io::Error| ContentError {
            file: dir.join(rel),
            position: None,
            message: format!("cannot read file: {e}"),
        };
        for rel in SHARED_FILES {
            match std::fs::read_to_string(dir.join(rel)) {
                Ok(t) => s.set(rel, t),
                Err(e) => errors.push(unreadable(rel, e)),
            }
        }
        for rel in OPTIONAL_FILES {
            match std::fs::read_to_string(dir.join(rel)) {
                Ok(t) => s.set(rel, t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(unreadable(rel, e)),
            }
        }
        match std::fs::read_dir(dir.join("zones")) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".ron"))
                    .collect();
                names.sort();
                for n in names {
                    let rel = format!("zones/{n}");
                    match std::fs::read_to_string(dir.join(&rel)) {
                        Ok(t) => s.set(&rel, t),
                        Err(e) => errors.push(unreadable(&rel, e)),
                    }
                }
            }
            Err(e) => errors.push(unreadable("zones", e)),
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ContentErrors(errors))
        }
    }

    /// Every file's text, by path relative to the folder (what a journal records).
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// A set made of `files` (read back from a journal); errors name files under
    /// `root`.
    pub fn from_files(root: impl Into<PathBuf>, files: BTreeMap<String, String>) -> Self {
        ContentSources {
            root: root.into(),
            files,
        }
    }

    /// The content of map `template` run as zone `run_as` (an overflow copy or an
    /// instance has its own id but its template's content).
    pub fn zone_as(&self, template: &str, run_as: &str) -> Result<ZoneContent, ContentErrors> {
        let mut content = self.zone(template)?;
        content.zone.id = run_as.to_string();
        Ok(content)
    }

    /// Adds or replaces a file (tests, tools).
    pub fn set(&mut self, rel: &str, text: impl Into<String>) {
        self.files.insert(rel.to_string(), text.into());
    }

    pub fn get(&self, rel: &str) -> Option<&str> {
        self.files.get(rel).map(String::as_str)
    }

    /// Removes a file (tests: a content folder with only some zones).
    pub fn remove(&mut self, rel: &str) {
        self.files.remove(rel);
    }

    /// Writes every file under `dir`, creating folders as needed.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for (rel, text) in &self.files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(())
    }

    /// Ids of the zones in `zones/`, sorted.
    pub fn zone_ids(&self) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|k| k.strip_prefix("zones/")?.strip_suffix(".ron"))
            .map(str::to_string)
            .collect()
    }

    /// A hash over every file's path and text.
    pub fn version(&self) -> ContentVersion {
        let mut h = Sha256::new();
        for (k, v) in &self.files {
            h.update((k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        ContentVersion(u64::from_be_bytes(b))
    }

    fn error(&self, rel: &str, position: Option<(usize, usize)>, message: String) -> ContentError {
        ContentError {
            file: self.root.join(rel),
            position,
            message,
        }
    }

    fn parse<T: DeserializeOwned>(&self, rel: &str) -> Result<T, ContentError> {
        let Some(text) = self.files.get(rel) else {
            return Err(self.error(rel, None, "file not found".into()));
        };
        ron::from_str(text).map_err(|e| {
            let (line, col) = (e.span.start.line, e.span.start.col);
            self.error(
                rel,
                Some((line, col)),
                parse_message(text, line, col, &e.code),
            )
        })
    }

    fn resolve(&self, problems: Vec<Problem>) -> Vec<ContentError> {
        problems
            .into_iter()
            .map(|p| {
                let position = self.files.get(&p.file).map(|t| locate(t, &p.segs()));
                self.error(&p.file, position, p.message)
            })
            .collect()
    }

    /// Parses every shared file it can and checks what parsed.
    fn shared(&self) -> Shared {
        let mut errors = Vec::new();
        let netcode = parsed(self.parse::<NetcodeDef>("netcode.ron"), &mut errors);
        let skills = parsed(self.parse::<Vec<SkillDef>>("skills.ron"), &mut errors);
        let classes = parsed(self.parse::<Vec<ClassDef>>("classes.ron"), &mut errors);
        let enemies = parsed(self.parse::<Vec<EnemyDef>>("enemies.ron"), &mut errors);
        let creatures = parsed(self.parse::<CreatureContent>("creatures.ron"), &mut errors);
        let chat = if self.files.contains_key("chat.ron") {
            parsed(self.parse::<ChatContent>("chat.ron"), &mut errors)
        } else {
            Some(ChatContent::default())
        };
        errors.extend(self.resolve(chat.as_ref().map(super::chat::check).unwrap_or_default()));
        errors.extend(self.resolve(check::shared(
            netcode.as_ref(),
            skills.as_deref(),
            classes.as_deref(),
            enemies.as_deref(),
        )));
        errors.extend(
            self.resolve(
                creatures
                    .as_ref()
                    .map(check_creatures::shared)
                    .unwrap_or_default(),
            ),
        );
        Shared {
            netcode,
            skills,
            classes,
            enemies,
            creatures,
            chat,
            errors,
        }
    }

    /// Parses and checks one zone file (its references against the shared files that
    /// parsed); the zone when it has no problem.
    fn zone_def(&self, shared: &Shared, zone_id: &str) -> Result<ZoneDef, Vec<ContentError>> {
        let rel = format!("zones/{zone_id}.ron");
        if !self.files.contains_key(&rel) {
            let known = self.zone_ids().join(", ");
            return Err(vec![self.error(
                &rel,
                None,
                format!("file not found: no zone {zone_id:?} (zones here: {known})"),
            )]);
        }
        let zone = self.parse::<ZoneDef>(&rel).map_err(|e| vec![e])?;
        let mut problems = check::zone(
            &rel,
            &zone,
            zone_id,
            shared.classes.as_deref(),
            shared.enemies.as_deref(),
            &self.zone_ids(),
        );
        problems.extend(check_creatures::wild(
            &rel,
            &zone,
            shared.creatures.as_ref(),
        ));
        if problems.is_empty() {
            Ok(zone)
        } else {
            Err(self.resolve(problems))
        }
    }

    /// The content of zone `zone_id`, or every problem in the files it uses.
    pub fn zone(&self, zone_id: &str) -> Result<ZoneContent, ContentErrors> {
        let shared = self.shared();
        let zone = self.zone_def(&shared, zone_id);
        let Shared {
            netcode,
            skills,
            classes,
            enemies,
            creatures,
            chat,
            mut errors,
        } = shared;
        match (zone, netcode, skills, classes, enemies, creatures, chat) {
            (
                Ok(zone),
                Some(netcode),
                Some(skills),
                Some(classes),
                Some(enemies),
                Some(creatures),
                Some(chat),
            ) if errors.is_empty() => Ok(ZoneContent {
                zone,
                netcode,
                skills,
                classes,
                enemies,
                creatures,
                chat,
                version: self.version(),
            }),
            (zone, ..) => {
                errors.extend(zone.err().unwrap_or_default());
                Err(ContentErrors(errors))
            }
        }
    }

    /// Checks every file and every zone, all at once: a file that does not parse
    /// hides nothing else. Returns the zone ids when all is well.
    pub fn validate(&self) -> Result<Vec<String>, ContentErrors> {
        let ids = self.zone_ids();
        let shared = self.shared();
        let mut errors = Vec::new();
        if ids.is_empty() {
            errors.push(self.error("zones", None, "no zone files (zones/*.ron)".into()));
        }
        for id in &ids {
            if let Err(e) = self.zone_def(&shared, id) {
                errors.extend(e);
            }
        }
        errors.splice(0..0, shared.errors);
        if errors.is_empty() {
            Ok(ids)
        } else {
            Err(ContentErrors(errors))
        }
    }
}

/// The value when it parsed; the error goes to `errors` when not.
fn parsed<T>(r: Result<T, ContentError>, errors: &mut Vec<ContentError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// A parse error's message, naming the field it is in when the text shows one
/// (`cooldown_s: expected float` rather than `Expected float`).
fn parse_message(text: &str, line: usize, col: usize, code: &ron::error::Error) -> String {
    let message = code.to_string();
    let mut chars = message.chars();
    let message = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => message,
    };
    match field_at(text, line, col) {
        // A message that names its own subject (`unexpected field named `x``) keeps it.
        Some(field) if !message.contains('`') => format!("{field}: {message}"),
        _ => message,
    }
}
