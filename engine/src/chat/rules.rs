//! What a chat text may be: control and invisible formatting characters removed,
//! trimmed, not empty, within the length cap, filtered words masked.

use arcane_protocol::{ChatRefusal, MAX_CHAT_BYTES};

use crate::content::ChatContent;

/// A text fit to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub text: String,
    /// Filter words found (masked in `text`), as listed in the content.
    pub filtered: Vec<String>,
}

/// Characters that never reach another client: control characters, and format
/// characters that can hide or reorder text (zero-width, bidirectional overrides).
pub fn is_stripped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        )
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Cleans `text` for delivery, or says why it cannot be sent.
pub fn clean(text: &str, content: &ChatContent) -> Result<Cleaned, ChatRefusal> {
    if text.len() > MAX_CHAT_BYTES {
        return Err(ChatRefusal::TooLong);
    }
    let mut chars: Vec<char> = text.chars().filter(|&c| !is_stripped(c)).collect();
    while chars.last().is_some_and(|c| c.is_whitespace()) {
        chars.pop();
    }
    let start = chars
        .iter()
        .position(|c| !c.is_whitespace())
        .unwrap_or(chars.len());
    chars.drain(..start);
    if chars.is_empty() {
        return Err(ChatRefusal::Empty);
    }
    if chars.len() > content.max_chars as usize {
        return Err(ChatRefusal::TooLong);
    }
    let low: Vec<char> = chars.iter().map(|&c| lower(c)).collect();
    let mut masked = vec![false; chars.len()];
    let mut filtered = Vec::new();
    for word in &content.filtered_words {
        let w: Vec<char> = word.trim().chars().map(lower).collect();
        if w.is_empty() || w.len() > low.len() {
            continue;
        }
        let mut hit = false;
        for at in 0..=low.len() - w.len() {
            if low[at..at + w.len()] == w[..] {
                masked[at..at + w.len()].fill(true);
                hit = true;
            }
        }
        if hit {
            filtered.push(word.clone());
        }
    }
    let text = chars
        .iter()
        .zip(&masked)
        .map(|(&c, &m)| if m { content.mask } else { c })
        .collect();
    Ok(Cleaned { text, filtered })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> ChatContent {
        ChatContent {
            filtered_words: vec!["frak".into(), "Smeg".into()],
            max_chars: 10,
            ..ChatContent::default()
        }
    }

    #[test]
    fn control_and_hidden_characters_are_removed_and_the_text_trimmed() {
        let c = clean(
            "  hi\u{7}\u{202E}\u{200B} there\n ",
            &ChatContent::default(),
        )
        .unwrap();
        assert_eq!(c.text, "hi there");
        assert!(c.filtered.is_empty());
    }

    #[test]
    fn empty_and_long_texts_are_refused() {
        assert_eq!(clean(" \u{0}\t ", &content()), Err(ChatRefusal::Empty));
        assert_eq!(clean("", &content()), Err(ChatRefusal::Empty));
        assert_eq!(clean("12345678901", &content()), Err(ChatRefusal::TooLong));
        assert!(clean("1234567890", &content()).is_ok());
        // Characters, not bytes: ten accented letters fit.
        assert!(clean("éééééééééé", &content()).is_ok());
        let huge = "a".repeat(MAX_CHAT_BYTES + 1);
        let open = ChatContent {
            max_chars: 10_000,
            ..ChatContent::default()
        };
        assert_eq!(clean(&huge, &open), Err(ChatRefusal::TooLong));
    }

    #[test]
    fn filtered_words_are_masked_whatever_their_case() {
        let c = clean("FRAK smeg!", &content()).unwrap();
        assert_eq!(c.text, "**** ****!");
        assert_eq!(c.filtered, vec!["frak".to_string(), "Smeg".to_string()]);
        let c = clean("fine", &content()).unwrap();
        assert_eq!(c.text, "fine");
        assert!(c.filtered.is_empty());
    }
}
