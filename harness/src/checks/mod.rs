//! Checks: turn what a kernel is and what it did into verdicts, one
//! [`CheckResult`] per check, in a fixed order: `boot`, then for each check
//! the case asks for its static half (read from the build's files, no boot
//! needed) and its runtime half (read from the boot console):
//!
//! * [`initcalls`]: `initcalls.static`, `initcalls.boot`, judged against
//!   the case's [`golden`] file, with the boot's order from [`boot_order`];
//!   [`initcall_script`]: `initcalls.script`, the LTO ordering script
//!   against link order and vmlinux's tables, no golden needed;
//! * [`cfi`]: `cfi.static`, `cfi.<lkdtm test>` per CFI test;
//! * [`modules`]: `modules.static`, `modules.runtime`;
//! * [`islands`]: `islands.static`, the non-LTO objects are ELF;
//!   `islands.EXEC_RODATA` ([`lkdtm`]);
//! * [`lto_identity`]: `lto_identity.static`, `.boot`: the LTO notes,
//!   `.llvm.` names, modules' LTO and kCFI state;
//! * [`module_sections`]: `module_sections.static`, `.boot`;
//! * [`modversions`]: `modversions.static`, `.boot` (a flipped CRC refused);
//! * [`ftrace`]: `ftrace.static`, `.boot`;
//! * [`orc`]: `orc.static`, `.boot` (x86);
//! * [`vdso`]: `vdso.static`, `.boot` (a guest program calls clock_gettime);
//! * `stack_protector.REPORT_STACK_CANARY` ([`lkdtm`]);
//! * [`hygiene`]: `hygiene.build`, judged after the run (LTO-only warnings);
//! * [`kunit`]: `kunit.<suite>.<test>`, each test of the KUnit suites the
//!   case names, from the KTAP they print at boot (`kunit.<suite>` for one
//!   that never ran).
//!
//! The mechanism checks read [`mechanism_facts`].
//!
//! The boot verdict is always judged. Statuses:
//!
//! * `pass`: the thing worked;
//! * `fail`: the kernel did something wrong (panic, Oops, BUG, WARNING,
//!   CFI failure outside an lkdtm probe, init never ran or never finished,
//!   a module did not load, an initcall out of place);
//! * `incomplete`: the harness or the machine failed (QEMU missing or
//!   crashed, timeout), so nothing can be said about the kernel.

pub mod boot;
pub mod boot_order;
pub mod capture;
pub mod cfi;
pub mod console_view;
pub mod facts;
pub mod ftrace;
pub mod golden;
pub mod hygiene;
pub mod initcall_script;
pub mod initcalls;
pub mod islands;
pub mod kunit;
pub mod lkdtm;
pub mod lto_identity;
pub mod mechanism_facts;
pub mod module_sections;
pub mod modules;
pub mod modversions;
pub mod orc;
pub mod registry;
pub mod stack_protector;
pub mod vdso;

pub use boot::{boot_verdict, console_verdict, describe, log_verdict, probe_windows};
pub use console_view::{Console, Step};
pub use facts::KernelFacts;

use crate::case::{Case, CheckKind};
use crate::model::{CheckResult, Status};
use crate::stages::boot::BootOutcome;
use golden::Golden;

pub use stack_protector::STACK_CANARY;

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

/// A check's verdict from what it found. The kernel's problems fail it
/// (each one listed, then the facts that could not be read); with none, a
/// fact the harness could not read leaves it `incomplete`: a read error is
/// never the kernel's failure. Else it passes with `pass`.
pub fn verdict(
    name: &str,
    problems: Vec<String>,
    unread: Vec<String>,
    pass: String,
) -> CheckResult {
    if let Some(first) = problems.first().cloned() {
        let all = problems
            .into_iter()
            .chain(unread.into_iter().map(|u| format!("not read: {u}")))
            .collect();
        CheckResult::new(name, Status::Fail, first).with(all)
    } else if let Some(first) = unread.first().cloned() {
        CheckResult::new(
            name,
            Status::Incomplete,
            format!("could not read what the check needs: {first}"),
        )
        .with(unread)
    } else {
        CheckResult::new(name, Status::Pass, pass)
    }
}

/// A check that cannot start: the fact it needs first could not be read
/// (`incomplete`), or never came with the kernel (`skip`).
pub fn not_read(name: &str, what: &str, e: &facts::Unread) -> CheckResult {
    if e.absent {
        CheckResult::new(name, Status::Skipped, format!("no {what}: {e}"))
    } else {
        CheckResult::new(
            name,
            Status::Incomplete,
            format!("could not read {what}: {e}"),
        )
    }
}

/// What the checks compare with, besides the case.
pub struct Expectations<'a> {
    /// The case's initcall golden (None: not loaded, e.g. about to be blessed).
    pub golden: Option<&'a Golden>,
    /// Why there is no golden for this kernel's series (the initcall
    /// checks then skip with it).
    pub golden_absent: Option<&'a str>,
    pub lkdtm: &'a cfi::LkdtmExpectations,
    /// The kernel's source tree, when known: what its sources declare
    /// (`__nocfi` functions, whose indirect calls kCFI leaves unchecked).
    pub tree: Option<&'a std::path::Path>,
}

/// What one family's `judge` reads: the case, its kernel's facts, the
/// expectations, the boot's console and its verdict.
pub struct Judging<'a> {
    pub case: &'a Case,
    pub facts: Option<&'a KernelFacts>,
    pub expect: &'a Expectations<'a>,
    pub console: Option<&'a Console<'a>>,
    pub boot: &'a CheckResult,
}

impl Judging<'_> {
    /// A static half: judged by `f` from the kernel's files, skipped with
    /// the reason when there are none; marked static.
    pub fn static_half(&self, name: &str, f: impl Fn(&KernelFacts) -> CheckResult) -> CheckResult {
        match self.facts {
            Some(KernelFacts {
                absent: Some(why), ..
            }) => CheckResult::new(name, Status::Skipped, why.clone()),
            Some(facts) => f(facts),
            None => CheckResult::new(name, Status::Skipped, "no kernel to inspect"),
        }
        .from_static()
    }

    /// A boot check that needs the kernel's facts: judged by `f`, else
    /// unobserved (there was no kernel).
    pub fn with_facts(&self, name: &str, f: impl Fn(&KernelFacts) -> CheckResult) -> CheckResult {
        match self.facts {
            Some(facts) => f(facts),
            None => unobserved(name, "a kernel", self.boot),
        }
    }
}

/// Every check the case asks for, in order: `boot` first, then each
/// family's checks as its entry in the [`registry`] judges them (static
/// half, then boot half). `outcome` is None when there was no boot
/// (`boot` then says why).
pub fn judge(
    case: &Case,
    facts: Option<&KernelFacts>,
    expect: &Expectations,
    outcome: Option<&BootOutcome>,
    boot: CheckResult,
) -> Vec<CheckResult> {
    let console = outcome.map(Console::read);
    let j = Judging {
        case,
        facts,
        expect,
        console: console.as_ref(),
        boot: &boot,
    };
    let mut out = vec![boot.clone()];
    for kind in &case.checks {
        out.extend((registry::family(*kind).judge)(&j));
    }
    for (kind, why) in &case.not_judged {
        out.extend(
            check_names(case, *kind, expect)
                .into_iter()
                .map(|name| CheckResult::new(&name, Status::Skipped, why.clone())),
        );
    }
    out
}

/// The names of the checks one kind gives on `case` (`cfi.static` and
/// one per lkdtm CFI test, …): what [`judge`] names them when there is
/// nothing to judge.
fn check_names(case: &Case, kind: CheckKind, expect: &Expectations) -> Vec<String> {
    if kind == CheckKind::Hygiene {
        return vec![hygiene::BUILD.to_owned()];
    }
    let only = Case {
        checks: vec![kind],
        not_judged: vec![],
        ..case.clone()
    };
    let boot = CheckResult::new("boot", Status::Skipped, "");
    judge(&only, None, expect, None, boot)
        .into_iter()
        .skip(1)
        .map(|c| c.name)
        .collect()
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
    use crate::console::EventKind;
    use crate::model::results::BootEnd;
    use std::collections::BTreeMap;
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
    fn a_fact_not_read_is_incomplete_or_skipped_never_failed() {
        use facts::Unread;
        let e = Unread::failed("vmlinux: not an ELF file");
        assert_eq!(
            not_read("x.static", "vmlinux", &e).status,
            Status::Incomplete
        );
        let e = Unread::absent(facts::NO_CONFIG);
        let r = not_read("x.static", ".config", &e);
        assert_eq!(r.status, Status::Skipped);
        assert!(r.message.contains("no .config was given"), "{}", r.message);
        let v = |p: &[&str], u: &[&str]| {
            verdict(
                "x",
                p.iter().map(|s| s.to_string()).collect(),
                u.iter().map(|s| s.to_string()).collect(),
                "fine".into(),
            )
            .status
        };
        assert_eq!(v(&[], &[]), Status::Pass);
        assert_eq!(v(&[], &["a.ko: gone"]), Status::Incomplete);
        assert_eq!(v(&["bad"], &["a.ko: gone"]), Status::Fail);
    }

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
        [ 2.0] lkdtm: Calling matched prototype ...\n\
        [ 2.0] lkdtm: Calling mismatched prototype ...\n\
        [ 2.0] CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)\n\
        [ 2.0] Oops: invalid opcode: 0000 [#1]\n\
        [ 2.0] Call Trace:\n";
    const SURVIVED: &str = "[ 2.0] lkdtm: Performing direct entry CFI_FORWARD_PROTO\n\
        [ 2.0] lkdtm: Calling matched prototype ...\n\
        [ 2.0] lkdtm: Calling mismatched prototype ...\n\
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
            ..KernelFacts::empty()
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
        // A check that does not apply (its config is off) does not stop
        // the others passing; only nothing but skips is a skip.
        assert_eq!(Status::worst([Status::Pass, Status::Skipped]), Status::Pass);
        assert_eq!(
            Status::worst([Status::Skipped, Status::Skipped]),
            Status::Skipped
        );
        assert_eq!(Status::worst([]), Status::Skipped);
    }
}
