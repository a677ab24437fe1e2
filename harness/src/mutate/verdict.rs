//! A mutant's [`Verdict`] on one case, from the case's result on the
//! unmutated kernel (the base) and on the mutant: the base must pass (else
//! `base_failed`, or `incomplete`); then a case must fail somewhere
//! (`killed`, or `killed_elsewhere` when none of the expected checks
//! failed; `survived` when everything passed) and a control must pass
//! (`control_ok`, `control_failed`). Only statuses decide, never messages.

use crate::model::mutation::{Role, Verdict};
use crate::model::results::{CaseResult, TestItem};
use crate::model::Status;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A step or check that did not pass: its name as results name it
/// (`build`, `boot`, `initcalls.static`) and the first line of its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub check: String,
    pub status: Status,
    pub message: String,
}

impl Failure {
    fn of(t: &TestItem) -> Failure {
        Failure {
            check: t.name.to_owned(),
            status: t.status,
            message: t.message.lines().next().unwrap_or("").trim().to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// Which kernel a verdict's failures are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernel {
    /// The unmutated kernel (`base_failed`, or incomplete at the base).
    Base,
    /// The kernel with the mutant applied.
    Mutant,
}

/// A verdict and the failures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub verdict: Verdict,
    /// What failed (for `incomplete`: what was incomplete); empty for
    /// `survived` and `control_ok`.
    pub failures: Vec<Failure>,
    pub failures_of: Kernel,
}

/// The steps and checks of `r` with `status`.
fn with_status(r: &CaseResult, status: Status) -> Vec<Failure> {
    r.tests()
        .iter()
        .filter(|t| t.status == status)
        .map(Failure::of)
        .collect()
}

/// A result that is not there (the run lost the case): incomplete.
fn missing(what: &str) -> Vec<Failure> {
    vec![Failure {
        check: "result".into(),
        status: Status::Incomplete,
        message: format!("no result {what}"),
    }]
}

/// The verdict of one case: `base` and `mutant` are its results on the
/// unmutated kernel and with the mutant applied; `killed_by` the checks
/// the mutant file expects among the failures (any, when empty).
pub fn classify(
    role: Role,
    base: Option<&CaseResult>,
    mutant: Option<&CaseResult>,
    killed_by: &[String],
) -> Classified {
    let at_base = |verdict, failures| Classified {
        verdict,
        failures,
        failures_of: Kernel::Base,
    };
    let Some(base) = base else {
        return at_base(Verdict::Incomplete, missing("at the base"));
    };
    let failed = with_status(base, Status::Fail);
    if !failed.is_empty() {
        return at_base(Verdict::BaseFailed, failed);
    }
    let incomplete = with_status(base, Status::Incomplete);
    if !incomplete.is_empty() {
        return at_base(Verdict::Incomplete, incomplete);
    }
    let on_mutant = |verdict, failures| Classified {
        verdict,
        failures,
        failures_of: Kernel::Mutant,
    };
    let Some(mutant) = mutant else {
        return on_mutant(Verdict::Incomplete, missing("with the mutant"));
    };
    let failed = with_status(mutant, Status::Fail);
    let incomplete = with_status(mutant, Status::Incomplete);
    match role {
        Role::Case if !failed.is_empty() => {
            let expected =
                killed_by.is_empty() || failed.iter().any(|f| killed_by.contains(&f.check));
            let verdict = if expected {
                Verdict::Killed
            } else {
                Verdict::KilledElsewhere
            };
            // The expected checks first: a broken boot fails much else too.
            let (mut first, rest): (Vec<Failure>, Vec<Failure>) = failed
                .into_iter()
                .partition(|f| killed_by.contains(&f.check));
            first.extend(rest);
            on_mutant(verdict, first)
        }
        Role::Control if !failed.is_empty() => on_mutant(Verdict::ControlFailed, failed),
        _ if !incomplete.is_empty() => on_mutant(Verdict::Incomplete, incomplete),
        Role::Case => on_mutant(Verdict::Survived, vec![]),
        Role::Control => on_mutant(Verdict::ControlOk, vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, check};

    fn passing() -> CaseResult {
        case(
            "x86_64-lto-full-cfi",
            Status::Pass,
            Status::Pass,
            vec![
                check("initcalls.static", Status::Pass, "174 initcalls in order"),
                check("cfi.static", Status::Pass, "kCFI as configured"),
            ],
        )
    }

    fn with(name: &str, status: Status, message: &str) -> CaseResult {
        let mut c = passing();
        if let Some(k) = c.checks.iter_mut().find(|k| k.name == name) {
            k.status = status;
            k.message = message.into();
        }
        c.compute_status();
        c
    }

    fn verdict(
        role: Role,
        base: &CaseResult,
        mutant: &CaseResult,
        killed_by: &[&str],
    ) -> Classified {
        let k: Vec<String> = killed_by.iter().map(|s| s.to_string()).collect();
        classify(role, Some(base), Some(mutant), &k)
    }

    const OUT_OF_ORDER: &str = "level 6: do_init_module out of place\n--- golden\n+++ vmlinux";

    #[test]
    fn killed_lists_the_failed_checks_with_their_first_line() {
        let m = with("initcalls.static", Status::Fail, OUT_OF_ORDER);
        let v = verdict(Role::Case, &passing(), &m, &["initcalls.static"]);
        assert_eq!(v.verdict, Verdict::Killed);
        assert_eq!(v.failures_of, Kernel::Mutant);
        assert_eq!(
            v.failures,
            vec![Failure {
                check: "initcalls.static".into(),
                status: Status::Fail,
                message: "level 6: do_init_module out of place".into(),
            }]
        );
        assert_eq!(
            v.failures[0].to_string(),
            "initcalls.static: level 6: do_init_module out of place"
        );
        // The expected check first, whatever else failed.
        let mut boot_too = m.clone();
        boot_too.boot.status = Status::Fail;
        boot_too.boot.message = "Oops: invalid opcode".into();
        let v = verdict(Role::Case, &passing(), &boot_too, &["initcalls.static"]);
        let order: Vec<&str> = v.failures.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(order, ["initcalls.static", "boot"]);
        // No killed_by: any failure kills; a failed build or boot too.
        assert_eq!(
            verdict(Role::Case, &passing(), &m, &[]).verdict,
            Verdict::Killed
        );
        let no_build = case("k", Status::Fail, Status::Skipped, vec![]);
        let v = verdict(Role::Case, &passing(), &no_build, &["build"]);
        assert_eq!(
            (v.verdict, v.failures[0].check.as_str()),
            (Verdict::Killed, "build")
        );
    }

    #[test]
    fn killed_elsewhere_when_none_of_the_expected_checks_failed() {
        let m = with("cfi.static", Status::Fail, "no __kcfi_traps");
        let v = verdict(
            Role::Case,
            &passing(),
            &m,
            &["initcalls.static", "initcalls.boot"],
        );
        assert_eq!(v.verdict, Verdict::KilledElsewhere);
        assert_eq!(v.failures[0].check, "cfi.static");
        assert!(!v.verdict.fails_the_run());
    }

    #[test]
    fn survived_when_everything_passed() {
        let v = verdict(Role::Case, &passing(), &passing(), &["initcalls.static"]);
        assert_eq!(v.verdict, Verdict::Survived);
        assert!(v.failures.is_empty());
        assert!(v.verdict.fails_the_run());
    }

    #[test]
    fn controls_must_pass() {
        let v = verdict(Role::Control, &passing(), &passing(), &["initcalls.static"]);
        assert_eq!(v.verdict, Verdict::ControlOk);
        let m = with("initcalls.static", Status::Fail, OUT_OF_ORDER);
        let v = verdict(Role::Control, &passing(), &m, &["initcalls.static"]);
        assert_eq!(v.verdict, Verdict::ControlFailed);
        assert_eq!(v.failures[0].check, "initcalls.static");
        assert!(v.verdict.fails_the_run());
    }

    #[test]
    fn incomplete_on_the_mutant_or_at_the_base() {
        let timeout = case("k", Status::Pass, Status::Incomplete, vec![]);
        for role in [Role::Case, Role::Control] {
            let v = verdict(role, &passing(), &timeout, &[]);
            assert_eq!(
                (v.verdict, v.failures_of),
                (Verdict::Incomplete, Kernel::Mutant)
            );
            assert_eq!(v.failures[0].check, "boot");
            let v = verdict(role, &timeout, &passing(), &[]);
            assert_eq!(
                (v.verdict, v.failures_of),
                (Verdict::Incomplete, Kernel::Base)
            );
        }
        // A failure on the mutant outweighs an incomplete beside it.
        let mut both = with("initcalls.static", Status::Fail, OUT_OF_ORDER);
        both.boot.status = Status::Incomplete;
        assert_eq!(
            verdict(Role::Case, &passing(), &both, &[]).verdict,
            Verdict::Killed
        );
        // A result the run lost.
        let v = classify(Role::Case, Some(&passing()), None, &[]);
        assert_eq!(v.verdict, Verdict::Incomplete);
        let v = classify(Role::Case, None, Some(&passing()), &[]);
        assert_eq!(
            (v.verdict, v.failures_of),
            (Verdict::Incomplete, Kernel::Base)
        );
    }

    #[test]
    fn base_failed_when_the_unmutated_kernel_fails() {
        let base = with("initcalls.static", Status::Fail, "golden out of date");
        for role in [Role::Case, Role::Control] {
            let v = verdict(role, &base, &base, &["initcalls.static"]);
            assert_eq!(
                (v.verdict, v.failures_of),
                (Verdict::BaseFailed, Kernel::Base)
            );
            assert_eq!(v.failures[0].message, "golden out of date");
            assert!(v.verdict.fails_the_run());
        }
    }
}
