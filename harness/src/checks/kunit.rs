//! `kunit.<suite>.<test>`: the KUnit suites a case names under `kunit:`
//! (suite → the Kconfig symbol that builds it). The case's config gets
//! `CONFIG_KUNIT=y` and each symbol `=y` (merged and verified with the
//! rest), so the suites are built in and the kernel runs them at boot,
//! after the initcalls and before `/init`, printing KTAP on the console.
//! That KTAP is read with [`crate::console::ktap`]; each test of a named
//! suite is one check `kunit.<suite>.<test>`: ok a pass, not ok a fail
//! with its diagnostics, SKIP skipped with its reason, XFAIL and TODO a
//! pass saying so, TIMEOUT and ERROR a fail, a test the suite's plan
//! promised that never came a fail (the suite crashed or the log was cut
//! short). A suite that printed a result of its own and no tests is one
//! check `kunit.<suite>`.
//!
//! A named suite with no KTAP on the console is one failing check
//! `kunit.<suite>` saying it never ran, which symbol builds it and what
//! .config says of it (a kernel built elsewhere may lack it), and which
//! suites did run (a misspelt name shows there). KUnit runs before
//! `/init`, so that is certain once the console shows `Run /init` or the
//! boot passed; otherwise (the kernel stopped before or during KUnit) the
//! check follows the boot's fate, as every runtime check does
//! ([`super::unobserved`]): a panic is a fail, a timeout incomplete, no
//! boot at all (the build failed) skipped with the reason. Suites that
//! ran but are not named are not judged; a suite printed twice is judged
//! by its first appearance.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::console::ktap::{self, Suite};
use crate::console::EventKind;
use crate::model::{CheckResult, Status};

/// The check of a whole suite: `kunit.<suite>` (as [`ktap::checks`]
/// names a suite without tests).
pub fn suite_check(suite: &str) -> String {
    format!("kunit.{suite}")
}

/// The checks of every suite the case names, in the order of their names.
pub fn boot_checks(
    case: &Case,
    facts: Option<&KernelFacts>,
    console: Option<&Console>,
    boot: &CheckResult,
) -> Vec<CheckResult> {
    let Some(console) = console else {
        return case
            .kunit
            .iter()
            .map(|(suite, symbol)| {
                unobserved(
                    &suite_check(suite),
                    &format!("KUnit suite `{suite}` (built by {symbol})"),
                    boot,
                )
            })
            .collect();
    };
    let suites = ktap::parse(&console.lines);
    let mut out = Vec::new();
    for (name, symbol) in &case.kunit {
        match suites.iter().find(|s| &s.name == name) {
            Some(s) => out.extend(ktap::checks(std::slice::from_ref(s))),
            None => out.push(never_ran(name, symbol, &suites, facts, console, boot)),
        }
    }
    out
}

/// A named suite without KTAP: a fail when KUnit's turn came and went
/// (the kernel ran `/init`, or the boot passed), else the boot's fate.
fn never_ran(
    name: &str,
    symbol: &str,
    suites: &[Suite],
    facts: Option<&KernelFacts>,
    console: &Console,
    boot: &CheckResult,
) -> CheckResult {
    let check = suite_check(name);
    let reached_init = console
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::RunInit { .. }));
    let kunit_ran = reached_init || boot.status == Status::Pass;
    let mut details = Vec::new();
    let config = |sym: &str| match facts.and_then(|f| f.config_is_y(sym)) {
        Some(true) => Some(format!("{sym}=y in .config")),
        Some(false) => Some(format!("{sym} is not =y in .config")),
        None => None,
    };
    details.extend(config(crate::case::KUNIT_SYMBOL));
    details.extend(config(symbol));
    if suites.is_empty() {
        details.push("no KTAP on the console: no KUnit suite ran".to_owned());
    } else {
        let ran: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
        details.push(format!("suites that ran: {}", ran.join(", ")));
    }
    if !kunit_ran {
        let r = unobserved(
            &check,
            &format!("KUnit suite `{name}` (built by {symbol})"),
            boot,
        );
        return r.with(details);
    }
    CheckResult::new(
        &check,
        Status::Fail,
        format!(
            "never ran: no KTAP from suite `{name}` on the console ({symbol} builds it{})",
            match facts.and_then(|f| f.config_is_y(symbol)) {
                Some(true) => ", and .config has it =y",
                Some(false) => ", and .config does not have it =y",
                None => "",
            }
        ),
    )
    .with(details)
}

/// The family's checks: `kunit.<suite>.<test>` for each test of each
/// suite the case names.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    boot_checks(j.case, j.facts, j.console, j.boot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::parse_log;
    use crate::model::results::BootEnd;
    use crate::stages::boot::BootOutcome;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/console");

    fn fixture(name: &str) -> String {
        let p = Path::new(FIXTURES).join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// A case naming `suites` (suite: symbol).
    fn case(suites: &[(&str, &str)]) -> Case {
        let kunit: String = suites
            .iter()
            .map(|(s, sym)| format!("  {s}: {sym}\n"))
            .collect();
        Case::parse(
            Path::new("/x/c.yaml"),
            &format!("arch: x86_64\nlto: full\ncfi: on\nchecks: [kunit]\nkunit:\n{kunit}"),
        )
        .unwrap()
    }

    /// A boot whose console log is on disk (the checks read it back).
    fn saved(log: &str) -> (tempfile::TempDir, BootOutcome) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        std::fs::write(&path, log).unwrap();
        let o = BootOutcome {
            end: BootEnd::Exited { code: Some(0) },
            lines: log.lines().count(),
            last_line: log.lines().last().map(String::from),
            events: parse_log(log.as_bytes()),
            seconds: 1.0,
            log: path,
            stderr_log: PathBuf::from("/nonexistent"),
        };
        (dir, o)
    }

    fn judge(
        case: &Case,
        facts: Option<&KernelFacts>,
        log: &str,
        boot: Status,
    ) -> Vec<CheckResult> {
        let (_d, o) = saved(log);
        let console = Console::read(&o);
        boot_checks(
            case,
            facts,
            Some(&console),
            &CheckResult::new("boot", boot, "booted"),
        )
    }

    fn names(c: &[CheckResult]) -> Vec<(&str, Status)> {
        c.iter().map(|c| (c.name.as_str(), c.status)).collect()
    }

    fn shipped() -> Case {
        Case::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases/x86_64-lto-full-cfi-kunit.yaml"),
        )
        .unwrap()
    }

    fn facts_with(config: &[(&str, &str)]) -> KernelFacts {
        let config: BTreeMap<String, String> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KernelFacts {
            config: Ok(config),
            ..KernelFacts::empty()
        }
    }

    /// The shipped case's four suites, in Linux 6.12's layout (a boot of
    /// the kind the case makes): one check per test, all passing, in the
    /// order of the suites' names.
    #[test]
    fn the_shipped_suites_on_a_6_12_console_pass_test_by_test() {
        let log = fixture("kunit-boot/x86_64-lto-full-cfi-kunit.log");
        let c = judge(&shipped(), None, &log, Status::Pass);
        assert_eq!(
            names(&c),
            [
                ("kunit.bitfields.test_bitfields_constants", Status::Pass),
                ("kunit.bitfields.test_bitfields_variables", Status::Pass),
                ("kunit.hash.test_string_or", Status::Pass),
                ("kunit.hash.test_hash_or", Status::Pass),
                ("kunit.lib_sort.test_sort", Status::Pass),
                ("kunit.list_sort.list_sort_test", Status::Pass),
            ]
        );
    }

    /// The same case on a real kernel whose list_sort() was made unstable
    /// (the mutant kunit-list-sort-unstable): list_sort_test fails, with
    /// KUnit's assertion as the message and its lines as evidence; the
    /// other suites still pass.
    #[test]
    fn a_real_kernel_with_an_unstable_list_sort_fails_its_test() {
        let log = fixture("kunit-boot/x86_64-lto-full-cfi-kunit-list-sort-unstable.log");
        let c = judge(&shipped(), None, &log, Status::Pass);
        let bad: Vec<&CheckResult> = c.iter().filter(|c| c.status != Status::Pass).collect();
        assert_eq!(bad.len(), 1, "{:?}", names(&c));
        assert_eq!(bad[0].name, "kunit.list_sort.list_sort_test");
        assert_eq!(bad[0].status, Status::Fail);
        assert_eq!(
            bad[0].message,
            "not ok: ASSERTION FAILED at lib/test_list_sort.c:98"
        );
        assert!(
            bad[0]
                .details
                .iter()
                .any(|d| d == "order of equivalent elements not preserved"),
            "{:?}",
            bad[0].details
        );
        assert_eq!(c.len(), 6);
    }

    /// Dispatched by [`crate::checks::judge`] for a case asking for
    /// `kunit` (after `boot`, which the KTAP lines do not trouble), and
    /// listed by name when the kernel cannot be judged.
    #[test]
    fn judge_runs_the_kunit_check_after_a_passing_boot() {
        let (_d, o) = saved(&fixture("kunit-boot/x86_64-lto-full-cfi-kunit.log"));
        let boot = crate::checks::boot_verdict(&o);
        assert_eq!(boot.status, Status::Pass, "{boot:?}");
        let case = Case {
            checks: vec![crate::case::CheckKind::Boot, crate::case::CheckKind::Kunit],
            ..shipped()
        };
        let lkdtm = crate::checks::cfi::LkdtmExpectations::load(None);
        let expect = crate::checks::Expectations {
            golden: None,
            golden_absent: None,
            lkdtm: &lkdtm,
            tree: None,
        };
        let all = crate::checks::judge(&case, None, &expect, Some(&o), boot);
        assert_eq!(all.len(), 1 + 6);
        assert!(all.iter().all(|c| c.status == Status::Pass), "{all:?}");
        assert_eq!(all[1].name, "kunit.bitfields.test_bitfields_constants");
        let unbuilt = CheckResult::new("boot", Status::Skipped, "not built");
        let none = crate::checks::judge(&case, None, &expect, None, unbuilt);
        assert_eq!(
            names(&none[1..]),
            [
                ("kunit.bitfields", Status::Skipped),
                ("kunit.hash", Status::Skipped),
                ("kunit.lib_sort", Status::Skipped),
                ("kunit.list_sort", Status::Skipped),
            ]
        );
    }

    /// Named suites that ran give their tests' checks; a suite that ran
    /// unnamed is not judged (kunit_tool's log: sysctl_test and example).
    #[test]
    fn only_the_named_suites_are_judged() {
        let log = fixture("ktap/test_is_test_passed-all_passed.log");
        let c = judge(
            &case(&[("example", "CONFIG_KUNIT_EXAMPLE_TEST")]),
            None,
            &log,
            Status::Pass,
        );
        assert_eq!(
            names(&c),
            [
                ("kunit.example.example_simple_test", Status::Pass),
                ("kunit.example.example_mock_test", Status::Pass),
            ]
        );
        let c = judge(
            &case(&[("sysctl_test", "CONFIG_SYSCTL_KUNIT_TEST")]),
            None,
            &log,
            Status::Pass,
        );
        assert_eq!(c.len(), 8);
        assert!(c
            .iter()
            .all(|c| c.name.starts_with("kunit.sysctl_test.") && c.status == Status::Pass));
    }

    /// A named suite that never printed is one failing `kunit.<suite>`
    /// naming its symbol, what .config says and the suites that ran.
    #[test]
    fn a_named_suite_that_never_ran_fails_naming_its_symbol() {
        let log = fixture("kunit-boot/x86_64-lto-full-cfi-kunit.log");
        let c = judge(
            &case(&[
                ("list_sort", "CONFIG_TEST_LIST_SORT"),
                ("lib_sortt", "CONFIG_TEST_SORT"),
            ]),
            Some(&facts_with(&[
                ("CONFIG_KUNIT", "y"),
                ("CONFIG_TEST_SORT", "y"),
            ])),
            &log,
            Status::Pass,
        );
        assert_eq!(
            names(&c),
            [
                ("kunit.lib_sortt", Status::Fail),
                ("kunit.list_sort.list_sort_test", Status::Pass)
            ]
        );
        assert_eq!(
            c[0].message,
            "never ran: no KTAP from suite `lib_sortt` on the console \
             (CONFIG_TEST_SORT builds it, and .config has it =y)"
        );
        assert_eq!(
            c[0].details,
            [
                "CONFIG_KUNIT=y in .config",
                "CONFIG_TEST_SORT=y in .config",
                "suites that ran: hash, list_sort, lib_sort, bitfields"
            ]
        );
        // A kernel (built elsewhere) without the symbol says so.
        let c = judge(
            &case(&[("lib_sort", "CONFIG_TEST_SORT")]),
            Some(&facts_with(&[("CONFIG_KUNIT", "y")])),
            "[    0.5] Run /init as init process\n",
            Status::Pass,
        );
        assert_eq!(c[0].status, Status::Fail);
        assert!(
            c[0].message
                .ends_with("(CONFIG_TEST_SORT builds it, and .config does not have it =y)"),
            "{}",
            c[0].message
        );
        assert!(
            c[0].details
                .contains(&"no KTAP on the console: no KUnit suite ran".to_owned()),
            "{:?}",
            c[0].details
        );
    }

    /// A failing test fails with its diagnostics (kunit_tool's log: the
    /// example suite's EXPECTATION FAILED).
    #[test]
    fn a_failing_test_fails_with_its_diagnostic() {
        let log = fixture("ktap/test_is_test_passed-failure.log");
        let c = judge(
            &case(&[
                ("example", "CONFIG_KUNIT_EXAMPLE_TEST"),
                ("sysctl_test", "CONFIG_SYSCTL_KUNIT_TEST"),
            ]),
            None,
            &log,
            Status::Pass,
        );
        assert_eq!(c.len(), 2 + 8);
        let failed: Vec<&CheckResult> = c.iter().filter(|c| c.status == Status::Fail).collect();
        assert_eq!(failed.len(), 1, "{:?}", names(&c));
        assert_eq!(failed[0].name, "kunit.example.example_simple_test");
        assert_eq!(
            failed[0].message,
            "not ok: EXPECTATION FAILED at lib/kunit/example-test.c:30"
        );
        assert!(
            failed[0]
                .details
                .iter()
                .any(|d| d.contains("EXPECTATION FAILED at lib/kunit/example-test.c:30")),
            "{:?}",
            failed[0].details
        );
        assert!(
            failed[0].details.iter().any(|d| d == "console line 32"),
            "{:?}",
            failed[0].details
        );
    }

    /// A skipped test is skipped with its reason, the rest of its suite judged.
    #[test]
    fn a_skipped_test_is_skipped() {
        let log = fixture("ktap/test_skip_tests.log");
        let c = judge(
            &case(&[("example", "CONFIG_KUNIT_EXAMPLE_TEST")]),
            None,
            &log,
            Status::Pass,
        );
        assert_eq!(
            names(&c),
            [
                ("kunit.example.example_simple_test", Status::Pass),
                ("kunit.example.example_skip_test", Status::Skipped),
            ]
        );
        assert_eq!(c[1].message, "skipped: this test should be skipped");
    }

    /// A panic inside a suite: the tests it never reached fail as missing
    /// (kunit_tool's log); a suite after it never ran, and the kernel
    /// never reached /init: it shares the boot's fate (a panic: fail).
    #[test]
    fn a_panic_cuts_a_suite_short() {
        let log = fixture("ktap/test_kernel_panic_interrupt.log");
        let boot = Status::Fail;
        let c = judge(
            &case(&[
                ("string-stream-test", "CONFIG_KUNIT_TEST"),
                ("zzz", "CONFIG_ZZZ"),
            ]),
            None,
            &log,
            boot,
        );
        assert_eq!(
            names(&c),
            [
                (
                    "kunit.string-stream-test.string_stream_test_empty_on_creation",
                    Status::Pass
                ),
                ("kunit.string-stream-test.missing_2", Status::Fail),
                ("kunit.string-stream-test.missing_3", Status::Fail),
                ("kunit.zzz", Status::Fail),
            ]
        );
    }

    /// Before KUnit's turn (no /init, no suite), a missing suite follows
    /// the boot: a timeout is incomplete, not the suite's fault.
    #[test]
    fn a_boot_that_stopped_before_kunit_decides_a_missing_suite() {
        let log = "[    0.000000] Linux version 6.12.117 (r@h) (clang 19) #1\n[    0.1] calling  foo+0x0/0x8 @ 1\n";
        let c = judge(
            &case(&[("hash", "CONFIG_HASH_KUNIT_TEST")]),
            None,
            log,
            Status::Incomplete,
        );
        assert_eq!(names(&c), [("kunit.hash", Status::Incomplete)]);
        assert!(
            c[0].message.contains("CONFIG_HASH_KUNIT_TEST"),
            "{}",
            c[0].message
        );
    }

    /// No boot at all (the build failed): each named suite skipped, with why.
    #[test]
    fn without_a_boot_each_suite_is_skipped_with_the_reason() {
        let boot = CheckResult::new(
            "boot",
            Status::Skipped,
            "the build did not produce a kernel",
        );
        let c = boot_checks(&shipped(), None, None, &boot);
        assert_eq!(
            names(&c),
            [
                ("kunit.bitfields", Status::Skipped),
                ("kunit.hash", Status::Skipped),
                ("kunit.lib_sort", Status::Skipped),
                ("kunit.list_sort", Status::Skipped),
            ]
        );
        assert!(
            c[2].message.contains("CONFIG_TEST_SORT")
                && c[2].message.contains("the build did not produce a kernel"),
            "{}",
            c[2].message
        );
    }

    /// The case's KUnit symbols reach the inline fragment the config
    /// stage merges and verifies; the cases without `kunit:` keep their
    /// fragment (and so their config and build keys) exactly.
    #[test]
    fn the_kunit_symbols_are_merged_and_other_cases_keep_their_fragment() {
        use crate::stages::config::inline_fragment;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let load = |n: &str| Case::load(&dir.join(format!("{n}.yaml"))).unwrap();
        let header = "# lto-harness: inline config from the case file\n";
        assert_eq!(inline_fragment(&load("x86_64-lto-full-cfi")), header);
        let arm64 = format!("{header}CONFIG_ARM64_PTR_AUTH=y\nCONFIG_ARM64_PTR_AUTH_KERNEL=y\n");
        assert_eq!(inline_fragment(&load("arm64-lto-full-cfi")), arm64);
        let kunit = "CONFIG_BITFIELD_KUNIT=y\nCONFIG_HASH_KUNIT_TEST=y\nCONFIG_KUNIT=y\n\
                     CONFIG_TEST_LIST_SORT=y\nCONFIG_TEST_SORT=y\n";
        assert_eq!(
            inline_fragment(&load("x86_64-lto-full-cfi-kunit")),
            format!("{header}{kunit}")
        );
        assert_eq!(
            inline_fragment(&load("arm64-lto-full-cfi-kunit")),
            format!("{header}CONFIG_ARM64_PTR_AUTH=y\nCONFIG_ARM64_PTR_AUTH_KERNEL=y\n{kunit}")
        );
        for c in crate::case::load_dir(&dir).unwrap() {
            let wanted = crate::stages::config::parse_config(&inline_fragment(&c));
            assert_eq!(
                wanted.contains_key("CONFIG_KUNIT"),
                !c.kunit.is_empty(),
                "{}",
                c.name
            );
        }
        // Verified like any requested symbol: one Kconfig dropped is named.
        let requested = crate::stages::config::parse_config(&inline_fragment(&shipped()));
        let dropped = crate::stages::config::verify(
            &requested,
            "CONFIG_KUNIT=y\nCONFIG_BITFIELD_KUNIT=y\nCONFIG_HASH_KUNIT_TEST=y\nCONFIG_TEST_SORT=y\n",
        );
        assert_eq!(dropped.len(), 1);
        assert_eq!(
            dropped[0].to_string(),
            "CONFIG_TEST_LIST_SORT requested y but is missing"
        );
    }
}
