//! Gate: the verdict a nightly job acts on, from a [`RunComparison`].
//! Green (0) only when the new run said something about everything the
//! baseline knew: no regression (1), and no case or item of the baseline
//! that the new run lost, left incomplete or newly skipped (2). A run in
//! which nothing happened is never green.

use super::{Class, InputDifference, RunComparison};
use crate::model::results::RunResults;
use crate::model::untrusted::visible;
use crate::model::Status;
use std::collections::{BTreeMap, BTreeSet};

/// Why the gate is not green, or that it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateVerdict {
    /// `case item: message` of every regression.
    pub regressions: Vec<String>,
    /// Baseline cases the new run does not have at all (not allowed).
    pub missing_cases: Vec<String>,
    /// Items of a case both runs have, absent from the new run: `case item`.
    pub missing_items: Vec<String>,
    /// New-run cases or items that could not say (incomplete), and items
    /// that passed in the baseline and are skipped now: `case item: why`.
    pub incomplete: Vec<String>,
    /// Missing cases that `--allow-missing` excused.
    pub allowed_missing: Vec<String>,
    /// `--allow-missing` names that are in neither run: they excuse
    /// nothing (a typo, or a case since renamed); said, not counted.
    pub allowed_unknown: Vec<String>,
}

/// The two runs were made of different kernel series, toolchains or
/// source trees ([`super::input_differences`]): `gate` does not judge
/// one against the other unless `--allow-different-kernels` says so.
/// The input's fault, so incomplete (exit 2), never a verdict.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "gate: the baseline {} and the new run {} were not made of the same inputs: {}; \
     not gated (`--allow-different-kernels` gates them anyway)",
    visible(baseline),
    visible(new),
    differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct DifferentInputs {
    pub baseline: String,
    pub new: String,
    pub differences: Vec<InputDifference>,
}

/// Ok when the runs of `c` were made of the same inputs, or when `allow`
/// (`--allow-different-kernels`); else why not.
pub fn same_inputs(
    c: &RunComparison,
    allow: bool,
    baseline: &str,
    new: &str,
) -> Result<(), DifferentInputs> {
    if c.inputs_differ.is_empty() || allow {
        return Ok(());
    }
    Err(DifferentInputs {
        baseline: baseline.to_owned(),
        new: new.to_owned(),
        differences: c.inputs_differ.clone(),
    })
}

impl GateVerdict {
    /// 1 on a regression (a kernel failed), else 2 when anything is
    /// missing or incomplete, else 0; the run contract's order.
    pub fn exit_code(&self) -> u8 {
        if !self.regressions.is_empty() {
            1
        } else if self.missing_cases.is_empty()
            && self.missing_items.is_empty()
            && self.incomplete.is_empty()
        {
            0
        } else {
            2
        }
    }

    /// Lines for the terminal: one per reason, most urgent first, with
    /// control characters from the results files escaped ([`visible`]).
    pub fn report(&self) -> Vec<String> {
        self.lines().iter().map(|l| visible(l)).collect()
    }

    fn lines(&self) -> Vec<String> {
        let mut out = vec![];
        for r in &self.regressions {
            out.push(format!("regression: {r}"));
        }
        for c in &self.missing_cases {
            out.push(format!(
                "missing case: {c} (in the baseline, not in the new run)"
            ));
        }
        for i in &self.missing_items {
            out.push(format!(
                "missing: {i} (in the baseline, not in the new run)"
            ));
        }
        for i in &self.incomplete {
            out.push(format!("incomplete: {i}"));
        }
        for c in &self.allowed_missing {
            out.push(format!("allowed missing case: {c}"));
        }
        for c in &self.allowed_unknown {
            out.push(format!(
                "warning: --allow-missing {c}: no case `{c}` in the baseline or the new run; it excuses nothing"
            ));
        }
        out
    }
}

/// The gate's verdict on `new` against the comparison `c` (of the
/// baseline with `new`). `allow_missing` names baseline cases that may be
/// absent from `new` (e.g. a shard that runs elsewhere).
pub fn verdict(c: &RunComparison, new: &RunResults, allow_missing: &[String]) -> GateVerdict {
    let first = |m: &str| m.lines().next().unwrap_or("").to_string();
    let new_cases: BTreeSet<&str> = new.cases.iter().map(|c| c.name.as_str()).collect();
    let mut v = GateVerdict {
        regressions: vec![],
        missing_cases: vec![],
        missing_items: vec![],
        incomplete: vec![],
        allowed_missing: vec![],
        allowed_unknown: vec![],
    };
    let known: BTreeSet<&str> = c
        .entries
        .iter()
        .map(|e| e.case.as_str())
        .chain(new_cases.iter().copied())
        .collect();
    for a in allow_missing {
        if !known.contains(a.as_str()) && !v.allowed_unknown.contains(a) {
            v.allowed_unknown.push(a.clone());
        }
    }
    let mut missing_by_case: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &c.entries {
        match e.class {
            Class::Regression => {
                v.regressions
                    .push(format!("{} {}: {}", e.case, e.item, first(&e.message)))
            }
            Class::Missing => missing_by_case.entry(&e.case).or_default().push(&e.item),
            Class::Incomplete => {
                let why = match (e.old, e.new) {
                    (Some(Status::Pass), Some(Status::Skipped)) => {
                        format!("passed in the baseline, skipped now: {}", first(&e.message))
                    }
                    _ => first(&e.message),
                };
                v.incomplete.push(format!("{} {}: {why}", e.case, e.item));
            }
            _ => {}
        }
    }
    for (case, items) in missing_by_case {
        if !new_cases.contains(case) {
            if allow_missing.iter().any(|a| a == case) {
                v.allowed_missing.push(case.to_string());
            } else {
                v.missing_cases.push(case.to_string());
            }
        } else {
            v.missing_items
                .extend(items.into_iter().map(|i| format!("{case} {i}")));
        }
    }
    // A whole case that could not say, in case none of its items did (a
    // case whose items all pass but whose status is incomplete, or a run
    // the baseline does not know).
    for case in &new.cases {
        if matches!(case.status, Status::Incomplete | Status::Skipped)
            && !v
                .incomplete
                .iter()
                .any(|i| i.starts_with(&format!("{} ", case.name)))
        {
            v.incomplete
                .push(format!("{}: the case is {}", case.name, case.status));
        }
    }
    if new.cases.is_empty() {
        v.incomplete
            .push("the new run has no case at all".to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::model::testdata::{case, check, run};
    use Status::*;

    fn gate(old: &RunResults, new: &RunResults, allow: &[&str]) -> GateVerdict {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        verdict(&compare(old, new), new, &allow)
    }

    #[test]
    fn an_all_incomplete_run_is_not_green() {
        // The reproducer: a boot that timed out against a pass.
        let old = run(vec![case(
            "x",
            Pass,
            Pass,
            vec![check("initcalls", Pass, "m")],
        )]);
        let new = run(vec![case(
            "x",
            Pass,
            Incomplete,
            vec![check("initcalls", Incomplete, "m")],
        )]);
        let v = gate(&old, &new, &[]);
        assert_eq!(v.exit_code(), 2, "{v:?}");
        assert!(
            v.incomplete.iter().any(|i| i.starts_with("x boot")),
            "{v:?}"
        );
        assert!(v.report().iter().any(|l| l.starts_with("incomplete: x ")));
    }

    #[test]
    fn a_missing_case_is_not_green_unless_allowed() {
        let old = run(vec![
            case("a", Pass, Pass, vec![]),
            case("b", Pass, Pass, vec![]),
        ]);
        let new = run(vec![case("a", Pass, Pass, vec![])]);
        let v = gate(&old, &new, &[]);
        assert_eq!(
            (v.exit_code(), v.missing_cases.clone()),
            (2, vec!["b".into()])
        );
        let v = gate(&old, &new, &["b"]);
        assert_eq!(v.exit_code(), 0, "{v:?}");
        assert_eq!(v.allowed_missing, vec!["b".to_string()]);
        // Allowing a case does not excuse a check lost from another.
        let old = run(vec![case("a", Pass, Pass, vec![check("orc", Pass, "m")])]);
        let new = run(vec![case("a", Pass, Pass, vec![])]);
        let v = gate(&old, &new, &["a"]);
        assert_eq!(v.missing_items, vec!["a check:orc".to_string()]);
        assert_eq!(v.exit_code(), 2);
    }

    #[test]
    fn an_allowed_name_in_neither_run_is_said() {
        let old = run(vec![
            case("a", Pass, Pass, vec![]),
            case("b", Pass, Pass, vec![]),
        ]);
        let new = run(vec![case("a", Pass, Pass, vec![])]);
        let v = gate(&old, &new, &["b", "no-such-case", "a"]);
        assert_eq!(v.allowed_unknown, vec!["no-such-case".to_string()]);
        assert_eq!(
            v.exit_code(),
            0,
            "a name that excuses nothing is said, not counted"
        );
        assert!(
            v.report().contains(
                &"warning: --allow-missing no-such-case: no case `no-such-case` in the baseline \
                  or the new run; it excuses nothing"
                    .to_string()
            ),
            "{:?}",
            v.report()
        );
    }

    #[test]
    fn runs_of_different_inputs_are_refused_unless_allowed() {
        let mut old = run(vec![case("a", Pass, Pass, vec![])]);
        old.kernel_version = Some("6.12.117".into());
        let mut new = old.clone();
        new.kernel_version = Some("7.1.3".into());
        let c = compare(&old, &new);
        let e = same_inputs(&c, false, "old/", "new/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "gate: the baseline old/ and the new run new/ were not made of the same inputs: \
             kernel series is `6.12 (Linux 6.12.117)` in the baseline but `7.1 (Linux 7.1.3)` \
             in the new run; not gated (`--allow-different-kernels` gates them anyway)"
        );
        assert!(same_inputs(&c, true, "old/", "new/").is_ok());
        new.kernel_version = Some("6.12.120".into());
        assert!(same_inputs(&compare(&old, &new), false, "old/", "new/").is_ok());
        new.toolchain = Some("clang 22".into());
        let e = same_inputs(&compare(&old, &new), false, "o", "n").unwrap_err();
        assert!(
            e.to_string()
                .contains("toolchain is `(none)` in the baseline but `clang 22`"),
            "{e}"
        );
    }

    #[test]
    fn the_verdict_shows_control_characters_as_escapes() {
        let old = run(vec![case(
            "a\x1b[31m",
            Pass,
            Pass,
            vec![check("cfi", Pass, "m")],
        )]);
        let new = run(vec![case(
            "a\x1b[31m",
            Pass,
            Pass,
            vec![check("cfi", Fail, "\x1b[2J")],
        )]);
        let v = gate(&old, &new, &["\x07bell"]);
        let r = v.report();
        assert!(
            r.iter().all(|l| !l.chars().any(|c| c.is_control())),
            "{r:?}"
        );
        assert_eq!(r[0], "regression: a\\x1b[31m check:cfi: \\x1b[2J");
    }

    #[test]
    fn an_empty_run_is_not_green() {
        let old = run(vec![case("a", Pass, Pass, vec![])]);
        let v = gate(&old, &run(vec![]), &["a"]);
        assert_eq!(v.exit_code(), 2, "{v:?}");
        // Even against an empty baseline.
        assert_eq!(gate(&run(vec![]), &run(vec![]), &[]).exit_code(), 2);
    }

    #[test]
    fn pass_to_skip_is_lost_coverage_but_skip_to_skip_is_not() {
        let old = run(vec![case("a", Pass, Pass, vec![check("orc", Pass, "m")])]);
        let new = run(vec![case(
            "a",
            Pass,
            Pass,
            vec![check("orc", Skipped, "m")],
        )]);
        let v = gate(&old, &new, &[]);
        assert_eq!(v.exit_code(), 2);
        assert!(
            v.incomplete[0].contains("passed in the baseline, skipped now"),
            "{v:?}"
        );
        let v = gate(&new, &new, &[]);
        assert_eq!(v.exit_code(), 0, "{v:?}");
    }

    #[test]
    fn a_regression_wins_and_persistent_failures_pass() {
        let old = run(vec![
            case("a", Pass, Pass, vec![check("cfi", Pass, "m")]),
            case("b", Pass, Fail, vec![]),
        ]);
        let new = run(vec![
            case("a", Pass, Pass, vec![check("cfi", Fail, "m")]),
            case("b", Pass, Fail, vec![]),
        ]);
        let v = gate(&old, &new, &[]);
        assert_eq!(v.exit_code(), 1);
        assert_eq!(v.regressions.len(), 1, "{v:?}");
        assert!(v.regressions[0].starts_with("a check:cfi"));
        let v = gate(&new, &new, &[]);
        assert_eq!(v.exit_code(), 0, "persistent failures do not block: {v:?}");
        // Regression and incomplete together: 1, and both are reported.
        let newer = run(vec![
            case("a", Pass, Pass, vec![check("cfi", Fail, "m")]),
            case("b", Pass, Incomplete, vec![]),
        ]);
        let v = gate(&old, &newer, &[]);
        assert_eq!(v.exit_code(), 1);
        assert!(!v.incomplete.is_empty(), "{v:?}");
    }
}
