//! Mutant files: `<cases>/mutants/<name>.yaml`, beside the patch it names
//! (a `git format-patch` file against the kernel tree). serde-saphyr reads
//! one into the private [`MutantFile`] (unknown keys rejected, spans kept);
//! each field is then checked in turn, so an error reads
//! `file:line:column: field: what is wrong`. [`load_dir`] reads them all,
//! [`select`] picks by name (or every one not tagged `slow`).

use crate::case::yaml::{read, At};
use crate::case::{valid_name, NAME_RULE};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name no mutant may have: the base point's results directory.
pub const BASE: &str = "base";

/// The file as written. The field order is the one serde lists for an
/// unknown key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MutantFile {
    description: String,
    mechanism: Spanned<String>,
    patch: Spanned<String>,
    #[serde(default)]
    patches: BTreeMap<String, Spanned<String>>,
    cases: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    controls: Vec<Spanned<String>>,
    #[serde(default)]
    killed_by: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
}

/// A validated mutant: a patch that breaks one mechanism, the cases that
/// must catch it and the controls that must not notice it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutant {
    /// The file's stem.
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    /// The check family (or LTO mechanism) it targets; a label only.
    pub mechanism: String,
    /// The patch, resolved against the file's directory.
    pub patch: PathBuf,
    /// Patches for kernel series where the file the mutant edits moved or
    /// changed (`patches: {"7.1": x-7.1.patch}`), oldest first: each is
    /// used from its series on, `patch` before the first.
    #[serde(default)]
    pub patches: Vec<SeriesPatch>,
    /// Cases that must be killed: some check fails on them.
    pub cases: Vec<String>,
    /// Cases that must still pass with the mutant applied.
    pub controls: Vec<String>,
    /// Checks expected among the failures (any failure when empty).
    pub killed_by: Vec<String>,
    /// `slow` mutants run only with `--include-slow` or by name.
    pub tags: Vec<String>,
}

/// A mutant's patch for the kernel series from `since` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPatch {
    /// `MAJOR.MINOR`, as the tree's Makefile gives it.
    pub since: String,
    pub patch: PathBuf,
}

impl Mutant {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// The patch for a tree of `series` (`(7, 1)`): the newest of
    /// [`Mutant::patches`] not after it, else [`Mutant::patch`] (also when
    /// the series is unknown).
    pub fn patch_for(&self, series: Option<(u32, u32)>) -> &Path {
        let Some(series) = series else {
            return &self.patch;
        };
        self.patches
            .iter()
            .filter_map(|p| crate::kseries::version_pair(&p.since).map(|v| (v, p)))
            .filter(|(v, _)| *v <= series)
            .max_by_key(|(v, _)| *v)
            .map_or(&self.patch, |(_, p)| &p.patch)
    }

    /// Its cases, then its controls.
    pub fn all_cases(&self) -> impl Iterator<Item = &String> {
        self.cases.iter().chain(&self.controls)
    }
}

/// A mutant file that could not be read or is not valid.
pub type MutantError = crate::case::yaml::FileError;

impl Mutant {
    /// Parses `text` as if read from `path` (the patch resolves relative
    /// to it); `known` are the names of the cases there are.
    pub fn parse(path: &Path, text: &str, known: &[&str]) -> Result<Mutant, MutantError> {
        let raw: MutantFile = read(path, "mutant file", text)?;
        let at = At { file: path };
        let name = name(path)?;
        let mechanism = mechanism(&at, &raw.mechanism)?;
        let patch = patch(&at, path, &raw.patch)?;
        let patches = series_patches(&at, path, &raw.patches)?;
        let cases = cases(&at, &raw.cases, known)?;
        let controls = controls(&at, &raw.controls, &cases, known)?;
        let killed_by = killed_by(&at, &raw.killed_by)?;
        Ok(Mutant {
            name,
            file: path.to_owned(),
            description: raw.description,
            mechanism,
            patch,
            patches,
            cases,
            controls,
            killed_by,
            tags: raw.tags,
        })
    }

    /// Reads and validates one mutant file.
    pub fn load(path: &Path, known: &[&str]) -> Result<Mutant, MutantError> {
        Mutant::parse(
            path,
            &crate::case::yaml::read_text(path, "mutant file")?,
            known,
        )
    }
}

/// The file's stem: a valid name, and not [`BASE`].
fn name(path: &Path) -> Result<String, MutantError> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !valid_name(stem) || stem == BASE {
        return Err(MutantError::File {
            file: path.to_owned(),
            message: format!(
                "the file's name `{}` is the mutant's: {NAME_RULE}, and not `{BASE}`",
                stem.escape_debug()
            ),
        });
    }
    Ok(stem.to_owned())
}

fn mechanism(at: &At, m: &Spanned<String>) -> Result<String, MutantError> {
    if !valid_name(&m.value) {
        return Err(at.field(
            m,
            format!(
                "mechanism: `{}` must be letters, digits, `-`, `_` or `.` (a check family such as `initcalls`)",
                m.value
            ),
        ));
    }
    Ok(m.value.clone())
}

/// `patch:`, resolved against the mutant file's directory; it must exist.
fn patch(at: &At, path: &Path, patch: &Spanned<String>) -> Result<PathBuf, MutantError> {
    let p = path.parent().unwrap_or(Path::new(".")).join(&patch.value);
    if patch.value.is_empty() || !p.is_file() {
        return Err(at.field(
            patch,
            format!(
                "patch: no such file `{}` (resolved to {})",
                patch.value,
                p.display()
            ),
        ));
    }
    Ok(p)
}

/// `patches:`, each key a kernel series (`7.1`) and each patch an existing
/// file beside the mutant file, oldest series first.
fn series_patches(
    at: &At,
    path: &Path,
    raw: &BTreeMap<String, Spanned<String>>,
) -> Result<Vec<SeriesPatch>, MutantError> {
    let mut out = Vec::new();
    for (since, p) in raw {
        let exact =
            crate::kseries::version_pair(since).filter(|(a, b)| *since == format!("{a}.{b}"));
        if exact.is_none() {
            return Err(at.field(
                p,
                format!("patches: `{since}` is not a kernel series: write MAJOR.MINOR, as `7.1`"),
            ));
        }
        out.push(SeriesPatch {
            since: since.clone(),
            patch: patch(at, path, p).map_err(|_| {
                at.field(p, format!("patches: {since}: no such file `{}`", p.value))
            })?,
        });
    }
    out.sort_by_key(|p| crate::kseries::version_pair(&p.since));
    Ok(out)
}

/// One case name of `field`: a case that exists, not listed before.
fn known_case(
    at: &At,
    field: &str,
    c: &Spanned<String>,
    seen: &[String],
    known: &[&str],
) -> Result<String, MutantError> {
    if !known.contains(&c.value.as_str()) {
        return Err(at.field(
            c,
            format!(
                "{field}: no case named `{}`; known cases: {}",
                c.value,
                known.join(", ")
            ),
        ));
    }
    if seen.contains(&c.value) {
        return Err(at.field(
            c,
            format!(
                "{field}: `{}` is listed twice (in cases or controls)",
                c.value
            ),
        ));
    }
    Ok(c.value.clone())
}

fn cases(
    at: &At,
    cases: &Spanned<Vec<Spanned<String>>>,
    known: &[&str],
) -> Result<Vec<String>, MutantError> {
    if cases.value.is_empty() {
        return Err(at.field(
            cases,
            "cases: name at least one case the mutant must be caught on".into(),
        ));
    }
    let mut out = Vec::new();
    for c in &cases.value {
        let name = known_case(at, "cases", c, &out, known)?;
        out.push(name);
    }
    Ok(out)
}

fn controls(
    at: &At,
    controls: &[Spanned<String>],
    cases: &[String],
    known: &[&str],
) -> Result<Vec<String>, MutantError> {
    let mut seen = cases.to_vec();
    let mut out = Vec::new();
    for c in controls {
        let name = known_case(at, "controls", c, &seen, known)?;
        seen.push(name.clone());
        out.push(name);
    }
    Ok(out)
}

/// `killed_by:`, check names as results name them (`initcalls.static`,
/// `boot`, `build`): `build` or a check of the registry.
fn killed_by(at: &At, names: &[Spanned<String>]) -> Result<Vec<String>, MutantError> {
    names
        .iter()
        .map(|k| {
            let ok = k.value == "build" || crate::checks::registry::check_info(&k.value).is_some();
            if !ok {
                return Err(at.field(
                    k,
                    format!(
                        "killed_by: `{}` is not a check name (such as `initcalls.static`; `lto-harness checks` lists them)",
                        k.value
                    ),
                ));
            }
            Ok(k.value.clone())
        })
        .collect()
}

/// Every `*.yaml` directly under `dir`, sorted by name; `known` are the
/// case names. Fails on the first invalid file.
pub fn load_dir(dir: &Path, known: &[&str]) -> Result<Vec<Mutant>, MutantError> {
    let mut out: Vec<Mutant> = Vec::new();
    for p in crate::case::yaml::yaml_files(dir)? {
        let m = Mutant::load(&p, known)?;
        if let Some(other) = out.iter().find(|o| o.name == m.name) {
            return Err(MutantError::File {
                file: p,
                message: format!(
                    "name `{}` is already used by {}",
                    m.name,
                    other.file.display()
                ),
            });
        }
        out.push(m);
    }
    Ok(out)
}

/// Picks mutants by name; with no names, every one not tagged `slow`
/// (unless `include_slow`). Naming a mutant always selects it.
pub fn select<'a>(
    all: &'a [Mutant],
    names: &[String],
    include_slow: bool,
) -> Result<Vec<&'a Mutant>, String> {
    crate::case::select_named(all, names, include_slow, "mutant")
}

impl crate::case::Selectable for Mutant {
    fn name(&self) -> &str {
        &self.name
    }
    fn has_tag(&self, tag: &str) -> bool {
        Mutant::has_tag(self, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["x86_64-lto-full-cfi", "x86_64-lto-none", "arm64-lto-none"];

    const GOOD: &str = "\
description: generate_initcall_order.pl emits each level's initcalls in reverse
mechanism: initcalls
patch: initcall-order-reversed.patch
cases: [x86_64-lto-full-cfi]
controls: [x86_64-lto-none]
killed_by: [initcalls.static]
tags: [slow]
";

    /// A mutants dir with the patch GOOD names; the mutant file's path.
    fn dir_with_patch() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("initcall-order-reversed.patch"), "diff\n").unwrap();
        let f = d.path().join("initcall-order-reversed.yaml");
        (d, f)
    }

    fn parse(f: &Path, text: &str) -> Result<Mutant, MutantError> {
        Mutant::parse(f, text, KNOWN)
    }

    #[test]
    fn a_good_file() {
        let (d, f) = dir_with_patch();
        let m = parse(&f, GOOD).unwrap();
        assert_eq!(
            m,
            Mutant {
                name: "initcall-order-reversed".into(),
                file: f.clone(),
                description: "generate_initcall_order.pl emits each level's initcalls in reverse"
                    .into(),
                mechanism: "initcalls".into(),
                patch: d.path().join("initcall-order-reversed.patch"),
                patches: vec![],
                cases: vec!["x86_64-lto-full-cfi".into()],
                controls: vec!["x86_64-lto-none".into()],
                killed_by: vec!["initcalls.static".into()],
                tags: vec!["slow".into()],
            }
        );
        assert!(m.has_tag("slow"));
        assert_eq!(
            m.all_cases().collect::<Vec<_>>(),
            ["x86_64-lto-full-cfi", "x86_64-lto-none"]
        );
        // controls, killed_by and tags are optional.
        let short = "description: d\nmechanism: initcalls\npatch: initcall-order-reversed.patch\ncases: [x86_64-lto-none]\n";
        let m = parse(&f, short).unwrap();
        assert!(m.controls.is_empty() && m.killed_by.is_empty() && m.tags.is_empty());
    }

    /// The error's text, which must start with `file:line:`.
    fn error_at(f: &Path, text: &str, line: u64) -> String {
        let e = parse(f, text).unwrap_err();
        let s = e.to_string();
        assert!(
            matches!(e, MutantError::At { line: l, .. } if l == line),
            "expected line {line}: {s}"
        );
        assert!(s.starts_with(&format!("{}:{line}:", f.display())), "{s}");
        s
    }

    #[test]
    fn an_unknown_field_is_named_with_its_file_and_line() {
        let (_d, f) = dir_with_patch();
        let text = GOOD.replace("tags: [slow]", "killed_bye: [boot]");
        let e = error_at(&f, &text, 7);
        assert!(e.contains("killed_bye"), "{e}");
    }

    #[test]
    fn a_patch_per_series_is_chosen_by_the_trees_series() {
        let (d, f) = dir_with_patch();
        std::fs::write(d.path().join("r-7.1.patch"), "diff\n").unwrap();
        std::fs::write(d.path().join("r-8.0.patch"), "diff\n").unwrap();
        let text = GOOD.replace(
            "cases:",
            "patches:\n  8.0: r-8.0.patch\n  \"7.1\": r-7.1.patch\ncases:",
        );
        let m = parse(&f, &text).unwrap();
        assert_eq!(
            m.patches
                .iter()
                .map(|p| p.since.as_str())
                .collect::<Vec<_>>(),
            ["7.1", "8.0"]
        );
        let base = d.path().join("initcall-order-reversed.patch");
        assert_eq!(m.patch_for(Some((6, 12))), base);
        assert_eq!(m.patch_for(None), base);
        assert_eq!(m.patch_for(Some((7, 1))), d.path().join("r-7.1.patch"));
        assert_eq!(m.patch_for(Some((7, 4))), d.path().join("r-7.1.patch"));
        assert_eq!(m.patch_for(Some((9, 0))), d.path().join("r-8.0.patch"));
        // A key that is not a series, a file that is not there: named
        // with the line.
        let e = error_at(
            &f,
            &GOOD.replace("cases:", "patches:\n  seven: r-7.1.patch\ncases:"),
            5,
        );
        assert!(e.contains("patches: `seven` is not a kernel series"), "{e}");
        let e = error_at(
            &f,
            &GOOD.replace("cases:", "patches:\n  \"7.1\": nope.patch\ncases:"),
            5,
        );
        assert!(e.contains("patches: 7.1: no such file `nope.patch`"), "{e}");
    }

    #[test]
    fn a_missing_patch_file_is_named_where_the_file_names_it() {
        let (d, f) = dir_with_patch();
        let text = GOOD.replace("patch: initcall-order-reversed.patch", "patch: nope.patch");
        let e = error_at(&f, &text, 3);
        assert!(
            e.contains(&format!(
                "patch: no such file `nope.patch` (resolved to {})",
                d.path().join("nope.patch").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn bad_cases_controls_and_check_names_are_located() {
        let (_d, f) = dir_with_patch();
        let e = error_at(
            &f,
            &GOOD.replace("cases: [x86_64-lto-full-cfi]", "cases: []"),
            4,
        );
        assert!(e.contains("cases: name at least one case"), "{e}");
        let e = error_at(
            &f,
            &GOOD.replace(
                "cases: [x86_64-lto-full-cfi]",
                "cases:\n  - x86_64-lto-full-cfi\n  - nope",
            ),
            6,
        );
        assert!(
            e.contains("cases: no case named `nope`; known cases: x86_64-lto-full-cfi, x86_64-lto-none, arm64-lto-none"),
            "{e}"
        );
        let e = error_at(
            &f,
            &GOOD.replace(
                "controls: [x86_64-lto-none]",
                "controls: [x86_64-lto-full-cfi]",
            ),
            5,
        );
        assert!(
            e.contains("controls: `x86_64-lto-full-cfi` is listed twice"),
            "{e}"
        );
        let e = error_at(
            &f,
            &GOOD.replace(
                "killed_by: [initcalls.static]",
                "killed_by: [\"initcalls static\"]",
            ),
            6,
        );
        assert!(
            e.contains("killed_by: `initcalls static` is not a check name"),
            "{e}"
        );
        // A misspelt check would make the mutant's verdict wrong forever.
        let e = error_at(
            &f,
            &GOOD.replace(
                "killed_by: [initcalls.static]",
                "killed_by: [initcalls.statik]",
            ),
            6,
        );
        assert!(
            e.contains("killed_by: `initcalls.statik` is not a check name"),
            "{e}"
        );
        let e = error_at(
            &f,
            &GOOD.replace("mechanism: initcalls", "mechanism: a b"),
            2,
        );
        assert!(e.contains("mechanism: `a b` must be"), "{e}");
        // A missing field and a wrong type are serde's, located too.
        let e = parse(&f, &GOOD.replace("mechanism: initcalls\n", "")).unwrap_err();
        assert!(e.to_string().contains("mechanism"), "{e}");
        let e = error_at(
            &f,
            &GOOD.replace("cases: [x86_64-lto-full-cfi]", "cases: {a: b}"),
            4,
        );
        assert!(e.contains(&format!("{}:4:", f.display())), "{e}");
    }

    #[test]
    fn the_shipped_mutants_parse_against_the_shipped_cases() {
        let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let cases = crate::case::load_dir(&cases_dir).unwrap();
        let known: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        let all = load_dir(&cases_dir.join("mutants"), &known).unwrap();
        let fast: Vec<&str> = select(&all, &[], false)
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert!(fast.contains(&"initcall-order-reversed"), "{fast:?}");
        assert!(!fast.contains(&"initcall-order-reversed-arm64"), "slow");
        assert!(all.iter().all(|m| m.patch.is_file()));
    }

    #[test]
    fn a_mutant_may_not_be_called_base() {
        let (d, _) = dir_with_patch();
        let e = parse(&d.path().join("base.yaml"), GOOD).unwrap_err();
        assert!(
            matches!(e, MutantError::File { .. }) && e.to_string().contains("not `base`"),
            "{e}"
        );
    }

    #[test]
    fn load_dir_and_select() {
        let (d, f) = dir_with_patch();
        std::fs::write(&f, GOOD).unwrap();
        std::fs::write(
            d.path().join("fast.yaml"),
            GOOD.replace("tags: [slow]", "tags: []"),
        )
        .unwrap();
        std::fs::write(d.path().join("README"), "not a mutant").unwrap();
        let all = load_dir(d.path(), KNOWN).unwrap();
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["fast", "initcall-order-reversed"]);
        let pick = |names: &[&str], slow| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            select(&all, &names, slow).map(|v| v.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(pick(&[], false).unwrap(), ["fast"]);
        assert_eq!(
            pick(&[], true).unwrap(),
            ["fast", "initcall-order-reversed"]
        );
        assert_eq!(
            pick(&["initcall-order-reversed"], false).unwrap(),
            ["initcall-order-reversed"]
        );
        let e = pick(&["nope"], false).unwrap_err();
        assert_eq!(
            e,
            "no mutant named `nope`; known mutants: fast, initcall-order-reversed"
        );
        // An invalid file stops the load, naming it.
        std::fs::write(d.path().join("bad.yaml"), "description: [").unwrap();
        let e = load_dir(d.path(), KNOWN).unwrap_err().to_string();
        assert!(
            e.starts_with(&d.path().join("bad.yaml").display().to_string()),
            "{e}"
        );
    }
}
