//! Finds where a value sits in RON text, by its path (`skills[2].cooldown_s`), so that
//! semantic errors found after deserializing can still be reported as `file:line:col`.
//! serde forgets positions once a value is built; this walks the text again, only on
//! the error path, with a tokenizer that knows RON's strings and comments.

/// One step of a path into a RON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// A named field of a struct or struct-like enum variant.
    Field(&'a str),
    /// An element of a list or tuple.
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'t> {
    Punct(char),
    /// Identifiers, numbers, and anything else that is one word.
    Word(&'t str),
    Str,
}

#[derive(Debug, Clone, Copy)]
struct Token<'t> {
    tok: Tok<'t>,
    line: usize,
    col: usize,
}

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        let col = text[line_start..i].chars().count() + 1;
        match c {
            b'\n' => {
                i += 1;
                line += 1;
                line_start = i;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            b'"' | b'\'' => {
                let quote = c;
                out.push(Token {
                    tok: Tok::Str,
                    line,
                    col,
                });
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' {
                        i += 1;
                    } else if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b':' => {
                out.push(Token {
                    tok: Tok::Punct(c as char),
                    line,
                    col,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b')'
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                            | b','
                            | b':'
                            | b'"'
                    )
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(&text[start..i]),
                    line,
                    col,
                });
            }
        }
    }
    out
}

/// Index just past the value starting at `i` (a word, a string, a bracketed group, or
/// a name followed by a bracketed group).
fn skip_value(toks: &[Token<'_>], mut i: usize) -> usize {
    if matches!(toks.get(i).map(|t| t.tok), Some(Tok::Word(_)))
        && matches!(toks.get(i + 1).map(|t| t.tok), Some(Tok::Punct('(')))
    {
        i += 1;
    }
    match toks.get(i).map(|t| t.tok) {
        Some(Tok::Punct('(' | '[' | '{')) => {
            let mut depth = 0usize;
            while let Some(t) = toks.get(i) {
                match t.tok {
                    Tok::Punct('(' | '[' | '{') => depth += 1,
                    Tok::Punct(')' | ']' | '}') => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        Some(_) => i + 1,
        None => i,
    }
}

/// Walks `path` from the value at token `i`; returns the token of the deepest value
/// the path reaches (the whole value when a step cannot be followed).
fn walk(toks: &[Token<'_>], mut i: usize, path: &[Seg<'_>]) -> usize {
    let Some((seg, rest)) = path.split_first() else {
        return i;
    };
    let start = i;
    // A struct name or enum variant before the bracket belongs to the value.
    if matches!(toks.get(i).map(|t| t.tok), Some(Tok::Word(_)))
        && matches!(toks.get(i + 1).map(|t| t.tok), Some(Tok::Punct('(')))
    {
        i += 1;
    }
    if !matches!(
        toks.get(i).map(|t| t.tok),
        Some(Tok::Punct('(' | '[' | '{'))
    ) {
        return start;
    }
    i += 1;
    let mut index = 0usize;
    while let Some(t) = toks.get(i) {
        if matches!(t.tok, Tok::Punct(')' | ']' | '}')) {
            break;
        }
        let is_field = matches!(t.tok, Tok::Word(_))
            && matches!(toks.get(i + 1).map(|t| t.tok), Some(Tok::Punct(':')));
        let value_at = if is_field { i + 2 } else { i };
        let hit = match (*seg, t.tok) {
            (Seg::Field(name), Tok::Word(w)) if is_field => w == name,
            (Seg::Index(n), _) => !is_field && n == index,
            _ => false,
        };
        if hit {
            return if rest.is_empty() {
                i
            } else {
                walk(toks, value_at, rest)
            };
        }
        i = skip_value(toks, value_at);
        index += 1;
        if matches!(toks.get(i).map(|t| t.tok), Some(Tok::Punct(','))) {
            i += 1;
        }
    }
    start
}

/// The 1-based line and column of the value at `path` in `text` (or of the nearest
/// enclosing value that exists, e.g. the struct when a defaulted field is absent).
pub fn locate(text: &str, path: &[Seg<'_>]) -> (usize, usize) {
    let toks = tokenize(text);
    if toks.is_empty() {
        return (1, 1);
    }
    let t = toks[walk(&toks, 0, path).min(toks.len() - 1)];
    (t.line, t.col)
}

/// The field whose value holds the position (`line`, `col`, 1-based), for a parse
/// error that only knows where it is: the nearest `name:` before it at the same
/// nesting level or an enclosing one. `None` at the top level.
pub fn field_at(text: &str, line: usize, col: usize) -> Option<&str> {
    let toks = tokenize(text);
    let before = toks
        .iter()
        .take_while(|t| (t.line, t.col) < (line, col))
        .count();
    let mut depth = 0usize;
    for k in (0..before).rev() {
        match toks[k].tok {
            Tok::Punct(')' | ']' | '}') => depth += 1,
            Tok::Punct('(' | '[' | '{') => depth = depth.saturating_sub(1),
            Tok::Punct(':') if depth == 0 => {
                return match toks.get(k.wrapping_sub(1)).map(|t| t.tok) {
                    Some(Tok::Word(name)) => Some(name),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"// skills
[
    Skill(id: "a", cost: 1.0, effect: Heal(amount: 5)),
    Skill(
        id: "b /* not a comment */",
        cost: -2.0, // bad
        effect: Projectile(speed: 3.0, tags: ["x", "y"]),
    ),
]
"#;

    #[test]
    fn finds_fields_inside_list_elements() {
        assert_eq!(locate(TEXT, &[Seg::Index(1), Seg::Field("cost")]), (6, 9));
        assert_eq!(
            locate(
                TEXT,
                &[Seg::Index(0), Seg::Field("effect"), Seg::Field("amount")]
            ),
            (3, 44)
        );
        assert_eq!(
            locate(
                TEXT,
                &[
                    Seg::Index(1),
                    Seg::Field("effect"),
                    Seg::Field("tags"),
                    Seg::Index(1)
                ]
            ),
            (7, 52)
        );
    }

    #[test]
    fn a_missing_step_points_at_the_enclosing_value() {
        assert_eq!(locate(TEXT, &[Seg::Index(1), Seg::Field("nope")]), (4, 5));
        assert_eq!(locate(TEXT, &[Seg::Index(7)]), (2, 1));
        assert_eq!(locate("", &[Seg::Index(0)]), (1, 1));
    }

    #[test]
    fn never_panics_on_unbalanced_text() {
        for text in [
            "[(",
            ")]",
            "Skill(id: \"x",
            "[1, 2,, ]",
            "(a: (b: [1, (c: 2",
        ] {
            let _ = locate(text, &[Seg::Index(0), Seg::Field("c"), Seg::Index(3)]);
        }
    }

    #[test]
    fn a_parse_error_is_placed_in_its_field() {
        let text =
            "SkillDef(\n  id: \"x\", // a: b\n  cooldown_s: \"slow\",\n  range: (1.0, \"y\"),\n)";
        // At the string after `cooldown_s:`.
        assert_eq!(field_at(text, 3, 15), Some("cooldown_s"));
        // Inside a tuple: the field that holds it.
        assert_eq!(field_at(text, 4, 16), Some("range"));
        // Before any field.
        assert_eq!(field_at(text, 1, 1), None);
    }
}
