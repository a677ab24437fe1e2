//! Checks: turn a boot's events into verdicts. The boot verdict is always
//! judged; other checks (module load/unload, ...) read the `@@LTOH` step
//! markers the guest's /init printed.
//!
//! * `pass`: the thing worked;
//! * `fail`: the kernel did something wrong (panic, Oops, BUG, WARNING,
//!   CFI failure, init never ran or never finished, a module did not load);
//! * `incomplete`: the harness or the machine failed (QEMU missing or
//!   crashed, timeout), so nothing can be said about the kernel.

use crate::boot::{BootEnd, BootOutcome};
use crate::case::{Case, CheckKind};
use crate::console::{Event, EventKind};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Skipped,
    Incomplete,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::Incomplete => "incomplete",
            Status::Fail => "fail",
        }
    }

    /// The overall status of several: fail beats incomplete beats pass;
    /// skipped counts only when nothing else is there.
    pub fn worst(all: impl IntoIterator<Item = Status>) -> Status {
        all.into_iter().max().unwrap_or(Status::Skipped)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Status,
    pub message: String,
    /// Evidence: console lines (with their line numbers), error lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl CheckResult {
    fn new(name: &str, status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }
    fn with(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// The events that mean the kernel went wrong.
fn is_bad(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Panic { .. }
            | EventKind::Oops { .. }
            | EventKind::Bug { .. }
            | EventKind::Warning { .. }
            | EventKind::CfiFailure { .. }
    )
}

pub fn describe(e: &Event) -> String {
    let what = match &e.kind {
        EventKind::Panic { text } => format!("Kernel panic - not syncing: {text}"),
        // The parser keeps these lines whole (without the timestamp).
        EventKind::Oops { text }
        | EventKind::Bug { text }
        | EventKind::Warning { text }
        | EventKind::CfiFailure { text, .. }
        | EventKind::ModuleError { text, .. } => text.clone(),
        other => format!("{other:?}"),
    };
    format!("console line {}: {what}", e.line)
}

fn marker<'a>(events: &'a [Event], kind: &str) -> Option<(&'a Event, &'a [String])> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind: k, args } if k == kind => Some((e, args.as_slice())),
        _ => None,
    })
}

/// What the console alone says (for `judge LOG`, where QEMU's exit is unknown,
/// and as the core of [`boot_verdict`]).
pub fn console_verdict(events: &[Event]) -> CheckResult {
    let bad: Vec<&Event> = events.iter().filter(|e| is_bad(&e.kind)).collect();
    if !bad.is_empty() {
        let first = describe(bad[0]);
        return CheckResult::new(
            "boot",
            Status::Fail,
            format!("the kernel reported a failure: {first}"),
        )
        .with(bad.iter().take(10).map(|e| describe(e)).collect());
    }
    let ran_init = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RunInit { .. }));
    let banner = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Banner { .. }));
    match (marker(events, "BEGIN"), marker(events, "END")) {
        (Some(_), Some(_)) => CheckResult::new(
            "boot",
            Status::Pass,
            "init ran from start marker to end marker",
        ),
        (Some((b, _)), None) => CheckResult::new(
            "boot",
            Status::Fail,
            format!(
                "init started (console line {}) but never printed its end marker",
                b.line
            ),
        ),
        (None, _) if ran_init => CheckResult::new(
            "boot",
            Status::Fail,
            "the kernel ran /init but the init's start marker never appeared",
        ),
        (None, _) if banner => CheckResult::new(
            "boot",
            Status::Fail,
            "the kernel booted but never ran /init",
        ),
        (None, _) => CheckResult::new("boot", Status::Fail, "no kernel banner on the console"),
    }
}

/// The boot verdict: the console verdict, refined by how QEMU ended.
pub fn boot_verdict(outcome: &BootOutcome) -> CheckResult {
    let console = console_verdict(&outcome.events);
    let log = outcome.log.display();
    let last = outcome.last_line.as_deref().unwrap_or("");
    match &outcome.end {
        BootEnd::SpawnFailed { error } => {
            CheckResult::new("boot", Status::Incomplete, format!("QEMU did not start: {error}"))
        }
        // Whatever ended the boot, a kernel that reported a failure failed.
        _ if console.status == Status::Fail && !console.details.is_empty() => console,
        BootEnd::TimedOut { after_seconds } if outcome.lines == 0 => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("timed out after {after_seconds} s with no console output at all (QEMU stderr: {})", first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::TimedOut { after_seconds } => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!(
                "timed out after {after_seconds} s; {} console lines, the last: `{last}` (log: {log}); \
                 raise the case's timeout if the machine is slow",
                outcome.lines
            ),
        ),
        BootEnd::StoppedOnPanic => console,
        BootEnd::Exited { code } if *code != Some(0) && outcome.lines == 0 => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("QEMU exited with {code:?} before the kernel printed anything: {}", first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::Exited { code } if *code != Some(0) => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("QEMU exited with {code:?} after {} console lines: {}", outcome.lines, first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::Exited { .. } => console,
    }
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(nothing)");
    l.chars().take(300).collect()
}

/// The result of one init step, from its RESULT marker.
fn step_rc(events: &[Event], step: &str) -> Option<i32> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind, args }
            if kind == "RESULT" && args.first().map(String::as_str) == Some(step) =>
        {
            args.get(1)
                .and_then(|a| a.strip_prefix("rc="))
                .and_then(|v| v.parse().ok())
        }
        _ => None,
    })
}

/// Each listed module must load, be listed in /proc/modules, unload, and
/// be gone from /proc/modules.
pub fn modules_check(case: &Case, events: &[Event], boot: &CheckResult) -> CheckResult {
    const NAME: &str = "modules";
    let mut failures = Vec::new();
    let mut missing_steps = Vec::new();
    for m in &case.modules {
        for (step, what) in [
            ("insmod", "insmod failed"),
            ("listed", "not listed in /proc/modules after insmod"),
            ("rmmod", "rmmod failed"),
            ("unlisted", "still listed in /proc/modules after rmmod"),
        ] {
            match step_rc(events, &format!("{step}-{m}")) {
                Some(0) => {}
                Some(rc) => {
                    let mut line = format!("{m}: {what} (rc={rc})");
                    let kernel_says: Vec<String> = events
                        .iter()
                        .filter(|e| match &e.kind {
                            EventKind::ModuleError { module, .. } => {
                                module.as_deref().is_none_or(|x| x == m)
                            }
                            _ => false,
                        })
                        .map(describe)
                        .collect();
                    if !kernel_says.is_empty() {
                        line.push_str(&format!("; {}", kernel_says.join("; ")));
                    }
                    failures.push(line);
                    break;
                }
                None => {
                    missing_steps.push(format!("{step}-{m}"));
                    break;
                }
            }
        }
    }
    if !failures.is_empty() {
        return CheckResult::new(NAME, Status::Fail, failures[0].clone()).with(failures);
    }
    if !missing_steps.is_empty() {
        let status = if boot.status == Status::Pass {
            Status::Fail
        } else {
            boot.status.max(Status::Incomplete)
        };
        return CheckResult::new(
            NAME,
            status,
            format!(
                "the guest never reported step(s) {} (boot: {})",
                missing_steps.join(", "),
                boot.status
            ),
        );
    }
    CheckResult::new(
        NAME,
        Status::Pass,
        format!("{} loaded, listed, unloaded", case.modules.join(", ")),
    )
}

/// Every check the case asks for, boot first.
pub fn judge(case: &Case, outcome: &BootOutcome) -> Vec<CheckResult> {
    let boot = boot_verdict(outcome);
    let mut out = vec![boot.clone()];
    for kind in &case.checks {
        match kind {
            CheckKind::Boot => {}
            CheckKind::Modules => out.push(modules_check(case, &outcome.events, &boot)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::parse_log;
    use std::path::{Path, PathBuf};

    fn outcome(log: &str, end: BootEnd) -> BootOutcome {
        let events = parse_log(log.as_bytes());
        BootOutcome {
            end,
            lines: log.lines().count(),
            last_line: log.lines().last().map(String::from),
            events,
            seconds: 1.0,
            log: PathBuf::from("/tmp/console.log"),
            stderr_log: PathBuf::from("/nonexistent"),
        }
    }
    const OK: &str = "[    0.000000] Linux version 6.12.117 (r@h) (clang 19) #1\n[    0.5] Run /init as init process\n@@LTOH BEGIN c\n@@LTOH END rc=0\n";
    const EXIT0: BootEnd = BootEnd::Exited { code: Some(0) };

    #[test]
    fn clean_boot_passes() {
        assert_eq!(boot_verdict(&outcome(OK, EXIT0)).status, Status::Pass);
    }

    #[test]
    fn real_captured_log_passes() {
        let log = include_str!("../tests/fixtures/console/x86_64-tiny-none.log");
        let v = boot_verdict(&outcome(log, EXIT0));
        assert_eq!(v.status, Status::Pass, "{v:?}");
    }

    #[test]
    fn panic_fails_even_when_qemu_exits_cleanly() {
        let log = format!("{OK}[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n");
        for end in [
            EXIT0,
            BootEnd::StoppedOnPanic,
            BootEnd::TimedOut { after_seconds: 5 },
        ] {
            let v = boot_verdict(&outcome(&log, end));
            assert_eq!(v.status, Status::Fail);
            assert!(
                v.message.contains("Attempted to kill init"),
                "{}",
                v.message
            );
            assert!(v.message.contains("console line 5"), "{}", v.message);
        }
    }

    #[test]
    fn real_arm64_log_passes_with_its_banner_and_init() {
        let log = include_str!("../tests/fixtures/console/arm64-tiny-none.log");
        let o = outcome(log, EXIT0);
        assert_eq!(boot_verdict(&o).status, Status::Pass);
        let banner = o.events.iter().find_map(|e| match &e.kind {
            EventKind::Banner { version, compiler } => Some((version.clone(), compiler.clone())),
            _ => None,
        });
        let (version, compiler) = banner.expect("arm64 banner");
        assert_eq!(version, "6.12.117");
        assert!(compiler.contains("clang version 19"), "{compiler}");
        assert!(o.events.iter().any(|e| matches!(&e.kind, EventKind::CommandLine { text } if text.contains("console=ttyAMA0"))));
        assert!(
            o.events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::InitcallStart { .. }))
                .count()
                > 100
        );
    }

    #[test]
    fn real_cfi_trap_log_fails_naming_the_cfi_line() {
        let log = include_str!("../tests/fixtures/console/x86_64-tiny-full-cfi-lkdtm.log");
        let v = boot_verdict(&outcome(log, EXIT0));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.message,
            "the kernel reported a failure: console line 440: CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] \
             (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)"
        );
        assert_eq!(
            v.details[1],
            "console line 441: Oops: invalid opcode: 0000 [#1]"
        );
    }

    #[test]
    fn real_arm64_cfi_trap_fails_with_cfi_and_oops() {
        let log = include_str!("../tests/fixtures/console/arm64-tiny-full-cfi-lkdtm.log");
        let o = outcome(log, EXIT0);
        let v = boot_verdict(&o);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.message
                .contains("console line 499: CFI failure at lkdtm_indirect_call"),
            "{}",
            v.message
        );
        let cfi = o.events.iter().find_map(|e| match &e.kind {
            EventKind::CfiFailure {
                target,
                expected_type,
                ..
            } => Some((target.clone(), expected_type.clone())),
            _ => None,
        });
        assert_eq!(
            cfi,
            Some((
                Some("lkdtm_increment_int".into()),
                Some("0x7e0c52a5".into())
            ))
        );
        assert!(o
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Oops { text } if text.contains("Oops - CFI"))));
    }

    #[test]
    fn oops_warning_bug_and_cfi_fail() {
        for bad in [
            "[ 1.0] Oops: invalid opcode: 0000 [#1] PREEMPT SMP",
            "[ 1.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 f+0x1/0x2",
            "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "[ 1.0] CFI failure at f+0x16/0x20 (target: g+0x0/0x8; expected type: 0x7e0c52a5)",
        ] {
            let v = boot_verdict(&outcome(&format!("{OK}{bad}\n"), EXIT0));
            assert_eq!(v.status, Status::Fail, "{bad}");
        }
    }

    #[test]
    fn missing_end_marker_fails_and_missing_init_is_named() {
        let v = boot_verdict(&outcome("[ 0.0] Linux version 6.12 (a) (b) #1\n[ 0.5] Run /init as init process\n@@LTOH BEGIN c\n", EXIT0));
        assert_eq!(v.status, Status::Fail);
        assert!(v.message.contains("end marker"));
        let v = boot_verdict(&outcome("[ 0.0] Linux version 6.12 (a) (b) #1\n", EXIT0));
        assert_eq!(v.status, Status::Fail);
        assert!(v.message.contains("never ran /init"), "{}", v.message);
    }

    #[test]
    fn timeouts_and_qemu_errors_are_incomplete() {
        let v = boot_verdict(&outcome("", BootEnd::TimedOut { after_seconds: 3 }));
        assert_eq!(v.status, Status::Incomplete);
        assert!(v.message.contains("no console output"));
        let v = boot_verdict(&outcome(
            "[ 0.0] Linux version 6.12 (a) (b) #1\n",
            BootEnd::TimedOut { after_seconds: 3 },
        ));
        assert_eq!(v.status, Status::Incomplete);
        assert_eq!(
            boot_verdict(&outcome("", BootEnd::Exited { code: Some(1) })).status,
            Status::Incomplete
        );
        assert_eq!(
            boot_verdict(&outcome(
                OK,
                BootEnd::SpawnFailed {
                    error: "nope".into()
                }
            ))
            .status,
            Status::Incomplete
        );
    }

    fn mod_case() -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: none\ncfi: off\nmodules: [test_module]\nchecks: [modules]\n",
        )
        .unwrap()
    }

    #[test]
    fn modules_pass_only_with_every_step() {
        let steps = ["insmod", "listed", "rmmod", "unlisted"]
            .map(|s| format!("@@LTOH RESULT {s}-test_module rc=0\n"))
            .concat();
        let o = outcome(&format!("{OK}{steps}"), EXIT0);
        let checks = judge(&mod_case(), &o);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].status, Status::Pass, "{:?}", checks[1]);
    }

    #[test]
    fn failed_insmod_carries_the_kernel_error_line() {
        let log = format!(
            "{OK}[ 1.0] test_module: version magic '6.12.117 SMP mod_unload ' should be '6.12.117 mod_unload '\n\
             insmod: can't insert '/lib/modules/test_module.ko': Invalid module format\n\
             @@LTOH RESULT insmod-test_module rc=1\n"
        );
        let c = modules_check(
            &mod_case(),
            &outcome(&log, EXIT0).events,
            &CheckResult::new("boot", Status::Pass, ""),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("insmod failed"), "{}", c.message);
        assert!(c.message.contains("version magic"), "{}", c.message);
    }

    #[test]
    fn modules_check_without_steps_follows_the_boot() {
        let o = outcome(OK, EXIT0);
        let c = modules_check(
            &mod_case(),
            &o.events,
            &CheckResult::new("boot", Status::Pass, ""),
        );
        assert_eq!(c.status, Status::Fail);
        let c = modules_check(
            &mod_case(),
            &o.events,
            &CheckResult::new("boot", Status::Incomplete, ""),
        );
        assert_eq!(c.status, Status::Incomplete);
    }

    #[test]
    fn worst_status_orders_fail_over_incomplete_over_pass() {
        assert_eq!(
            Status::worst([Status::Pass, Status::Incomplete]),
            Status::Incomplete
        );
        assert_eq!(
            Status::worst([Status::Incomplete, Status::Fail, Status::Pass]),
            Status::Fail
        );
        assert_eq!(
            Status::worst([Status::Pass, Status::Skipped]),
            Status::Skipped
        );
    }
}
