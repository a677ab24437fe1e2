//! A test of the crate's shape: the `crate::` imports between top-level
//! modules (and between the stages) form no cycle, and point down the
//! order `lib.rs` documents. It reads the sources, so a new import that
//! points the wrong way fails here, naming the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest first: a module may import only from modules
/// before it (or from itself). `stages` is split into its stages.
const ORDER: &[&str] = &[
    "model",
    "events",
    "arch",
    "kseries",
    "case",
    "host",
    "guest",
    "console",
    "elf",
    "stages",
    "stages::source",
    "stages::config",
    "stages::build",
    "stages::image",
    "stages::boot",
    "stages::lava",
    "checks",
    "output",
    "run",
    "bench",
    "history",
    "dashboard",
    "compare",
    "ci",
    "series",
    "bisect",
    "mutate",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The unit a source file belongs to (`None` for lib.rs, main.rs, this file).
fn unit_of(rel: &Path) -> Option<&'static str> {
    let s = rel.to_string_lossy().replace('\\', "/");
    let s = s.trim_end_matches(".rs").trim_end_matches("/mod");
    ORDER
        .iter()
        .rev()
        .find(|u| {
            let u = u.replace("::", "/");
            s == u || s.starts_with(&format!("{u}/"))
        })
        .copied()
}

/// The unit a `crate::a::b::c` path names.
fn unit_named(path: &str) -> Option<&'static str> {
    ORDER
        .iter()
        .rev()
        .find(|u| path == **u || path.starts_with(&format!("{u}::")))
        .copied()
}

/// Every `crate::…` path in non-test code, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find("crate::") {
            let tail = &rest[pos + 7..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            out.push((i + 1, tail[..end].trim_end_matches(':').to_owned()));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn imports_point_down_the_documented_order_and_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let rank = |u: &str| ORDER.iter().position(|x| *x == u).expect("in ORDER");
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(from) = unit_of(rel) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        for (line, path) in crate_paths(&text) {
            let Some(to) = unit_named(&path) else {
                continue;
            };
            if to == from {
                continue;
            }
            edges.entry(from).or_default().insert(to);
            if rank(to) > rank(from) {
                wrong.push(format!(
                    "{}:{line}: {from} imports crate::{path}",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the order in src/layers.rs:\n{}",
        wrong.join("\n")
    );
    // Pointing down a total order already rules out cycles; say so anyway.
    assert!(edges.values().flatten().count() > 20, "{edges:?}");
}

#[test]
fn every_source_file_belongs_to_a_unit_and_starts_with_a_doc_comment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut missing = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = ["lib.rs", "main.rs", "layers.rs"].contains(&rel.to_str().unwrap_or(""));
        let cli = rel.starts_with("cli");
        if unit_of(rel).is_none() && !top && !cli {
            missing.push(format!("{}: in no unit of ORDER", rel.display()));
        }
        let text = std::fs::read_to_string(f).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(format!("{}: no //! doc comment at the top", rel.display()));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
