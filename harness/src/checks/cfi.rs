//! The CFI checks. `cfi.static`: vmlinux carries kCFI instrumentation
//! exactly when the case and its .config say CFI. `cfi.<TEST>`: each of the
//! arch's lkdtm CFI tests, run by /init in a child process, must trap or
//! survive as the kernel's config (or the case's `cfi_expect`) says, judged
//! the way the kernel's own selftests judge them
//! (tools/testing/selftests/lkdtm/tests.txt).

use super::{unobserved, Console, KernelFacts, Step};
use crate::arch::LkdtmCfiTest;
use crate::case::{Case, CfiExpect};
use crate::console::{message, EventKind};
use crate::guest::protocol::{cfi_probe_step, LKDTM_LOAD_STEP};
use crate::model::{CheckResult, Status};
use std::collections::BTreeMap;
use std::path::Path;

pub const STATIC: &str = "cfi.static";

/// The check name of one lkdtm test.
pub fn check_name(test: &str) -> String {
    format!("cfi.{test}")
}

/// Where lkdtm's expectations live in a kernel tree.
pub const TESTS_TXT: &str = "tools/testing/selftests/lkdtm/tests.txt";

/// What the kernel's selftests expect of each lkdtm test on a protected
/// kernel: alternatives, any of which (case-insensitive) means success.
#[derive(Debug, Clone)]
pub struct LkdtmExpectations {
    /// The tests.txt used, or why the built-in copy was.
    pub source: String,
    expect: BTreeMap<String, Vec<String>>,
}

/// The CFI lines of Linux 6.12's tests.txt, for trees that lack the file.
const BUILTIN_TESTS_TXT: &str = "EXCEPTION\nREPORT_STACK_CANARY repeat:2 ok: stack canaries differ\nEXEC_RODATA\nCFI_FORWARD_PROTO\nCFI_BACKWARD call trace:|ok: control flow unchanged\n";

impl LkdtmExpectations {
    /// Reads `TESTS_TXT` from the kernel tree, or uses the built-in copy.
    pub fn load(tree: Option<&Path>) -> LkdtmExpectations {
        if let Some(tree) = tree {
            let p = tree.join(TESTS_TXT);
            if let Ok(text) = std::fs::read_to_string(&p) {
                return LkdtmExpectations {
                    source: p.display().to_string(),
                    expect: Self::parse(&text),
                };
            }
        }
        LkdtmExpectations {
            source: "built-in copy of Linux 6.12's tests.txt".into(),
            expect: Self::parse(BUILTIN_TESTS_TXT),
        }
    }

    /// `NAME [expect|alternative]` lines; a test without an expectation
    /// expects `call trace:` (as run.sh does); `#NAME` lines are disabled.
    pub fn parse(text: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, expect) = line.split_once(' ').unwrap_or((line, ""));
            let expect = expect.trim();
            // `repeat:N text`: the repeat count is not ours to honour.
            let expect = match expect.strip_prefix("repeat:") {
                Some(r) => r.split_once(' ').map_or("", |x| x.1),
                None => expect,
            };
            let alts = if expect.is_empty() {
                vec!["call trace:".to_string()]
            } else {
                expect.split('|').map(|a| a.to_lowercase()).collect()
            };
            out.insert(name.to_owned(), alts);
        }
        out
    }

    pub fn for_test(&self, test: &str) -> Vec<String> {
        self.expect
            .get(test)
            .cloned()
            .unwrap_or_else(|| vec!["call trace:".into()])
    }
}

/// vmlinux's kCFI instrumentation against .config and the case.
pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    // Under the name the kernel's series gives kCFI's symbol.
    let (sym, config_cfi) = match facts.cfi() {
        Some(c) => (c.symbol, c.on),
        None => {
            return CheckResult::new(
                STATIC,
                Status::Fail,
                format!(
                    "cannot read .config: {}",
                    facts.config.as_ref().err().map_or("", |e| e)
                ),
            )
        }
    };
    let counts = match &facts.kcfi {
        Ok(c) => c,
        Err(e) => {
            return CheckResult::new(STATIC, Status::Fail, format!("cannot inspect vmlinux: {e}"))
        }
    };
    let found: Vec<String> = counts
        .iter()
        .map(|c| format!("{} {}", c.count, c.what))
        .collect();
    let details = found.clone();
    let all = counts.iter().all(|c| c.count > 0);
    let none = counts.iter().all(|c| c.count == 0);
    let case_cfi = case.cfi.is_on();
    let (status, message) = match (case_cfi, config_cfi) {
        (true, false) => (
            Status::Fail,
            format!("the case asks for CFI but .config has no {sym}=y"),
        ),
        (false, true) => (
            Status::Fail,
            format!("the case has cfi: off but .config has {sym}=y"),
        ),
        (true, true) if all => (
            Status::Pass,
            format!("kCFI instrumented, as {sym}=y says: {}", found.join(", ")),
        ),
        (true, true) => (
            Status::Fail,
            format!(
                "{sym}=y but vmlinux lacks kCFI instrumentation: {}",
                found.join(", ")
            ),
        ),
        (false, false) if none => (
            Status::Pass,
            format!(
                "no kCFI instrumentation, as .config says: {}",
                found.join(", ")
            ),
        ),
        (false, false) => (
            Status::Fail,
            format!(
                "{sym} is not set but vmlinux carries kCFI instrumentation: {}",
                found.join(", ")
            ),
        ),
    };
    CheckResult::new(STATIC, status, message).with(details)
}

/// The expectation for one test, and why.
pub fn expectation(case: &Case, facts: &KernelFacts, test: &LkdtmCfiTest) -> (CfiExpect, String) {
    if let Some(e) = case.cfi_expect.get(test.name) {
        return (
            *e,
            format!("`cfi_expect: {}` in {}", e.name(), case.file.display()),
        );
    }
    // Each symbol under the name this kernel's series gives it (kCFI's is
    // `CONFIG_CFI` from 7.x on, `CONFIG_CFI_CLANG` before).
    let mut names: Vec<String> = Vec::new();
    for s in test.protected_by {
        let n = facts.name_of(s);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let on: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|s| facts.config_is_y(s) == Some(true))
        .collect();
    if on.is_empty() {
        (
            CfiExpect::Survive,
            format!("not protected: no {} in .config", names.join(" nor ")),
        )
    } else {
        (
            CfiExpect::Trap,
            format!("protected by {}=y", on.join("=y, ")),
        )
    }
}

/// One result per lkdtm CFI test of the arch.
pub fn probe_checks(
    case: &Case,
    facts: &KernelFacts,
    console: Option<&Console>,
    boot: &CheckResult,
    lkdtm: &LkdtmExpectations,
) -> Vec<CheckResult> {
    case.arch
        .profile()
        .cfi_tests
        .iter()
        .map(|t| probe_check(case, facts, console, boot, lkdtm, t))
        .collect()
}

/// What the console showed inside one probe's window.
#[derive(Debug, Default)]
struct Seen {
    cfi_failure: Option<String>,
    oops: Option<String>,
    /// Lines matching the selftest's expectation.
    expected: Option<String>,
    lkdtm_fail: Option<String>,
    probably_expected: Option<String>,
    unexpected: Option<String>,
}

fn look(console: &Console, step: &Step, alternatives: &[String]) -> Seen {
    let mut seen = Seen::default();
    for e in console.events_in(step) {
        match &e.kind {
            EventKind::CfiFailure { .. } if seen.cfi_failure.is_none() => {
                seen.cfi_failure = Some(format!(
                    "console line {}: {}",
                    e.line,
                    message(console.line(e.line))
                ));
            }
            EventKind::Oops { text } | EventKind::Bug { text } if seen.oops.is_none() => {
                seen.oops = Some(format!("console line {}: {text}", e.line));
            }
            _ => {}
        }
    }
    for (n, line) in console.window(step) {
        let msg = message(line);
        let lower = msg.to_lowercase();
        let at = || format!("console line {n}: {msg}");
        if seen.expected.is_none() && alternatives.iter().any(|a| lower.contains(a.as_str())) {
            seen.expected = Some(at());
        }
        if seen.lkdtm_fail.is_none() && msg.starts_with("lkdtm: FAIL:") {
            seen.lkdtm_fail = Some(at());
        }
        if seen.probably_expected.is_none() && msg.contains("This is probably expected") {
            seen.probably_expected = Some(at());
        }
        if seen.unexpected.is_none() && msg.contains("Unexpected!") {
            seen.unexpected = Some(at());
        }
    }
    seen
}

fn probe_check(
    case: &Case,
    facts: &KernelFacts,
    console: Option<&Console>,
    boot: &CheckResult,
    lkdtm: &LkdtmExpectations,
    test: &LkdtmCfiTest,
) -> CheckResult {
    let name = check_name(test.name);
    let (expect, why) = expectation(case, facts, test);
    let Some(console) = console else {
        return unobserved(&name, &format!("lkdtm {}", test.name), boot);
    };
    if let Some(failed) = lkdtm_load_failure(console, &name, test) {
        return failed;
    }
    let Some(step) = console.step(&cfi_probe_step(test.name)) else {
        return unobserved(&name, &format!("lkdtm {}", test.name), boot);
    };
    let alternatives = lkdtm.for_test(test.name);
    let window = probe_window(console, &step);
    if !step.finished {
        return CheckResult::new(
            &name,
            Status::Fail,
            format!(
                "{} never returned to init: the kernel died ({})",
                test.name, boot.message
            ),
        )
        .with(window);
    }
    let probe = Probe {
        test,
        why: &why,
        rc: step.rc.unwrap_or(-1),
        seen: look(console, &step, &alternatives),
        alternatives: &alternatives,
    };
    let (status, message) = match expect {
        CfiExpect::Trap => probe.judge_trap(),
        CfiExpect::Survive => probe.judge_survive(),
    };
    CheckResult::new(&name, status, message).with(window)
}

/// A failed check when lkdtm's load step ran and failed (so no probe could).
fn lkdtm_load_failure(console: &Console, name: &str, test: &LkdtmCfiTest) -> Option<CheckResult> {
    let load = console.step(LKDTM_LOAD_STEP)?;
    if load.rc.is_none_or(|rc| rc == 0) {
        return None;
    }
    let lines: Vec<String> = console
        .window(&load)
        .map(|(n, l)| format!("console line {n}: {}", message(l)))
        .collect();
    Some(
        CheckResult::new(
            name,
            Status::Fail,
            format!("lkdtm did not load, so {} could not run", test.name),
        )
        .with(lines),
    )
}

/// A probe's evidence: its first 40 non-blank console lines.
fn probe_window(console: &Console, step: &Step) -> Vec<String> {
    console
        .window(step)
        .filter(|(_, l)| !l.trim().is_empty())
        .take(40)
        .map(|(n, l)| format!("console line {n}: {}", message(l)))
        .collect()
}

/// A finished probe, to be judged against its expectation.
struct Probe<'a> {
    test: &'a LkdtmCfiTest,
    /// Why the expectation is what it is.
    why: &'a str,
    /// The probe's shell's rc (-1: none given).
    rc: i32,
    seen: Seen,
    /// What the selftest looks for.
    alternatives: &'a [String],
}

impl Probe<'_> {
    /// Expected to trap: the selftest's text without lkdtm's FAIL line and,
    /// for a forward-edge (kCFI) test, the `CFI failure at` line too.
    fn judge_trap(&self) -> (Status, String) {
        let (test, why, seen) = (self.test.name, self.why, &self.seen);
        // Protected by kCFI (under any name of its symbol): a forward edge.
        let forward = self
            .test
            .protected_by
            .iter()
            .any(|s| crate::kseries::cfi_symbols().contains(s));
        let trapped = seen.expected.is_some() && seen.lkdtm_fail.is_none();
        if trapped && forward && seen.cfi_failure.is_none() {
            return (
                Status::Fail,
                format!(
                    "expected a kCFI trap ({why}); the task died ({}) but no `CFI failure at` line named the target",
                    seen.oops.as_deref().unwrap_or("no Oops line either")
                ),
            );
        }
        if trapped {
            return (
                Status::Pass,
                format!(
                    "stopped as expected ({why}): {}; the probe's shell exited with rc={}",
                    self.trap_evidence(),
                    self.rc
                ),
            );
        }
        (
            Status::Fail,
            format!(
                "expected the kernel to stop {test} ({why}) but it did not: {}; the selftest looks for {}",
                seen.lkdtm_fail
                    .as_deref()
                    .unwrap_or("no trap and no lkdtm verdict on the console"),
                self.expected_text()
            ),
        )
    }

    /// The CFI failure, Oops and expected lines seen, in that order.
    fn trap_evidence(&self) -> String {
        let s = &self.seen;
        [&s.cfi_failure, &s.oops, &s.expected]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The selftest's alternatives, quoted, joined with "or".
    fn expected_text(&self) -> String {
        self.alternatives
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Expected to get through: no trap, and lkdtm's FAIL line with its
    /// "probably expected" (never its "Unexpected!").
    fn judge_survive(&self) -> (Status, String) {
        let (test, why, seen) = (self.test.name, self.why, &self.seen);
        if seen.cfi_failure.is_some() || seen.oops.is_some() {
            return (
                Status::Fail,
                format!(
                    "expected {test} to get through ({why}) but the kernel trapped: {}",
                    seen.cfi_failure
                        .as_deref()
                        .or(seen.oops.as_deref())
                        .unwrap_or("")
                ),
            );
        }
        match (&seen.lkdtm_fail, &seen.probably_expected, &seen.unexpected) {
            (Some(f), Some(p), None) => (
                Status::Pass,
                format!("got through, as expected ({why}): {f}; lkdtm agrees: {p}"),
            ),
            (_, _, Some(u)) => (
                Status::Fail,
                format!("lkdtm says the kernel should have stopped {test}: {u}"),
            ),
            _ if seen.expected.is_some() => (
                Status::Fail,
                format!(
                    "expected {test} to get through ({why}) but the kernel stopped it: {}",
                    seen.expected.as_deref().unwrap_or("")
                ),
            ),
            _ => (
                Status::Fail,
                format!(
                    "{test} printed neither lkdtm's FAIL line nor a trap (rc={})",
                    self.rc
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_txt_defaults_and_alternatives() {
        let e = LkdtmExpectations::parse(
            "#CORRUPT_STACK Crashes entire system\nCFI_FORWARD_PROTO\nCFI_BACKWARD call trace:|ok: control flow unchanged\nFOO repeat:3 Call Trace:\n",
        );
        assert_eq!(e["CFI_FORWARD_PROTO"], vec!["call trace:"]);
        assert_eq!(
            e["CFI_BACKWARD"],
            vec!["call trace:", "ok: control flow unchanged"]
        );
        assert_eq!(e["FOO"], vec!["call trace:"]);
        assert!(!e.contains_key("#CORRUPT_STACK") && !e.contains_key("CORRUPT_STACK"));
    }

    #[test]
    fn kcfi_is_judged_under_the_name_of_the_kernels_series() {
        use crate::elf::kcfi::KcfiCount;
        let case = |cfi: &str| {
            Case::parse(
                std::path::Path::new("/x/c.yaml"),
                &format!("arch: x86_64\nlto: full\ncfi: {cfi}\nchecks: [cfi]\n"),
            )
            .unwrap()
        };
        let facts = |config: &[(&str, &str)], traps: u64| {
            let mut f = KernelFacts::empty();
            f.config = Ok(config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect());
            f.kernel_version = Some("7.1.5".into());
            f.kcfi = Ok(vec![KcfiCount {
                what: "bytes of __kcfi_traps".into(),
                count: traps,
            }]);
            f
        };
        // 7.1: CONFIG_CFI=y, the transitional CONFIG_CFI_CLANG gone.
        let on = facts(&[("CONFIG_CFI", "y")], 12);
        let r = static_check(&case("on"), &on);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.message.contains("as CONFIG_CFI=y says"), "{}", r.message);
        let r = static_check(&case("off"), &on);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains(".config has CONFIG_CFI=y"),
            "{}",
            r.message
        );
        let off = facts(&[("CONFIG_CFI", "n")], 0);
        let r = static_check(&case("on"), &off);
        assert_eq!(r.status, Status::Fail);
        assert!(r.message.contains("no CONFIG_CFI=y"), "{}", r.message);
        // lkdtm's forward-edge test: protected by the kernel's own name.
        let forward = &crate::model::Arch::X86_64.profile().cfi_tests[0];
        let (e, why) = expectation(&case("on"), &on, forward);
        assert_eq!(
            (e, why.as_str()),
            (CfiExpect::Trap, "protected by CONFIG_CFI=y")
        );
        let (e, why) = expectation(&case("off"), &facts(&[], 0), forward);
        assert_eq!(e, CfiExpect::Survive);
        assert_eq!(why, "not protected: no CONFIG_CFI in .config");
        // 6.12's names and messages are as they were.
        let mut old = facts(&[("CONFIG_CFI_CLANG", "y")], 12);
        old.kernel_version = Some("6.12.117".into());
        assert_eq!(
            expectation(&case("on"), &old, forward).1,
            "protected by CONFIG_CFI_CLANG=y"
        );
        assert!(static_check(&case("on"), &old)
            .message
            .contains("as CONFIG_CFI_CLANG=y says"));
    }

    #[test]
    fn probe_judgments_name_what_is_missing() {
        const FORWARD: LkdtmCfiTest = LkdtmCfiTest {
            name: "CFI_FORWARD_PROTO",
            protected_by: &["CONFIG_CFI_CLANG"],
        };
        let alternatives = vec!["call trace:".to_string()];
        let probe = |seen: Seen| Probe {
            test: &FORWARD,
            why: "protected by CONFIG_CFI_CLANG=y",
            rc: 139,
            seen,
            alternatives: &alternatives,
        };
        // The task died but no kCFI line named the target.
        let (status, msg) = probe(Seen {
            expected: Some("console line 3: Call Trace:".into()),
            ..Seen::default()
        })
        .judge_trap();
        assert_eq!(status, Status::Fail);
        assert!(
            msg.contains("no `CFI failure at` line") && msg.contains("no Oops line either"),
            "{msg}"
        );
        // Nothing at all: the selftest's expectation is quoted.
        let (status, msg) = probe(Seen::default()).judge_trap();
        assert_eq!(status, Status::Fail);
        assert!(
            msg.ends_with("the selftest looks for `call trace:`"),
            "{msg}"
        );
        // lkdtm's own "Unexpected!" fails a probe expected to get through.
        let (status, msg) = probe(Seen {
            lkdtm_fail: Some("console line 2: lkdtm: FAIL: survived".into()),
            unexpected: Some("console line 3: Unexpected!".into()),
            ..Seen::default()
        })
        .judge_survive();
        assert_eq!(status, Status::Fail);
        assert!(
            msg.starts_with("lkdtm says the kernel should have stopped CFI_FORWARD_PROTO"),
            "{msg}"
        );
        let (status, msg) = probe(Seen::default()).judge_survive();
        assert_eq!(status, Status::Fail);
        assert!(
            msg.ends_with("neither lkdtm's FAIL line nor a trap (rc=139)"),
            "{msg}"
        );
    }
}
