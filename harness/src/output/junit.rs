//! `junit.xml`: the run as JUnit XML (quick-junit), for CI systems that
//! show test reports (GitLab, Jenkins, GitHub actions that read JUnit) and
//! for junitparser. One testsuite per case; one testcase per step and
//! check, named like every other format's tests (`build`, `boot`,
//! `check:<name>`).

use crate::model::results::{RunResults, TestItem};
use crate::model::Status;
use anyhow::Result;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
use std::time::Duration;

/// One testsuite per case; one testcase per step and check.
pub fn junit(r: &RunResults) -> Result<String> {
    let mut report = Report::new("lto-harness");
    report.set_time(seconds(r.seconds));
    for c in &r.cases {
        let mut suite = TestSuite::new(c.name.as_str());
        suite.add_property(("arch", c.arch.name()));
        suite.add_property(("lto", c.lto.name()));
        suite.add_property(("cfi", c.cfi.name()));
        if let Some(t) = &c.toolchain {
            suite.add_property(("toolchain", t.as_str()));
        }
        for t in c.tests() {
            let mut tc = TestCase::new(t.id(), test_status(&t));
            tc.set_classname(format!("lto-harness.{}", c.name));
            tc.set_time(seconds(t.seconds.unwrap_or(0.0)));
            if let Some(p) = t.log {
                tc.set_system_out(format!("log: {}", p.display()));
            }
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

/// A time from results.json (read back by `merge`, so any f64): negative
/// and NaN are 0, too large for a Duration is the largest one.
fn seconds(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// A test's JUnit status: success, skipped (with the message), failure
/// (fail) or error (incomplete), with the message, the status as the type
/// and the details as the description; then its earlier attempts.
fn test_status(t: &TestItem) -> TestCaseStatus {
    let message = t.message;
    let mut st = match t.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message);
            s
        }
        Status::Fail | Status::Incomplete => {
            let kind = if t.status == Status::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(message);
            s.set_type(t.status.name());
            if !t.details.is_empty() {
                s.set_description(t.details.join("\n"));
            }
            s
        }
    };
    add_reruns(&mut st, t.attempts);
    st
}

/// Earlier attempts of a retried step: flakyFailure on a pass (unstable),
/// rerunFailure on a fail.
fn add_reruns(st: &mut TestCaseStatus, attempts: &[Status]) {
    let earlier = attempts.len().saturating_sub(1);
    for a in &attempts[..earlier] {
        match a {
            Status::Fail => {
                st.add_rerun(TestRerun::new(NonSuccessKind::Failure));
            }
            Status::Incomplete => {
                st.add_rerun(TestRerun::new(NonSuccessKind::Error));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, run};
    use crate::model::CheckResult;

    #[test]
    fn any_seconds_from_a_merged_results_json_make_a_report() {
        for s in [1e30, f64::INFINITY, f64::NAN, -1.0, f64::MAX, 1.8e19] {
            let mut r = run(vec![case("a", Status::Pass, Status::Pass, vec![])]);
            r.seconds = s;
            r.cases[0].build.seconds = s;
            let xml = junit(&r).unwrap();
            assert!(xml.contains("<testsuites"), "{s}: {xml}");
        }
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(1e30), Duration::MAX);
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
    }

    #[test]
    fn junit_has_one_testcase_per_step_and_check_with_statuses() {
        let chk = CheckResult::new("modules", Status::Fail, "insmod failed");
        let mut c = case(
            "x86_64-lto-full-cfi",
            Status::Pass,
            Status::Incomplete,
            vec![chk],
        );
        c.boot.message = "m".into();
        let r = run(vec![c]);
        let xml = junit(&r).unwrap();
        assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
        assert!(xml.contains("name=\"check:modules\""));
        assert!(xml.contains("<failure message=\"insmod failed\""), "{xml}");
        assert!(
            xml.contains("<error message=\"m\" type=\"incomplete\""),
            "{xml}"
        );
        assert_eq!(r.summary.fail, 1);
    }
}
