//! `hygiene.build` across a run: each case asking for it is judged once
//! every kernel is built, against the LTO-none case of the same config
//! (same arch, base and fragments) in the run (see
//! [`crate::checks::hygiene`]).

use crate::case::{Case, CheckKind};
use crate::checks::hygiene;
use crate::events::{Event, Reporter, Step};
use crate::model::results::CaseResult;
use crate::model::Lto;
use std::path::PathBuf;

/// What makes two cases "the same config" for comparing warnings.
fn family(c: &Case) -> (&'static str, &str, Vec<PathBuf>) {
    let fragments = c
        .fragments
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    (c.arch.name(), c.base.as_str(), fragments)
}

/// The LTO-none cases (from `all`) that `cases` need as `hygiene.build`'s
/// baseline and do not include: for each LTO case asking for the check
/// with no LTO-none case of its config among `cases`, the first such case
/// of `all`. A run of `cases` plus these judges every LTO case's warnings
/// (`mutate` adds them to each point, so a mutant's LTO-only warnings are
/// judged even when its file names no control).
pub(crate) fn baselines<'a>(all: &'a [Case], cases: &[&Case]) -> Vec<&'a Case> {
    let mut out: Vec<&'a Case> = Vec::new();
    for case in cases
        .iter()
        .filter(|c| c.lto != Lto::None && c.wants(CheckKind::Hygiene))
    {
        let is_baseline = |o: &Case| o.lto == Lto::None && family(o) == family(case);
        if cases.iter().any(|o| is_baseline(o)) || out.iter().any(|o| is_baseline(o)) {
            continue;
        }
        if let Some(b) = all.iter().find(|o| is_baseline(o)) {
            out.push(b);
        }
    }
    out
}

/// Adds `hygiene.build` to every result whose case asks for it.
pub(crate) fn judge(cases: &[&Case], results: &mut [CaseResult], reporter: &dyn Reporter) {
    let log_of = |name: &str, results: &[CaseResult]| -> Option<String> {
        let r = results.iter().find(|r| r.name == name)?;
        std::fs::read_to_string(r.build.log.as_ref()?).ok()
    };
    let mut add = Vec::new();
    // A case not run (`--fail-fast`, an unsupported case) is not judged.
    let ran = |c: &Case| {
        results
            .iter()
            .any(|r| r.name == c.name && r.status != crate::model::Status::Skipped)
    };
    for case in cases
        .iter()
        .filter(|c| c.wants(CheckKind::Hygiene) && ran(c))
    {
        let baseline = cases
            .iter()
            .filter(|o| o.lto == Lto::None && family(o) == family(case))
            .find_map(|o| log_of(&o.name, results).map(|l| (o.name.clone(), l)));
        let log = log_of(&case.name, results);
        let r = hygiene::check(
            log.as_deref(),
            baseline.as_ref().map(|(n, l)| (n.as_str(), l.as_str())),
            case.lto != Lto::None,
        )
        .from_static();
        add.push((case.name.clone(), r));
    }
    for (name, r) in add {
        reporter.report(&Event::StepFinished {
            case: &name,
            step: Step::Check(&r.name),
            status: r.status,
            seconds: 0.0,
            message: &r.message,
        });
        if let Some(res) = results.iter_mut().find(|x| x.name == name) {
            res.checks.push(r);
            res.compute_status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn case(name: &str, arch: &str, lto: &str, cfi: &str) -> Case {
        Case::parse(
            Path::new(&format!("/c/{name}.yaml")),
            &format!("arch: {arch}\nlto: {lto}\ncfi: {cfi}\nchecks: [hygiene]\n"),
        )
        .unwrap()
    }

    #[test]
    fn an_lto_case_without_its_baseline_gets_one_from_all_cases() {
        let all = vec![
            case("x86_64-lto-full-cfi", "x86_64", "full", "on"),
            case("x86_64-lto-thin-cfi", "x86_64", "thin", "on"),
            case("x86_64-lto-none", "x86_64", "none", "off"),
            case("arm64-lto-none", "arm64", "none", "off"),
            case("arm64-lto-full-cfi", "arm64", "full", "on"),
        ];
        let named = |n: &[&str]| -> Vec<&Case> {
            n.iter()
                .map(|n| all.iter().find(|c| c.name == *n).unwrap())
                .collect()
        };
        let names = |v: Vec<&Case>| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        // Two x86 LTO cases share one baseline; arm64's is its own.
        assert_eq!(
            names(baselines(
                &all,
                &named(&[
                    "x86_64-lto-full-cfi",
                    "x86_64-lto-thin-cfi",
                    "arm64-lto-full-cfi"
                ])
            )),
            ["x86_64-lto-none", "arm64-lto-none"]
        );
        // With the control in the run, nothing is added.
        assert!(baselines(&all, &named(&["x86_64-lto-thin-cfi", "x86_64-lto-none"])).is_empty());
        // An LTO-none case needs none.
        assert!(baselines(&all, &named(&["arm64-lto-none"])).is_empty());
    }
}
