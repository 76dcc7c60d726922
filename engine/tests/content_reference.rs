//! `docs/content.md` is the designers' reference: every content type and every field
//! the RON files may hold has its entry there. Read from the code that parses the
//! files, so a field added without its entry fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::path::Path;

/// A type in the content code: a struct's fields, or an enum's variants and the
/// fields of its struct-like variants (as `Variant.field`).
#[derive(Debug)]
struct Declared {
    name: String,
    entries: Vec<String>,
}

/// The text between the brace at `open` and its match.
fn body(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces");
}

/// Lines of `body` at its top level (nested braces folded into their line).
fn top_level_items(body: &str) -> Vec<String> {
    let mut items = vec![String::new()];
    let mut depth = 0;
    for line in body.lines() {
        let code = line.split("//").next().unwrap().trim();
        if code.starts_with('#') || code.is_empty() {
            continue;
        }
        items.last_mut().unwrap().push_str(code);
        items.last_mut().unwrap().push(' ');
        depth += code.matches('{').count();
        depth -= code.matches('}').count();
        if depth == 0 && (code.ends_with(',') || code.ends_with('}')) {
            items.push(String::new());
        }
    }
    items.retain(|i| !i.trim().is_empty());
    items
}

fn ident(s: &str) -> String {
    s.trim()
        .trim_start_matches("pub ")
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn declared(file: &Path) -> Vec<Declared> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for (kind, marker) in [("struct", "pub struct "), ("enum", "pub enum ")] {
        let mut from = 0;
        while let Some(at) = text[from..].find(marker) {
            let start = from + at;
            let name = ident(&text[start + marker.len()..]);
            let open = start + text[start..].find('{').unwrap();
            let mut entries = Vec::new();
            for item in top_level_items(body(&text, open)) {
                if kind == "struct" {
                    entries.push(ident(&item));
                    continue;
                }
                let variant = ident(&item);
                match item.find('{') {
                    Some(b) => {
                        for field in body(&item, b).split(',') {
                            let field = field.split(':').next().unwrap();
                            if !ident(field).is_empty() {
                                entries.push(format!("{variant}.{}", ident(field)));
                            }
                        }
                    }
                    None => entries.push(variant),
                }
            }
            out.push(Declared { name, entries });
            from = open;
        }
    }
    out
}

/// The part of the reference under the heading that names `name`.
fn section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let heading = format!("### `{name}`");
    let start = doc.find(&heading)?;
    let rest = &doc[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn every_content_type_and_field_is_in_the_designers_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/content.md")).unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for file in [
        "netcode",
        "skills",
        "classes",
        "enemies",
        "creatures",
        "chat",
        "zone",
    ] {
        for ty in declared(&root.join(format!("src/content/{file}.rs"))) {
            let Some(section) = section(&doc, &ty.name) else {
                missing.push(format!("no `### `{}`` section", ty.name));
                continue;
            };
            for entry in &ty.entries {
                checked += 1;
                if !section.contains(&format!("`{entry}`")) {
                    missing.push(format!("{}: no entry for `{entry}`", ty.name));
                }
            }
        }
    }
    assert!(
        checked > 80,
        "only {checked} entries found: is the parser blind?"
    );
    assert!(
        missing.is_empty(),
        "docs/content.md is missing:\n{}",
        missing.join("\n")
    );
}
