//! Checks: turn what a kernel is and what it did into verdicts, one
//! [`CheckResult`] per check, in a fixed order: `boot`, then for each check
//! the case asks for its static half (read from the build's files, no boot
//! needed) and its runtime half (read from the boot console):
//!
//! * [`initcalls`]: `initcalls.static`, `initcalls.boot`, judged against
//!   the case's [`golden`] file, with the boot's order from [`boot_order`];
//! * [`cfi`]: `cfi.static`, `cfi.<lkdtm test>` per CFI test;
//! * [`modules`]: `modules.static`, `modules.runtime`.
//!
//! The boot verdict is always judged. Statuses:
//!
//! * `pass`: the thing worked;
//! * `fail`: the kernel did something wrong (panic, Oops, BUG, WARNING,
//!   CFI failure outside an lkdtm probe, init never ran or never finished,
//!   a module did not load, an initcall out of place);
//! * `incomplete`: the harness or the machine failed (QEMU missing or
//!   crashed, timeout), so nothing can be said about the kernel.

pub mod boot_order;
pub mod cfi;
pub mod golden;
pub mod initcalls;
pub mod modules;

use crate::case::{Case, CheckKind};
use crate::console::{Event, EventKind};
use crate::elf;
use crate::elf::initcalls::{static_order_from_bytes, Initcall};
use crate::elf::kcfi::{self, KcfiCount};
use crate::elf::module::{self, ModuleFacts};
use crate::guest::protocol::{cfi_probe_test, rc_arg, Marker};
use crate::model::results::BootEnd;
use crate::model::{CheckResult, Status};
use crate::stages::boot::BootOutcome;
use crate::stages::build::BuiltKernel;
use golden::Golden;
use std::collections::BTreeMap;

/// What the build's files say about the kernel, read once per case.
/// Each part that could not be read carries the reason instead.
#[derive(Debug, Clone)]
pub struct KernelFacts {
    /// The final .config.
    pub config: Result<BTreeMap<String, String>, String>,
    /// Built-in initcalls from vmlinux's tables.
    pub initcalls: Result<Vec<Initcall>, String>,
    /// The arch's kCFI markers counted in vmlinux.
    pub kcfi: Result<Vec<KcfiCount>, String>,
    pub vermagic: Result<String, String>,
    /// The modules the guest gets, with where the build put them.
    pub modules: Vec<(String, Result<ModuleFacts, String>)>,
}

impl KernelFacts {
    /// Reads .config, vmlinux and the case's modules from a build.
    pub fn gather(case: &Case, kernel: &BuiltKernel) -> KernelFacts {
        let config = std::fs::read_to_string(&kernel.config)
            .map(|t| crate::stages::config::parse_config(&t))
            .map_err(|e| format!("cannot read {}: {e}", kernel.config.display()));
        let vmlinux = elf::read(&kernel.vmlinux).map_err(|e| format!("{e:#}"));
        fn on<T>(
            vmlinux: &Result<Vec<u8>, String>,
            path: &std::path::Path,
            f: impl Fn(&[u8]) -> anyhow::Result<T>,
        ) -> Result<T, String> {
            match vmlinux {
                Ok(data) => f(data).map_err(|e| format!("{}: {e:#}", path.display())),
                Err(e) => Err(e.clone()),
            }
        }
        let path = &kernel.vmlinux;
        let initcalls = on(&vmlinux, path, static_order_from_bytes);
        let kcfi = on(&vmlinux, path, |d| {
            kcfi::kcfi_evidence(d, case.arch.profile())
        });
        let vermagic = on(&vmlinux, path, module::kernel_vermagic);
        let modules = case
            .image_modules()
            .into_iter()
            .map(|m| {
                let facts = match kernel.modules.get(&m) {
                    Some(p) => module::module_facts(p).map_err(|e| format!("{e:#}")),
                    None => Err(format!("the build has no {m}.ko")),
                };
                (m, facts)
            })
            .collect();
        KernelFacts {
            config,
            initcalls,
            kcfi,
            vermagic,
            modules,
        }
    }

    /// `Some(true)` when .config sets `sym=y`.
    pub fn config_is_y(&self, sym: &str) -> Option<bool> {
        self.config
            .as_ref()
            .ok()
            .map(|c| c.get(sym).is_some_and(|v| v == "y"))
    }
}

/// A boot's console, as lines and as events (`lines[e.line - 1]` is the
/// line of event `e`).
pub struct Console<'a> {
    pub outcome: &'a BootOutcome,
    pub lines: Vec<String>,
}

impl<'a> Console<'a> {
    /// Reads the saved console log back (events already came while booting).
    pub fn read(outcome: &'a BootOutcome) -> Console<'a> {
        let lines = std::fs::read(&outcome.log)
            .map(|b| crate::console::split_lines(&b))
            .unwrap_or_default();
        Console { outcome, lines }
    }

    pub fn events(&self) -> &[Event] {
        &self.outcome.events
    }

    /// Console line `n` (1-based).
    pub fn line(&self, n: usize) -> &str {
        n.checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .map_or("", String::as_str)
    }

    /// The console lines strictly between init step `name`'s STEP and
    /// RESULT markers, with its rc; `None` if the step never started.
    pub fn step(&self, name: &str) -> Option<Step> {
        let start = marker_line(self.events(), Marker::Step, name)?;
        let result = self.events().iter().find_map(|e| match &e.kind {
            EventKind::Marker { kind, args }
                if Marker::Result.is(kind)
                    && args.first().map(String::as_str) == Some(name)
                    && e.line > start =>
            {
                let rc = args.get(1).and_then(|a| rc_arg(a));
                Some((e.line, rc))
            }
            _ => None,
        });
        let end = result.map_or(self.lines.len() + 1, |r| r.0);
        Some(Step {
            first: start + 1,
            end,
            rc: result.and_then(|r| r.1),
            finished: result.is_some(),
        })
    }

    /// Lines `first..end` as `(number, text)`.
    pub fn window(&self, step: &Step) -> impl Iterator<Item = (usize, &str)> {
        (step.first..step.end).map(|n| (n, self.line(n)))
    }

    /// Events inside a step's window.
    pub fn events_in(&self, step: &Step) -> impl Iterator<Item = &Event> {
        let (a, b) = (step.first, step.end);
        self.events()
            .iter()
            .filter(move |e| e.line >= a && e.line < b)
    }
}

/// Where an init step's output lies on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// First console line after the STEP marker.
    pub first: usize,
    /// The RESULT marker's line (or one past the end when it never came).
    pub end: usize,
    pub rc: Option<i32>,
    pub finished: bool,
}

fn marker_line(events: &[Event], kind: Marker, name: &str) -> Option<usize> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind: k, args }
            if kind.is(k) && args.first().map(String::as_str) == Some(name) =>
        {
            Some(e.line)
        }
        _ => None,
    })
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

fn marker(events: &[Event], kind: Marker) -> Option<(&Event, &[String])> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind: k, args } if kind.is(k) => Some((e, args.as_slice())),
        _ => None,
    })
}

/// Console line ranges `[first, end)` of finished lkdtm CFI probes: an Oops
/// or CFI failure there is the probe's business (judged by [`cfi`]), not a
/// boot failure. A panic never is: a trap must kill the probe, not the kernel.
pub fn probe_windows(events: &[Event]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let EventKind::Marker { kind, args } = &e.kind else {
            continue;
        };
        let Some(name) = args.first() else { continue };
        if !Marker::Step.is(kind) || cfi_probe_test(name).is_none() {
            continue;
        }
        let end = events[i + 1..].iter().find_map(|r| match &r.kind {
            EventKind::Marker { kind, args }
                if Marker::Result.is(kind) && args.first() == Some(name) =>
            {
                Some(r.line)
            }
            _ => None,
        });
        if let Some(end) = end {
            out.push((e.line + 1, end));
        }
    }
    out
}

/// What the console alone says (for `judge LOG`, where QEMU's exit is unknown,
/// and as the core of [`boot_verdict`]).
pub fn console_verdict(events: &[Event]) -> CheckResult {
    let windows = probe_windows(events);
    let in_probe = |e: &Event| {
        !matches!(e.kind, EventKind::Panic { .. })
            && windows.iter().any(|(a, b)| e.line >= *a && e.line < *b)
    };
    let bad: Vec<&Event> = events
        .iter()
        .filter(|e| is_bad(&e.kind) && !in_probe(e))
        .collect();
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
    match (marker(events, Marker::Begin), marker(events, Marker::End)) {
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

/// A runtime check whose evidence never appeared: a fail when the boot
/// itself passed (init skipped or lost the step), else it shares the boot's
/// fate (a panic is the kernel's fault, a timeout the machine's).
pub fn unobserved(name: &str, what: &str, boot: &CheckResult) -> CheckResult {
    let status = match boot.status {
        Status::Pass => Status::Fail,
        Status::Skipped => Status::Skipped,
        s => s.max(Status::Incomplete),
    };
    CheckResult::new(
        name,
        status,
        format!("never saw {what} (boot: {}: {})", boot.status, boot.message),
    )
}

/// What the checks compare with, besides the case.
pub struct Expectations<'a> {
    /// The case's initcall golden (None: not loaded, e.g. about to be blessed).
    pub golden: Option<&'a Golden>,
    pub lkdtm: &'a cfi::LkdtmExpectations,
}

/// Every check the case asks for, in order: `boot` first, then each
/// check's static half and runtime half. `outcome` is None when there was
/// no boot (`boot` then says why).
pub fn judge(
    case: &Case,
    facts: Option<&KernelFacts>,
    expect: &Expectations,
    outcome: Option<&BootOutcome>,
    boot: CheckResult,
) -> Vec<CheckResult> {
    let console = outcome.map(Console::read);
    let console = console.as_ref();
    let mut out = vec![boot.clone()];
    // Every static half goes through here, and is marked static.
    let static_or = |name: &str, f: &dyn Fn(&KernelFacts) -> CheckResult| {
        match facts {
            Some(facts) => f(facts),
            None => CheckResult::new(name, Status::Skipped, "no kernel to inspect"),
        }
        .from_static()
    };
    for kind in &case.checks {
        match kind {
            CheckKind::Boot => {}
            CheckKind::Initcalls => {
                out.push(static_or(initcalls::STATIC, &|f| {
                    initcalls::static_check(case, f, expect.golden)
                }));
                out.push(match facts {
                    Some(f) => initcalls::boot_check(case, f, expect.golden, console, &boot),
                    None => unobserved(initcalls::BOOT, "a kernel", &boot),
                });
            }
            CheckKind::Cfi => {
                out.push(static_or(cfi::STATIC, &|f| cfi::static_check(case, f)));
                match facts {
                    Some(f) => out.extend(cfi::probe_checks(case, f, console, &boot, expect.lkdtm)),
                    None => out.extend(
                        case.arch
                            .profile()
                            .cfi_tests
                            .iter()
                            .map(|t| unobserved(&cfi::check_name(t.name), "a kernel", &boot)),
                    ),
                }
            }
            CheckKind::Modules => {
                out.push(static_or(modules::STATIC, &|f| {
                    modules::static_check(case, f)
                }));
                out.push(modules::runtime_check(case, console, &boot));
            }
        }
    }
    out
}

/// [`judge`] for a boot that happened.
pub fn judge_boot(
    case: &Case,
    facts: Option<&KernelFacts>,
    expect: &Expectations,
    outcome: &BootOutcome,
) -> Vec<CheckResult> {
    judge(case, facts, expect, Some(outcome), boot_verdict(outcome))
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
        let log = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console/x86_64-tiny-none.log"
        ));
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
        let log = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console/arm64-tiny-none.log"
        ));
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
        let log = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console/x86_64-tiny-full-cfi-lkdtm.log"
        ));
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
        let log = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console/arm64-tiny-full-cfi-lkdtm.log"
        ));
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
            "arch: x86_64\nlto: none\ncfi: off\nmodules:\n  - name: test_module\n    init_message: 'Hello, world'\n    exit_message: Goodbye\nchecks: [modules]\n",
        )
        .unwrap()
    }

    /// A boot whose console log really exists on disk (runtime checks read it back).
    fn saved(log: &str) -> (tempfile::TempDir, BootOutcome) {
        let dir = tempfile::tempdir().unwrap();
        let mut o = outcome(log, EXIT0);
        o.log = dir.path().join("console.log");
        std::fs::write(&o.log, log).unwrap();
        (dir, o)
    }

    fn step(name: &str, rc: i32, inside: &str) -> String {
        format!("@@LTOH STEP {name}\n{inside}@@LTOH RESULT {name} rc={rc}\n")
    }

    fn module_steps(insmod_says: &str, rmmod_says: &str) -> String {
        [
            step("insmod-test_module", 0, insmod_says),
            step("listed-test_module", 0, ""),
            step("rmmod-test_module", 0, rmmod_says),
            step("unlisted-test_module", 0, ""),
        ]
        .concat()
    }

    const PASSED: fn() -> CheckResult = || CheckResult::new("boot", Status::Pass, "");

    #[test]
    fn modules_pass_only_with_every_step_and_message() {
        let log = format!(
            "{OK}{}",
            module_steps(
                "[ 1.0] calling  init_module+0x0/0x1000 [test_module] @ 20\n[ 1.0] test_module: Hello, world\n[ 1.0] initcall init_module+0x0/0x1000 [test_module] returned 0 after 5 usecs\n",
                "[ 1.1] test_module: Goodbye\n"
            )
        );
        let (_d, o) = saved(&log);
        let c = modules::runtime_check(&mod_case(), Some(&Console::read(&o)), &PASSED());
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.details.iter().any(|d| d.contains("returned 0")), "{c:?}");
        // Without the exit message the same boot fails, naming it.
        let log = format!(
            "{OK}{}",
            module_steps("[ 1.0] test_module: Hello, world\n", "")
        );
        let (_d, o) = saved(&log);
        let c = modules::runtime_check(&mod_case(), Some(&Console::read(&o)), &PASSED());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message.contains("exit message `Goodbye`"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_module_init_that_returns_an_error_fails() {
        let log = format!(
            "{OK}{}",
            module_steps(
                "[ 1.0] test_module: Hello, world\n[ 1.0] initcall init_module+0x0/0x1000 [test_module] returned -12 after 5 usecs\n",
                "[ 1.1] test_module: Goodbye\n"
            )
        );
        let (_d, o) = saved(&log);
        let c = modules::runtime_check(&mod_case(), Some(&Console::read(&o)), &PASSED());
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("returned -12"), "{}", c.message);
    }

    #[test]
    fn failed_insmod_carries_the_kernel_error_line() {
        let log = format!(
            "{OK}{}",
            step(
                "insmod-test_module",
                1,
                "[ 1.0] test_module: version magic '6.12.117 SMP mod_unload ' should be '6.12.117 mod_unload '\n\
                 insmod: can't insert '/lib/modules/test_module.ko': Invalid module format\n"
            )
        );
        let (_d, o) = saved(&log);
        let c = modules::runtime_check(&mod_case(), Some(&Console::read(&o)), &PASSED());
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("insmod failed"), "{}", c.message);
        assert!(c.message.contains("version magic"), "{}", c.message);
    }

    #[test]
    fn a_module_still_listed_after_rmmod_fails_naming_the_step() {
        let log = format!(
            "{OK}{}",
            module_steps(
                "[ 1.0] test_module: Hello, world\n",
                "[ 1.1] test_module: Goodbye\n"
            )
            .replace(
                "RESULT unlisted-test_module rc=0",
                "RESULT unlisted-test_module rc=1"
            )
        );
        let (_d, o) = saved(&log);
        let c = modules::runtime_check(&mod_case(), Some(&Console::read(&o)), &PASSED());
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.message,
            "test_module: still listed in /proc/modules after rmmod (rc=1)"
        );
    }

    #[test]
    fn modules_check_without_steps_follows_the_boot() {
        let (_d, o) = saved(OK);
        let console = Console::read(&o);
        let c = modules::runtime_check(&mod_case(), Some(&console), &PASSED());
        assert_eq!(c.status, Status::Fail);
        let c = modules::runtime_check(
            &mod_case(),
            Some(&console),
            &CheckResult::new("boot", Status::Incomplete, "timed out"),
        );
        assert_eq!(c.status, Status::Incomplete);
        assert!(c.message.contains("timed out"), "{}", c.message);
    }

    const TRAP: &str = "[ 2.0] lkdtm: Performing direct entry CFI_FORWARD_PROTO\n\
        [ 2.0] lkdtm: Calling mismatched prototype ...\n\
        [ 2.0] CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)\n\
        [ 2.0] Oops: invalid opcode: 0000 [#1]\n\
        [ 2.0] Call Trace:\n";
    const SURVIVED: &str = "[ 2.0] lkdtm: Performing direct entry CFI_FORWARD_PROTO\n\
        [ 2.0] lkdtm: FAIL: survived mismatched prototype function call!\n\
        [ 2.0] lkdtm: This is probably expected, since this kernel (6.12.117 x86_64) was built *without* CONFIG_CFI_CLANG=y\n";

    fn facts(cfi: bool) -> KernelFacts {
        let mut config = BTreeMap::new();
        config.insert(
            "CONFIG_CFI_CLANG".to_string(),
            if cfi { "y" } else { "n" }.to_string(),
        );
        KernelFacts {
            config: Ok(config),
            initcalls: Err("n/a".into()),
            kcfi: Err("n/a".into()),
            vermagic: Err("n/a".into()),
            modules: vec![],
        }
    }

    fn cfi_case(extra: &str) -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            &format!("arch: x86_64\nlto: none\ncfi: off\nchecks: [cfi]\n{extra}"),
        )
        .unwrap()
    }

    fn probe(case: &Case, cfi: bool, inside: &str, rc: i32) -> CheckResult {
        let log = format!(
            "{}{}{}",
            OK.replace("@@LTOH END rc=0\n", ""),
            step("cfi-CFI_FORWARD_PROTO", rc, inside),
            "@@LTOH END rc=0\n"
        );
        let (_d, o) = saved(&log);
        // The trap inside the probe is not a boot failure.
        assert_eq!(
            boot_verdict(&o).status,
            Status::Pass,
            "{:?}",
            boot_verdict(&o)
        );
        let lkdtm = cfi::LkdtmExpectations::load(None);
        let mut r = cfi::probe_checks(
            case,
            &facts(cfi),
            Some(&Console::read(&o)),
            &PASSED(),
            &lkdtm,
        );
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    #[test]
    fn cfi_probe_verdicts_follow_the_expectation() {
        let c = cfi_case("");
        let r = probe(&c, true, TRAP, 139);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains("target: lkdtm_increment_int"),
            "{}",
            r.message
        );
        let r = probe(&c, false, SURVIVED, 0);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        // A CFI kernel that lets the call through fails.
        let r = probe(&c, true, SURVIVED, 0);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.message.contains("FAIL: survived"), "{}", r.message);
        // A kernel expected to let it through that traps fails too.
        let r = probe(&c, false, TRAP, 139);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        // The case file overrides what the config implies.
        let r = probe(
            &cfi_case("cfi_expect: {CFI_FORWARD_PROTO: trap}\n"),
            false,
            SURVIVED,
            0,
        );
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.message.contains("cfi_expect: trap"), "{}", r.message);
    }

    #[test]
    fn a_failed_lkdtm_load_fails_every_probe_with_its_lines() {
        let log = format!(
            "{}{}{}",
            OK.replace("@@LTOH END rc=0\n", ""),
            step(
                "cfi-load-lkdtm",
                1,
                "modprobe: can't load module lkdtm (kernel/drivers/misc/lkdtm/lkdtm.ko): No such file\n"
            ),
            "@@LTOH END rc=0\n"
        );
        let (_d, o) = saved(&log);
        let lkdtm = cfi::LkdtmExpectations::load(None);
        let r = cfi::probe_checks(
            &cfi_case(""),
            &facts(true),
            Some(&Console::read(&o)),
            &PASSED(),
            &lkdtm,
        );
        assert_eq!(r[0].status, Status::Fail);
        assert_eq!(
            r[0].message,
            "lkdtm did not load, so CFI_FORWARD_PROTO could not run"
        );
        assert!(
            r[0].details
                .iter()
                .any(|d| d.contains("can't load module lkdtm")),
            "{:?}",
            r[0]
        );
    }

    #[test]
    fn a_panic_inside_a_probe_still_fails_the_boot() {
        let log = format!(
            "{}@@LTOH STEP cfi-CFI_FORWARD_PROTO\n{TRAP}[ 2.1] Kernel panic - not syncing: Fatal exception\n",
            OK.replace("@@LTOH END rc=0\n", "")
        );
        let (_d, o) = saved(&log);
        let v = boot_verdict(&o);
        assert_eq!(v.status, Status::Fail);
        // An unfinished probe is not excluded at all: the CFI line is named
        // first, the panic among the evidence.
        assert!(v.message.contains("CFI failure"), "{}", v.message);
        assert!(
            v.details.iter().any(|d| d.contains("Kernel panic")),
            "{v:?}"
        );
        let lkdtm = cfi::LkdtmExpectations::load(None);
        let r = cfi::probe_checks(
            &cfi_case(""),
            &facts(true),
            Some(&Console::read(&o)),
            &v,
            &lkdtm,
        );
        assert_eq!(r[0].status, Status::Fail);
        assert!(r[0].message.contains("never returned"), "{}", r[0].message);
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
