//! Reading cases from disk and picking which to run: one file
//! ([`Case::load`]), every `*.yaml` in a directory ([`load_dir`]), and the
//! selection by name or tag ([`select`]).

use super::{Case, CaseError};
use std::path::Path;

impl Case {
    /// Parses and validates one case file.
    pub fn load(path: &Path) -> Result<Case, CaseError> {
        Case::parse(path, &super::yaml::read_text(path, "case file")?)
    }
}

/// Loads every `*.yaml` directly under `dir`, sorted by name. Fails on the
/// first invalid file, and on two cases with the same name.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, CaseError> {
    let mut cases: Vec<Case> = Vec::new();
    for p in super::yaml::yaml_files(dir)? {
        let case = Case::load(&p)?;
        if let Some(other) = cases.iter().find(|c| c.name == case.name) {
            return Err(CaseError::File {
                file: p,
                message: format!(
                    "name `{}` is already used by {}",
                    case.name,
                    other.file.display()
                ),
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// What [`select_named`] picks from: cases, mutants.
pub trait Selectable {
    fn name(&self) -> &str;
    fn has_tag(&self, tag: &str) -> bool;
}

impl Selectable for Case {
    fn name(&self) -> &str {
        &self.name
    }
    fn has_tag(&self, tag: &str) -> bool {
        Case::has_tag(self, tag)
    }
}

/// Picks cases by name; with no names, every case not tagged `slow` (unless
/// `include_slow`). Naming a case always selects it.
pub fn select<'a>(
    all: &'a [Case],
    names: &[String],
    include_slow: bool,
) -> Result<Vec<&'a Case>, String> {
    select_named(all, names, include_slow, "case")
}

/// The toolchain axis: with more than one toolchain (`make LLVM=`
/// spelling, label), every case once per toolchain, its variants side by
/// side; with one, the cases themselves.
pub fn matrix(cases: &[&Case], toolchains: &[(String, String)]) -> Vec<Case> {
    if toolchains.len() < 2 {
        return cases.iter().map(|c| (*c).clone()).collect();
    }
    cases
        .iter()
        .flat_map(|c| {
            toolchains
                .iter()
                .map(move |(llvm, label)| c.for_toolchain(llvm, label))
        })
        .collect()
}

/// Picks `kind`s (cases, mutants) by name; with no names, every one not
/// tagged `slow` (unless `include_slow`). Naming one always selects it.
pub fn select_named<'a, T: Selectable>(
    all: &'a [T],
    names: &[String],
    include_slow: bool,
    kind: &str,
) -> Result<Vec<&'a T>, String> {
    if names.is_empty() {
        return Ok(all
            .iter()
            .filter(|c| include_slow || !c.has_tag("slow"))
            .collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|c| c.name() == n).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|c| c.name()).collect();
                format!("no {kind} named `{n}`; known {kind}s: {}", known.join(", "))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, Lto, Switch};

    fn parse(text: &str) -> Result<Case, CaseError> {
        Case::parse(Path::new("/nonexistent/cases/x86_64-test.yaml"), text)
    }

    #[test]
    fn a_matrix_names_each_variant_and_keeps_its_case() {
        let a = parse("arch: x86_64\nlto: full\ncfi: on\n").unwrap();
        let tcs = [("-16".to_owned(), "clang-16".to_owned())];
        // One toolchain: the case itself, no variant.
        let one = matrix(&[&a], &tcs);
        assert_eq!(one[0].name, "x86_64-test");
        assert_eq!(one[0].variant, None);
        let tcs = [tcs[0].clone(), ("-22".to_owned(), "clang-22".to_owned())];
        let two = matrix(&[&a], &tcs);
        let names: Vec<&str> = two.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["x86_64-test+clang-16", "x86_64-test+clang-22"]);
        assert_eq!(two[1].case_name(), "x86_64-test");
        assert_eq!(two[1].variant.as_ref().unwrap().llvm, "-22");
        // A variant of a variant is still named after the case file's case.
        assert_eq!(
            two[1].for_toolchain("-19", "clang-19").name,
            "x86_64-test+clang-19"
        );
    }

    #[test]
    fn selection_skips_slow_unless_asked_or_named() {
        let mk = |name: &str, slow: bool| {
            let mut c = parse("arch: x86_64\nlto: none\ncfi: off\n").unwrap();
            c.name = name.into();
            if slow {
                c.tags.push("slow".into());
            }
            c
        };
        let all = vec![mk("a", false), mk("b", true)];
        let names = |v: Vec<&Case>| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(select(&all, &[], false).unwrap()), ["a"]);
        assert_eq!(names(select(&all, &[], true).unwrap()), ["a", "b"]);
        assert_eq!(names(select(&all, &["b".into()], false).unwrap()), ["b"]);
        assert!(select(&all, &["zzz".into()], false)
            .unwrap_err()
            .contains("known cases: a, b"));
    }

    #[test]
    fn shipped_cases_all_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let cases = load_dir(&dir).unwrap();
        assert!(cases.len() >= 6, "{} cases", cases.len());
        for arch in Arch::ALL {
            for (lto, cfi) in [
                (Lto::None, Switch::Off),
                (Lto::Thin, Switch::On),
                (Lto::Full, Switch::On),
            ] {
                assert!(
                    cases.iter().any(|c| c.arch == arch
                        && c.lto == lto
                        && c.cfi == cfi
                        && !c.has_tag("slow")),
                    "missing {arch} {lto:?} {cfi:?}"
                );
            }
            assert!(cases.iter().any(|c| c.arch == arch
                && c.has_tag("slow")
                && c.base == "defconfig"
                && c.lto == Lto::Full));
        }
    }
}
