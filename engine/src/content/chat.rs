//! Chat tuning (`content/chat.ron`): the length cap, the per-player rate and the word
//! filter. The file is optional; without it the defaults below apply (so journals and
//! content folders from before chat existed still load).

use serde::Deserialize;

use super::check::{Problem, Report, Step};

use Step::{Field as F, Index as I};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatContent {
    /// Longest message in characters (at most `arcane_protocol::MAX_CHAT_BYTES`).
    pub max_chars: u32,
    /// Messages a player may send per minute, on average...
    pub per_minute: u32,
    /// ...and at once after a pause.
    pub burst: u32,
    /// Words masked wherever they appear, case-insensitively (each character becomes
    /// `mask`). Hits are written to the moderation audit.
    #[serde(default)]
    pub filtered_words: Vec<String>,
    #[serde(default = "default_mask")]
    pub mask: char,
}

fn default_mask() -> char {
    '*'
}

impl Default for ChatContent {
    fn default() -> Self {
        ChatContent {
            max_chars: 200,
            per_minute: 30,
            burst: 5,
            filtered_words: Vec::new(),
            mask: default_mask(),
        }
    }
}

/// Checks `chat.ron` on its own.
pub(super) fn check(c: &ChatContent) -> Vec<Problem> {
    let mut r = Report {
        file: "chat.ron",
        out: Vec::new(),
    };
    let max = arcane_protocol::MAX_CHAT_BYTES as u32;
    if c.max_chars == 0 || c.max_chars > max {
        r.bad(
            &[F("max_chars")],
            format!("max_chars must be between 1 and {max}, got {}", c.max_chars),
        );
    }
    if c.per_minute == 0 {
        r.bad(&[F("per_minute")], "per_minute must be at least 1".into());
    }
    if c.burst == 0 {
        r.bad(&[F("burst")], "burst must be at least 1".into());
    }
    if c.mask.is_control() || c.mask.is_whitespace() {
        r.bad(&[F("mask")], "mask must be a visible character".into());
    }
    for (i, w) in c.filtered_words.iter().enumerate() {
        if w.trim().is_empty() || w.chars().any(char::is_control) {
            r.bad(
                &[F("filtered_words"), I(i)],
                format!("filtered word {w:?} must be visible text"),
            );
        }
    }
    r.out
}

#[cfg(test)]
mod tests {
    use crate::content::ContentSources;

    #[test]
    fn bad_chat_rules_are_reported_by_file_line_and_column() {
        let mut s = ContentSources::shipped();
        s.set(
            "chat.ron",
            "(\n    max_chars: 0,\n    per_minute: 30,\n    burst: 0,\n    filtered_words: [\"ok\", \" \"],\n)",
        );
        let errors = s.validate().unwrap_err().to_string();
        for want in [
            "chat.ron:2:5: max_chars must be between 1 and 512",
            "chat.ron:4:5: burst must be at least 1",
            "filtered word \" \" must be visible text",
        ] {
            assert!(errors.contains(want), "{want} not in:\n{errors}");
        }
        // Without the file, the defaults apply.
        s.remove("chat.ron");
        let zone = s.zone("meadow").unwrap();
        assert_eq!(zone.chat, super::ChatContent::default());
    }
}
