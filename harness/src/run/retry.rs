//! Retries: a kernel whose boot or a runtime check failed (or was
//! incomplete) is booted again, without a rebuild, up to `--retries` times.
//! Each step or runtime check that had not passed takes the retry's
//! verdict, with every attempt recorded; static checks (read from the
//! build's files, [`CheckPhase::Static`]) are never retried. A check that
//! failed and then passed is unstable
//! ([`crate::model::status::passed_on_retry`]).

use super::{boot_step, judge, Environment, Judged, Prepared, RunOptions};
use crate::case::Case;
use crate::events::{Event, Reporter, Step};
use crate::model::results::{BootStep, CheckPhase};
use crate::model::CheckResult;
use crate::stages::build::BuiltKernel;

/// Boots `kernel` again while something retryable is bad and retries are
/// left, folding each attempt into `boot`, `checks` and `judged`.
pub(crate) fn retry(
    case: &Case,
    kernel: &BuiltKernel,
    (boot, checks, judged): (&mut BootStep, &mut Vec<CheckResult>, &mut Judged),
    env: &Environment,
    opts: &RunOptions,
    prepared: &Prepared,
    reporter: &dyn Reporter,
) {
    let mut attempt = 0;
    while attempt < opts.retries && judged.outcome.is_some() && needs_retry(boot, checks) {
        attempt += 1;
        reporter.report(&Event::Phase {
            case: &case.name,
            step: Step::Boot,
            phase: &format!("retry {attempt}/{}", opts.retries),
        });
        let (step2, outcome2) = boot_step::boot_case(case, kernel, env, opts, reporter, attempt);
        *judged = Judged::new(judged.facts.take(), outcome2, &step2);
        let checks2 = judge(case, judged, prepared, &prepared.goldens.by_path);
        merge_attempt(boot, checks, step2, checks2);
    }
}

/// Checks read from the build's files: a new boot cannot change them.
fn is_static(check: &CheckResult) -> bool {
    check.phase == CheckPhase::Static
}

fn needs_retry(boot: &BootStep, checks: &[CheckResult]) -> bool {
    boot.status.is_bad() || checks.iter().any(|c| !is_static(c) && c.status.is_bad())
}

/// Folds a retry into the results: every step or runtime check that had
/// not passed yet takes the retry's verdict, with all attempts recorded.
/// What already passed stays as it was.
fn merge_attempt(
    boot: &mut BootStep,
    checks: &mut [CheckResult],
    boot2: BootStep,
    checks2: Vec<CheckResult>,
) {
    if boot.status.is_bad() {
        let mut attempts = std::mem::take(&mut boot.attempts);
        if attempts.is_empty() {
            attempts.push(boot.status);
        }
        attempts.push(boot2.status);
        *boot = BootStep { attempts, ..boot2 };
    }
    for c in checks
        .iter_mut()
        .filter(|c| !is_static(c) && c.status.is_bad())
    {
        let Some(n) = checks2.iter().find(|n| n.name == c.name) else {
            continue;
        };
        let mut attempts = std::mem::take(&mut c.attempts);
        if attempts.is_empty() {
            attempts.push(c.status);
        }
        attempts.push(n.status);
        *c = CheckResult {
            attempts,
            ..n.clone()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn boot(status: Status) -> BootStep {
        BootStep {
            status,
            message: String::new(),
            seconds: 1.0,
            console_log: None,
            qemu_command: None,
            end: None,
            attempts: vec![],
            accel: None,
            qemu_version: None,
        }
    }

    #[test]
    fn a_retry_replaces_what_failed_at_runtime_but_never_a_static_verdict() {
        let mut b = boot(Status::Fail);
        let mut checks = vec![
            CheckResult::new("x.static", Status::Fail, "tables").from_static(),
            CheckResult::new("x.boot", Status::Fail, "console"),
            CheckResult::new("y.boot", Status::Pass, "fine"),
        ];
        assert!(needs_retry(&b, &checks));
        let again = vec![
            CheckResult::new("x.static", Status::Pass, "tables").from_static(),
            CheckResult::new("x.boot", Status::Pass, "console"),
            CheckResult::new("y.boot", Status::Fail, "now broken"),
        ];
        merge_attempt(&mut b, &mut checks, boot(Status::Pass), again);
        assert_eq!(b.status, Status::Pass);
        assert_eq!(b.attempts, vec![Status::Fail, Status::Pass]);
        assert_eq!(checks[0].status, Status::Fail, "static: never retried");
        assert!(checks[0].attempts.is_empty());
        assert_eq!(checks[1].status, Status::Pass);
        assert!(checks[1].unstable());
        assert_eq!(checks[2].status, Status::Pass, "what passed stays");
        // Only a static failure left: no new boot can change it.
        let b = boot(Status::Pass);
        assert!(!needs_retry(&b, &checks[..1]));
    }
}
