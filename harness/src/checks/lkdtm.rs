//! lkdtm tests that check an LTO mechanism (not CFI: see [`super::cfi`]):
//! `EXEC_RODATA` (lkdtm's `rodata.o` stays outside LTO, so executing it
//! must fault), `REPORT_STACK_CANARY` (the stack protector under LTO) and
//! `EXCEPTION` (an Oops trace for the unwinder). Each runs in its own probe step
//! and is judged the way the kernel's selftest runner
//! (`tools/testing/selftests/lkdtm/run.sh`) judges it from tests.txt:
//! `XFAIL:` is a skip, `FAIL:` a failure, else the expected text (by
//! default `call trace:`) must appear.

use super::cfi::LkdtmExpectations;
use super::{unobserved, Console, Step};
use crate::console::message;
use crate::guest::protocol::{lkdtm_probe_step, LkdtmProbe, LKDTM_LOAD_STEP};
use crate::model::{CheckResult, Status};

/// What an lkdtm probe showed, judged by tests.txt.
pub struct Judged<'c> {
    pub result: CheckResult,
    /// The probe's window, for checks that read more of it (the unwinder's
    /// trace); `None` when it never ran.
    pub step: Option<Step>,
    pub console: Option<&'c Console<'c>>,
}

/// Judges lkdtm test `probe` as check `name`.
pub fn judge<'c>(
    name: &str,
    probe: LkdtmProbe,
    console: Option<&'c Console<'c>>,
    boot: &CheckResult,
    lkdtm: &LkdtmExpectations,
) -> Judged<'c> {
    let what = format!("lkdtm {}", probe.test);
    let none = |result| Judged {
        result,
        step: None,
        console,
    };
    let Some(c) = console else {
        return none(unobserved(name, &what, boot));
    };
    if let Some(load) = c.step(LKDTM_LOAD_STEP) {
        if load.rc.is_some_and(|rc| rc != 0) {
            return none(CheckResult::new(
                name,
                Status::Fail,
                format!("lkdtm did not load, so {} could not run", probe.test),
            ));
        }
    }
    let Some(step) = c.step(&lkdtm_probe_step(probe.test)) else {
        return none(unobserved(name, &what, boot));
    };
    let window: Vec<String> = c
        .window(&step)
        .filter(|(_, l)| !l.trim().is_empty())
        .take(40)
        .map(|(n, l)| format!("console line {n}: {}", message(l)))
        .collect();
    let result = |status, msg: String| Judged {
        result: CheckResult::new(name, status, msg).with(window.clone()),
        step: Some(step),
        console,
    };
    if !step.finished {
        return result(
            Status::Fail,
            format!(
                "{} never returned to init: the kernel died ({})",
                probe.test, boot.message
            ),
        );
    }
    let alternatives = lkdtm.for_test(probe.test);
    let mut expected = None;
    for (n, line) in c.window(&step) {
        let msg = message(line);
        if msg.contains("XFAIL:") {
            return result(
                Status::Skipped,
                format!(
                    "lkdtm says this kernel cannot run {}: console line {n}: {msg}",
                    probe.test
                ),
            );
        }
        if msg.contains("FAIL:") {
            return result(
                Status::Fail,
                format!("{} failed: console line {n}: {msg}", probe.test),
            );
        }
        let lower = msg.to_lowercase();
        if expected.is_none() && alternatives.iter().any(|a| lower.contains(a.as_str())) {
            expected = Some(format!("console line {n}: {msg}"));
        }
    }
    match expected {
        Some(at) => result(
            Status::Pass,
            format!("{} behaved as tests.txt expects: {at}", probe.test),
        ),
        None => result(
            Status::Fail,
            format!(
                "{} did not print what tests.txt expects (`{}`)",
                probe.test,
                alternatives.join("` or `")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::parse_log;
    use crate::guest::protocol::{EXEC_RODATA, REPORT_STACK_CANARY};
    use crate::model::results::BootEnd;
    use crate::stages::boot::BootOutcome;

    fn run(log: &str, probe: LkdtmProbe) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        std::fs::write(&path, log).unwrap();
        let outcome = BootOutcome {
            end: BootEnd::Exited { code: Some(0) },
            lines: log.lines().count(),
            last_line: None,
            events: parse_log(log.as_bytes()),
            seconds: 1.0,
            log: path,
            stderr_log: "/nonexistent".into(),
        };
        let console = Console::read(&outcome);
        let boot = CheckResult::new("boot", Status::Pass, "ok");
        let lkdtm = LkdtmExpectations::load(None);
        judge("x", probe, Some(&console), &boot, &lkdtm).result
    }

    fn probe_log(test: &str, body: &str, rc: i32) -> String {
        format!("@@LTOH STEP cfi-load-lkdtm\n@@LTOH RESULT cfi-load-lkdtm rc=0\n@@LTOH STEP lkdtm-{test}\n{body}@@LTOH RESULT lkdtm-{test} rc={rc}\n")
    }

    #[test]
    fn exec_rodata_faulting_passes_and_returning_fails() {
        let ok = run(
            &probe_log(
                "EXEC_RODATA",
                "[ 1.0] lkdtm: attempting bad execution at ffff\n[ 1.0] Call Trace:\n",
                139,
            ),
            EXEC_RODATA,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let bad = run(
            &probe_log("EXEC_RODATA", "[ 1.0] lkdtm: attempting bad execution at ffff\n[ 1.0] lkdtm: FAIL: func returned\n", 0),
            EXEC_RODATA,
        );
        assert_eq!(bad.status, Status::Fail);
        assert!(
            bad.message.contains("FAIL: func returned"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn canaries_that_differ_pass_and_identical_ones_fail() {
        let ok = run(
            &probe_log(
                "REPORT_STACK_CANARY",
                "[ 1.0] lkdtm: ok: stack canaries differ between pid 50 and pid 51\n",
                0,
            ),
            REPORT_STACK_CANARY,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let bad = run(
            &probe_log(
                "REPORT_STACK_CANARY",
                "[ 1.0] lkdtm: FAIL: canary identical for pid 50 and pid 51\n",
                0,
            ),
            REPORT_STACK_CANARY,
        );
        assert_eq!(bad.status, Status::Fail);
        let xfail = run(
            &probe_log(
                "REPORT_STACK_CANARY",
                "[ 1.0] lkdtm: XFAIL: this test requires CONFIG_STACKPROTECTOR\n",
                0,
            ),
            REPORT_STACK_CANARY,
        );
        assert_eq!(xfail.status, Status::Skipped);
        let silent = run(
            &probe_log("REPORT_STACK_CANARY", "", 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(silent.status, Status::Fail);
        assert!(
            silent.message.contains("stack canaries differ"),
            "{}",
            silent.message
        );
    }

    #[test]
    fn a_probe_that_never_returns_fails_and_one_never_run_is_unobserved() {
        let died = run(
            "@@LTOH STEP lkdtm-EXEC_RODATA\n[ 1.0] Kernel panic - not syncing: x\n",
            EXEC_RODATA,
        );
        assert_eq!(died.status, Status::Fail);
        assert!(died.message.contains("never returned"), "{}", died.message);
        let never = run("nothing\n", EXEC_RODATA);
        assert_eq!(never.status, Status::Fail);
        assert!(never.message.starts_with("never saw"), "{}", never.message);
    }
}
