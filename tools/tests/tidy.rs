//! House rules the compiler does not check, checked over the whole workspace (as
//! rust-analyzer's tidy test does): every source file opens with a `//!` line saying
//! what it is for, stays under the size where it should be split, and no crate has an
//! import cycle between sibling modules; the zone server does not link the
//! orchestrator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Split a file before it grows past this many lines.
const MAX_LINES: usize = 800;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `dir`, outside build output.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules") && !name.starts_with('.') {
                out.extend(rust_files(&path));
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_source_file_says_what_it_is_for_and_stays_small() {
    let root = workspace();
    let mut problems = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{rel}: does not open with a `//!` line"));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{rel}: {lines} lines; split it below {MAX_LINES}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A module by its path in its crate (`["net", "quic"]`).
type ModPath = Vec<String>;

/// The modules of the crate whose root file is `root`, by path, with their files.
fn modules(root: &Path) -> BTreeMap<ModPath, PathBuf> {
    let decl = Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;").unwrap();
    let mut out = BTreeMap::new();
    let mut todo = vec![(Vec::new(), root.to_path_buf())];
    while let Some((path, file)) = todo.pop() {
        let text = std::fs::read_to_string(&file).unwrap();
        let owner = file.file_name().unwrap().to_string_lossy();
        let dir = if matches!(owner.as_ref(), "mod.rs" | "lib.rs" | "main.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for c in decl.captures_iter(&text) {
            let name = c[1].to_string();
            let child = [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ]
            .into_iter()
            .find(|p| p.exists());
            if let Some(child) = child {
                let mut p = path.clone();
                p.push(name);
                todo.push((p, child));
            }
        }
        out.insert(path, file);
    }
    out
}

/// What a file's non-test code refers to: `crate::`, `super::` and `self::` paths,
/// resolved to the deepest module they name.
fn references(text: &str, here: &ModPath, mods: &BTreeMap<ModPath, PathBuf>) -> BTreeSet<ModPath> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let comment = Regex::new(r"//.*").unwrap();
    let code = comment.replace_all(code, "");
    let path = Regex::new(r"\b(crate|super|self)((?:::\w+)+)").unwrap();
    let group = Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let mut out = BTreeSet::new();
    let resolve = |mut base: ModPath, segs: &[&str], out: &mut BTreeSet<ModPath>| {
        for seg in segs {
            let mut next = base.clone();
            next.push(seg.to_string());
            if !mods.contains_key(&next) {
                break;
            }
            base = next;
        }
        out.insert(base);
    };
    for c in path.captures_iter(&code) {
        let mut segs: Vec<&str> = c[2].split("::").skip(1).collect();
        let base = match &c[1] {
            "crate" => Vec::new(),
            "self" => here.clone(),
            _ => {
                let mut base = here[..here.len().saturating_sub(1)].to_vec();
                while segs.first() == Some(&"super") {
                    base.pop();
                    segs.remove(0);
                }
                base
            }
        };
        resolve(base, &segs, &mut out);
    }
    for c in group.captures_iter(&code) {
        for item in c[1].split(',') {
            let segs: Vec<&str> = item.trim().split("::").collect();
            resolve(Vec::new(), &segs, &mut out);
        }
    }
    out
}

/// Cycles among the children of each module (a child stands for its whole subtree).
fn sibling_cycles(mods: &BTreeMap<ModPath, PathBuf>) -> Vec<Vec<String>> {
    let mut edges: BTreeMap<&ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, file) in mods {
        let text = std::fs::read_to_string(file).unwrap();
        edges.insert(m, references(&text, m, mods));
    }
    let mut cycles = Vec::new();
    for parent in mods.keys() {
        let depth = parent.len() + 1;
        let under = |m: &ModPath| m.len() >= depth && m[..parent.len()] == parent[..];
        let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for m in mods.keys().filter(|m| m.len() == depth && under(m)) {
            graph.entry(m.clone()).or_default();
        }
        for (m, targets) in &edges {
            if !under(m) {
                continue;
            }
            let from = m[..depth].to_vec();
            for t in targets.iter().filter(|t| under(t)) {
                let to = t[..depth].to_vec();
                if to != from {
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        for scc in strongly_connected(&graph) {
            if scc.len() > 1 {
                cycles.push(scc.iter().map(|p| p.join("::")).collect());
            }
        }
    }
    cycles
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'g> {
        graph: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in &s.graph[v] {
            let Some((w, _)) = s.graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            s.out.push(scc);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Every crate root of the workspace (`src/lib.rs`, or `src/main.rs` alone).
fn crate_roots() -> Vec<PathBuf> {
    let root = workspace();
    rust_files(&root)
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap();
            let in_src = f.parent().is_some_and(|p| p.ends_with("src"));
            in_src
                && (name == "lib.rs" || (name == "main.rs" && !f.with_file_name("lib.rs").exists()))
        })
        .collect()
}

#[test]
fn no_crate_has_an_import_cycle_between_sibling_modules() {
    let mut problems = Vec::new();
    let roots = crate_roots();
    assert!(roots.len() >= 10, "found only {roots:?}");
    for root in roots {
        for cycle in sibling_cycles(&modules(&root)) {
            problems.push(format!("{}: {}", root.display(), cycle.join(" <-> ")));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("lib.rs"), "//! x\nmod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(src.join("a.rs"), "//! a\nuse crate::b::inner::Thing;\n").unwrap();
    std::fs::write(src.join("b/mod.rs"), "//! b\npub mod inner;\n").unwrap();
    std::fs::write(src.join("b/inner.rs"), "//! i\nuse crate::{c, a::X};\n").unwrap();
    // c is in it too: a -> b -> c -> a.
    std::fs::write(src.join("c.rs"), "//! c\nuse super::a;\n").unwrap();
    let cycles = sibling_cycles(&modules(&src.join("lib.rs")));
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let mut names = cycles[0].clone();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn the_zone_server_does_not_link_the_orchestrator() {
    let manifest = std::fs::read_to_string(workspace().join("zone-server/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("arcane-orchestrator"),
        "zone-server/Cargo.toml names arcane-orchestrator; share through arcane-control-api, arcane-store or arcane-service"
    );
}

/// The docs stay references: the architecture a map (short, plain sentences), the
/// benchmarks the current figures (investigations go to `docs/notes/`).
#[test]
fn the_reference_docs_stay_short() {
    let root = workspace();
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    assert!(
        arch.len() <= 12 * 1024,
        "ARCHITECTURE.md is {} bytes; keep it a map",
        arch.len()
    );
    let fence = Regex::new(r"(?s)```.*?```").unwrap();
    let unfenced = fence.replace_all(&arch, "");
    let prose: Vec<&str> = unfenced.lines().filter(|l| !l.starts_with('#')).collect();
    let prose = prose.join(" ");
    let sentence_end = Regex::new(r"[.!?]\s+").unwrap();
    for sentence in sentence_end.split(&prose) {
        let words = sentence.split_whitespace().count();
        assert!(
            words <= 40,
            "a sentence of {words} words in ARCHITECTURE.md: {sentence}"
        );
    }
    let bench = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
    assert!(
        bench.len() <= 20 * 1024,
        "BENCHMARKS.md is {} bytes; move the story to docs/notes/",
        bench.len()
    );
}
