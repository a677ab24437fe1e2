//! The CFI checks. `cfi.static`: vmlinux carries kCFI instrumentation
//! exactly when the case and its .config say CFI. `cfi.<TEST>`: each of the
//! arch's lkdtm CFI tests, run by /init in a child process, must trap or
//! survive as the kernel's config (or the case's `cfi_expect`) says, judged
//! the way the kernel's own selftests judge them
//! (tools/testing/selftests/lkdtm/tests.txt), and more closely: the test's
//! own lines ([`LkdtmCfiTest::preamble`]) must come first, and the first
//! trap must be the one lkdtm's source makes ([`LkdtmCfiTest::trap`]: for
//! CFI_FORWARD_PROTO, `lkdtm_indirect_call` calling `lkdtm_increment_int`).
//! A trap elsewhere (lkdtm's dispatcher calling a test function built
//! without kCFI, before the test printed anything) fails, naming its site.

use super::lkdtm::{expected_lines, find_preamble, first_trap, is_function, Preamble, Site, Trap};
use super::Judging;
use super::{unobserved, Console, KernelFacts, Step};
use crate::arch::{LkdtmCfiTest, TrapSite};
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
                Status::Incomplete,
                format!(
                    "could not read .config: {}",
                    facts
                        .config
                        .as_ref()
                        .err()
                        .map_or("", |e| e.reason.as_str())
                ),
            )
        }
    };
    let counts = match &facts.kcfi {
        Ok(c) => c,
        Err(e) => return super::not_read(STATIC, "vmlinux's kCFI markers", e),
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
    /// Lines matching the selftest's expectation (and their line).
    expected: Option<String>,
    expected_line: usize,
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
            seen.expected_line = n;
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
    let preamble = expected_lines(test.name, test.preamble);
    let probes: Vec<Probe> = attempts(console, &step, test.name)
        .iter()
        .map(|a| Probe {
            test,
            why: &why,
            rc: step.rc.unwrap_or(-1),
            seen: look(console, a, &alternatives),
            alternatives: &alternatives,
            preamble: find_preamble(console, a, &preamble),
            trap: first_trap(console, a, case.arch.profile()),
        })
        .collect();
    let (status, message) = match expect {
        CfiExpect::Trap => judge_trap_attempts(&probes),
        CfiExpect::Survive => judge_survive_attempts(&probes),
    };
    CheckResult::new(&name, status, message).with(window)
}

/// The probe's attempts: one window per `lkdtm: Performing direct entry
/// <test>` line (the first from the step's start), or the whole step when
/// lkdtm never said it.
fn attempts(console: &Console, step: &Step, test: &str) -> Vec<Step> {
    let entry = format!("lkdtm: Performing direct entry {test}");
    let starts: Vec<usize> = console
        .window(step)
        .filter(|(_, l)| message(l).trim_end() == entry)
        .map(|(n, _)| n)
        .collect();
    if starts.len() < 2 {
        return vec![*step];
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, _) in starts.iter().enumerate() {
        let first = if i == 0 { step.first } else { starts[i] };
        let end = starts.get(i + 1).copied().unwrap_or(step.end);
        out.push(Step {
            first,
            end,
            ..*step
        });
    }
    out
}

/// Expected to trap, over the attempts: the last is judged as a single
/// probe; each one before it must have got through without a trap (a
/// probabilistic protection missed by chance: the test allows retries) or
/// passed on its own (a shadow call stack's `ok: control flow unchanged`).
fn judge_trap_attempts(probes: &[Probe]) -> (Status, String) {
    let Some((last, earlier)) = probes.split_last() else {
        return (Status::Fail, "the probe printed nothing".into());
    };
    let (status, message) = last.judge_trap();
    if earlier.is_empty() {
        return (status, message);
    }
    let (test, total) = (last.test.name, probes.len());
    if total > usize::from(last.test.attempts) {
        return (
            Status::Fail,
            format!(
                "{test} ran {total} times, more than the {} the probe allows",
                last.test.attempts
            ),
        );
    }
    let mut missed = Vec::new();
    for (i, p) in earlier.iter().enumerate() {
        if let Some(t) = &p.trap {
            return (
                Status::Fail,
                format!(
                    "attempt {} of {test} trapped ({}) yet the probe went on",
                    i + 1,
                    t.describe()
                ),
            );
        }
        if p.judge_trap().0 == Status::Pass {
            continue;
        }
        missed.push(format!(
            "attempt {} got through ({})",
            i + 1,
            p.seen.lkdtm_fail.as_deref().unwrap_or("no lkdtm verdict")
        ));
    }
    if missed.is_empty() && status == Status::Pass {
        return (
            status,
            format!("{total} attempts, each stopped; the last: {message}"),
        );
    }
    if status != Status::Pass {
        let note = if missed.is_empty() {
            String::new()
        } else {
            format!("; before it {}", missed.join(", "))
        };
        return (status, format!("attempt {total}: {message}{note}"));
    }
    (
        status,
        format!(
            "{}, as a probabilistic protection may by chance ({}); then attempt {total}: {message}",
            missed.join(", "),
            last.why
        ),
    )
}

/// Expected to get through, over the attempts: every one must.
fn judge_survive_attempts(probes: &[Probe]) -> (Status, String) {
    let mut verdict = (Status::Fail, "the probe printed nothing".to_string());
    for (i, p) in probes.iter().enumerate() {
        verdict = p.judge_survive();
        if verdict.0 != Status::Pass {
            if probes.len() > 1 {
                verdict.1 = format!("attempt {}: {}", i + 1, verdict.1);
            }
            return verdict;
        }
    }
    if probes.len() > 1 {
        verdict.1 = format!("{} attempts: {}", probes.len(), verdict.1);
    }
    verdict
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
    /// The test's own lines, as found.
    preamble: Preamble,
    /// The first trap in the probe's window.
    trap: Option<Trap>,
}

impl Probe<'_> {
    /// Expected to trap: the test's own lines, then, first of any trap, the
    /// one lkdtm's source makes (for a forward-edge test the `CFI failure
    /// at <caller> (target: <target>)` line), and the selftest's text
    /// without lkdtm's FAIL line. A test that stops without a trap passes
    /// only on a selftest alternative other than a trace, after its lines
    /// (CFI_BACKWARD's `ok: control flow unchanged`, a shadow call stack).
    fn judge_trap(&self) -> (Status, String) {
        let (test, why, seen) = (self.test.name, self.why, &self.seen);
        let site = self.test.trap.describe();
        if let Some(t) = &self.trap {
            if !self.preamble.complete_before(t.line) {
                return (
                    Status::Fail,
                    format!(
                        "the trap was not {test}'s: it came before {test} printed `{}`: {}; expected {site} after the test's own lines ({why})",
                        self.preamble.first_not_before(t.line),
                        t.describe(),
                    ),
                );
            }
            if !self.at_site(t) {
                return (
                    Status::Fail,
                    format!(
                        "{test} trapped at another site: {}; expected {site} ({why})",
                        t.describe()
                    ),
                );
            }
        } else if let Some(missing) = &self.preamble.missing {
            return (
                Status::Fail,
                format!(
                    "expected {test} to be stopped by {site} ({why}) but it never printed its own line `{missing}`{}",
                    seen.lkdtm_fail
                        .as_deref()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                ),
            );
        }
        let after = self
            .preamble
            .complete_at
            .is_some_and(|p| p < seen.expected_line);
        let trapped = seen.expected.is_some() && after && seen.lkdtm_fail.is_none();
        if trapped && self.trap.is_none() {
            let words = seen.expected.as_deref().unwrap_or("");
            let trace = self
                .alternatives
                .iter()
                .any(|a| a == "call trace:" && words.to_lowercase().contains(a.as_str()));
            if trace {
                return (
                    Status::Fail,
                    format!(
                        "expected {site} ({why}); a trace came ({words}) but no trap on the console"
                    ),
                );
            }
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

    /// Whether trap `t` is where lkdtm's source puts the test's.
    fn at_site(&self, t: &Trap) -> bool {
        match (self.test.trap, &t.site) {
            (
                TrapSite::Kcfi { caller, target },
                Site::Kcfi {
                    caller: Some(c),
                    target: Some(g),
                },
            ) => is_function(c, caller) && is_function(g, target),
            (TrapSite::FaultIn { function }, Site::Fault { pc: Some(pc), .. }) => {
                is_function(pc, function)
            }
            _ => false,
        }
    }

    /// The test's own lines, the trap at its site, the CFI failure, Oops
    /// and expected lines seen, in that order.
    fn trap_evidence(&self) -> String {
        let s = &self.seen;
        let own = format!("after its own lines ({})", self.preamble.found.join("; "));
        let site = self
            .trap
            .as_ref()
            .map(|t| format!("first trap {}", t.describe()));
        [Some(own), site]
            .into_iter()
            .flatten()
            .chain(
                [&s.cfi_failure, &s.oops, &s.expected]
                    .into_iter()
                    .flatten()
                    .filter(|l| self.trap.as_ref().is_none_or(|t| !t.at.eq(*l)))
                    .cloned(),
            )
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
        if let Some(t) = &self.trap {
            return (
                Status::Fail,
                format!(
                    "expected {test} to get through ({why}) but the kernel trapped: {}",
                    t.describe()
                ),
            );
        }
        if let Some(missing) = &self.preamble.missing {
            return (
                Status::Fail,
                format!(
                    "expected {test} to get through ({why}) but it never printed its own line `{missing}`"
                ),
            );
        }
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

/// The family's checks: `cfi.static`, then one per lkdtm CFI test.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    let mut out = vec![j.static_half(STATIC, |f| static_check(j.case, f))];
    match j.facts {
        Some(f) => out.extend(probe_checks(j.case, f, j.console, j.boot, j.expect.lkdtm)),
        None => out.extend(
            j.case
                .arch
                .profile()
                .cfi_tests
                .iter()
                .map(|t| super::unobserved(&check_name(t.name), "a kernel", j.boot)),
        ),
    }
    out
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
        let forward = &crate::arch::Arch::X86_64.profile().cfi_tests[0];
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
        let forward = &crate::arch::Arch::X86_64.profile().cfi_tests[0];
        let alternatives = vec!["call trace:".to_string()];
        let probe = |seen: Seen| Probe {
            test: forward,
            why: "protected by CONFIG_CFI_CLANG=y",
            rc: 139,
            seen,
            alternatives: &alternatives,
            preamble: Preamble {
                found: vec!["console line 1: lkdtm: Performing direct entry".into()],
                last_message: None,
                complete_at: Some(1),
                missing: None,
                expected: vec!["Performing direct entry CFI_FORWARD_PROTO".into()],
                lines: vec![1],
            },
            trap: None,
        };
        // A trace but no trap on the console.
        let (status, msg) = probe(Seen {
            expected: Some("console line 3: Call Trace:".into()),
            expected_line: 3,
            ..Seen::default()
        })
        .judge_trap();
        assert_eq!(status, Status::Fail);
        assert_eq!(
            msg,
            "expected a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_int \
             (protected by CONFIG_CFI_CLANG=y); a trace came (console line 3: Call Trace:) \
             but no trap on the console"
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

    use crate::stages::boot::BootOutcome;
    use std::collections::BTreeMap;

    const X86_FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/console/x86_64-tiny-full-cfi-lkdtm.log"
    ));
    const ARM64_FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/console/arm64-tiny-full-cfi-lkdtm.log"
    ));

    /// A real console with CFI_FORWARD_PROTO's lines (from `Performing
    /// direct entry` to the shell's `Segmentation fault`) put inside the
    /// probe's STEP and RESULT markers, as /init prints them today.
    fn in_probe(fixture: &str, test: &str) -> String {
        let lines: Vec<&str> = fixture.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains(&format!("Performing direct entry {test}")))
            .unwrap();
        let end = start
            + lines[start..]
                .iter()
                .position(|l| l.starts_with("Segmentation fault"))
                .unwrap();
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            if i == start {
                out.push_str(&format!("@@LTOH STEP cfi-{test}\n"));
            }
            out.push_str(l);
            out.push('\n');
            if i == end {
                out.push_str(&format!("@@LTOH RESULT cfi-{test} rc=139\n"));
            }
        }
        out
    }

    /// The verdict of `test` on `log`, for a kernel with `config` set.
    fn verdict(arch: &str, log: &str, test: &str, config: &[&str]) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        std::fs::write(&path, log).unwrap();
        let outcome = BootOutcome::of_log(log, path);
        let console = Console::read(&outcome);
        let case = Case::parse(
            Path::new("/x/c.yaml"),
            &format!("arch: {arch}\nlto: none\ncfi: off\nchecks: [cfi]\n"),
        )
        .unwrap();
        let mut values = BTreeMap::new();
        for c in config {
            values.insert((*c).to_string(), "y".to_string());
        }
        let facts = KernelFacts {
            config: Ok(values),
            ..KernelFacts::empty()
        };
        let boot = CheckResult::new("boot", Status::Pass, "ok");
        probe_checks(
            &case,
            &facts,
            Some(&console),
            &boot,
            &LkdtmExpectations::load(None),
        )
        .into_iter()
        .find(|r| r.name == check_name(test))
        .unwrap()
    }

    fn forward(arch: &str, log: &str) -> CheckResult {
        verdict(arch, log, "CFI_FORWARD_PROTO", &["CONFIG_CFI_CLANG"])
    }

    /// `log` without the lines containing `what`.
    fn without(log: &str, what: &[&str]) -> String {
        log.lines()
            .filter(|l| !what.iter().any(|w| l.contains(w)))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    const PROTOTYPE_LINES: [&str; 2] = [
        "lkdtm: Calling matched prototype",
        "lkdtm: Calling mismatched prototype",
    ];

    #[test]
    fn real_forward_traps_pass_naming_the_site() {
        let r = forward("x86_64", &in_probe(X86_FIXTURE, "CFI_FORWARD_PROTO"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains(
                "first trap console line 441: CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] \
                 (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5) \
                 (a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_int)"
            ) && r.message.contains("console line 439: lkdtm: Calling matched prototype ..."),
            "{}",
            r.message
        );
        let r = forward("arm64", &in_probe(ARM64_FIXTURE, "CFI_FORWARD_PROTO"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message
                .contains("(a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_int)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_forward_trap_before_the_tests_lines_fails_naming_the_site() {
        // The preamble gone: the trap is not known to be the test's.
        let log = without(
            &in_probe(X86_FIXTURE, "CFI_FORWARD_PROTO"),
            &PROTOTYPE_LINES,
        );
        let r = forward("x86_64", &log);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "the trap was not CFI_FORWARD_PROTO's: it came before CFI_FORWARD_PROTO printed \
             `lkdtm: Calling matched prototype ...`: console line 439: CFI failure at \
             lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; \
             expected type: 0x7e0c52a5) (a kCFI trap in lkdtm_indirect_call calling \
             lkdtm_increment_int); expected a kCFI trap in lkdtm_indirect_call calling \
             lkdtm_increment_int after the test's own lines (protected by CONFIG_CFI_CLANG=y)"
        );
        // lkdtm's cfi.o without kCFI: the dispatcher's call into the test
        // function traps, and the test never runs.
        let dispatcher = log
            .replace(
                "CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm];",
                "CFI failure at lkdtm_do_action+0x23/0x30 [lkdtm] (target: lkdtm_CFI_FORWARD_PROTO+0x0/0x58 [lkdtm];",
            )
            .replace("RIP: 0010:lkdtm_indirect_call+0x16/0x20", "RIP: 0010:lkdtm_do_action+0x23/0x30");
        let r = forward("x86_64", &dispatcher);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "the trap was not CFI_FORWARD_PROTO's: it came before CFI_FORWARD_PROTO printed \
             `lkdtm: Calling matched prototype ...`: console line 439: CFI failure at \
             lkdtm_do_action+0x23/0x30 [lkdtm] (target: lkdtm_CFI_FORWARD_PROTO+0x0/0x58 [lkdtm]; \
             expected type: 0x7e0c52a5) (a kCFI trap in lkdtm_do_action calling \
             lkdtm_CFI_FORWARD_PROTO); expected a kCFI trap in lkdtm_indirect_call calling \
             lkdtm_increment_int after the test's own lines (protected by CONFIG_CFI_CLANG=y)"
        );
        // The same on arm64.
        let arm = without(&in_probe(ARM64_FIXTURE, "CFI_FORWARD_PROTO"), &PROTOTYPE_LINES)
            .replace(
                "CFI failure at lkdtm_indirect_call+0x28/0x3c [lkdtm] (target: lkdtm_increment_int+0x0/0x18 [lkdtm];",
                "CFI failure at lkdtm_do_action+0x30/0x48 [lkdtm] (target: lkdtm_CFI_FORWARD_PROTO+0x0/0x64 [lkdtm];",
            );
        let r = forward("arm64", &arm);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("the trap was not CFI_FORWARD_PROTO's: it came before CFI_FORWARD_PROTO printed `lkdtm: Calling matched prototype ...`")
                && r.message.contains("(a kCFI trap in lkdtm_do_action calling lkdtm_CFI_FORWARD_PROTO)"),
            "{}",
            r.message
        );
        // Another trap between `Performing direct entry` and the test's lines.
        let early = in_probe(X86_FIXTURE, "CFI_FORWARD_PROTO").replace(
            "lkdtm: Calling matched prototype",
            "CFI failure at direct_entry+0xb7/0xc8 [lkdtm] (target: lkdtm_do_action+0x0/0x30 [lkdtm]; expected type: 0x12345678)\n[    1.084037] lkdtm: Calling matched prototype",
        );
        let r = forward("x86_64", &early);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("the trap was not CFI_FORWARD_PROTO's: it came before CFI_FORWARD_PROTO printed `lkdtm: Calling matched prototype ...`: console line 439: CFI failure at direct_entry")
                && r.message.contains("(a kCFI trap in direct_entry calling lkdtm_do_action)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_forward_trap_at_another_call_fails_naming_it() {
        let real = in_probe(X86_FIXTURE, "CFI_FORWARD_PROTO");
        // Another caller.
        let caller = real.replace(
            "CFI failure at lkdtm_indirect_call+",
            "CFI failure at direct_entry+",
        );
        let r = forward("x86_64", &caller);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "CFI_FORWARD_PROTO trapped at another site: console line 441: CFI failure at \
             direct_entry+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; \
             expected type: 0x7e0c52a5) (a kCFI trap in direct_entry calling lkdtm_increment_int); \
             expected a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_int \
             (protected by CONFIG_CFI_CLANG=y)"
        );
        // Another target (the matched call trapping).
        let target = real.replace(
            "(target: lkdtm_increment_int+",
            "(target: lkdtm_increment_void+",
        );
        let r = forward("x86_64", &target);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message
                .starts_with("CFI_FORWARD_PROTO trapped at another site: console line 441")
                && r.message
                    .contains("(a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_void)"),
            "{}",
            r.message
        );
        let arm = in_probe(ARM64_FIXTURE, "CFI_FORWARD_PROTO").replace(
            "(target: lkdtm_increment_int+",
            "(target: lkdtm_increment_void+",
        );
        let r = forward("arm64", &arm);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message
                .contains("(a kCFI trap in lkdtm_indirect_call calling lkdtm_increment_void)"),
            "{}",
            r.message
        );
        // Another trap first, after the test's lines: a fault, then the kCFI line.
        let first = real.replace(
            "[    1.084037] CFI failure at",
            "[    1.084037] BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
             [    1.084037] RIP: 0010:lkdtm_increment_void+0x4/0x8 [lkdtm]\n[    1.084037] CFI failure at",
        );
        let r = forward("x86_64", &first);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "CFI_FORWARD_PROTO trapped at another site: console line 441: BUG: kernel NULL \
             pointer dereference, address: 0000000000000000 (a fault with the pc in \
             lkdtm_increment_void); expected a kCFI trap in lkdtm_indirect_call calling \
             lkdtm_increment_int (protected by CONFIG_CFI_CLANG=y)"
        );
    }

    /// arm64-lto-full-cfi's CFI_BACKWARD with pointer authentication (FPAC),
    /// as a real boot printed it (the window kept in
    /// tests/fixtures/profiles/cold-sequential/results.json).
    const ARM64_BACKWARD: &str = "lkdtm: Performing direct entry CFI_BACKWARD
lkdtm: Attempting unchecked stack return address redirection ...
lkdtm: ok: redirected stack return address.
lkdtm: Attempting checked stack return address redirection ...
Internal error: Oops - FPAC: 0000000072000000 [#2] SMP
Modules linked in: lkdtm [last unloaded: lkdtm]
pc : set_return_addr+0x30/0x50 [lkdtm]
lr : lkdtm_CFI_BACKWARD+0x104/0x128 [lkdtm]
Call trace:
 set_return_addr+0x30/0x50 [lkdtm]
 lkdtm_do_action+0x3c/0x58 [lkdtm]
 direct_entry+0xfc/0x124 [lkdtm]
---[ end trace 0000000000000000 ]---
Segmentation fault
";

    fn backward(body: &str, config: &str) -> CheckResult {
        let stamped: String = body
            .lines()
            .map(|l| {
                if l.starts_with("Segmentation") {
                    format!("{l}\n")
                } else {
                    format!("[    1.300000] {l}\n")
                }
            })
            .collect();
        let log = format!(
            "@@LTOH STEP cfi-CFI_BACKWARD\n{stamped}@@LTOH RESULT cfi-CFI_BACKWARD rc=139\n"
        );
        verdict("arm64", &log, "CFI_BACKWARD", &[config])
    }

    #[test]
    fn backward_edge_is_judged_by_its_lines_and_its_trap() {
        let pac = "CONFIG_ARM64_PTR_AUTH_KERNEL";
        let r = backward(ARM64_BACKWARD, pac);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message
                .contains("(a fault with the pc in set_return_addr)"),
            "{}",
            r.message
        );
        // A shadow call stack: no trap, lkdtm's own words, after its lines.
        let scs = "lkdtm: Performing direct entry CFI_BACKWARD
lkdtm: Attempting unchecked stack return address redirection ...
lkdtm: ok: redirected stack return address.
lkdtm: Attempting checked stack return address redirection ...
lkdtm: ok: control flow unchanged.
";
        let r = backward(scs, "CONFIG_SHADOW_CALL_STACK");
        assert_eq!(r.status, Status::Pass, "{r:?}");
        // The trap in another function.
        let r = backward(
            &ARM64_BACKWARD.replace("pc : set_return_addr+", "pc : lkdtm_CFI_BACKWARD+"),
            pac,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "CFI_BACKWARD trapped at another site: console line 6: Internal error: Oops - FPAC: \
             0000000072000000 [#2] SMP (a fault with the pc in lkdtm_CFI_BACKWARD); expected a \
             fault with the pc in set_return_addr (protected by CONFIG_ARM64_PTR_AUTH_KERNEL=y)"
        );
        // The unchecked redirection never reported: the trap came before
        // the test's own lines.
        let r = backward(&without(ARM64_BACKWARD, &["ok: redirected"]), pac);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("the trap was not CFI_BACKWARD's: it came before CFI_BACKWARD printed `lkdtm: ok: redirected stack return address.`"),
            "{}",
            r.message
        );
    }

    /// One CFI_BACKWARD attempt that pointer authentication let through by
    /// a PAC collision: lkdtm's own FAIL and `Unexpected!` lines, no trap.
    const ARM64_BACKWARD_COLLISION: &str = "lkdtm: Performing direct entry CFI_BACKWARD
lkdtm: Attempting unchecked stack return address redirection ...
lkdtm: ok: redirected stack return address.
lkdtm: Attempting checked stack return address redirection ...
lkdtm: FAIL: stack return address was redirected!
lkdtm: Unexpected! This kernel (6.12.118 aarch64) was built with CONFIG_ARM64_PTR_AUTH_KERNEL=y
";

    #[test]
    fn a_pointer_auth_collision_is_retried_and_judged_by_the_next_attempt() {
        let pac = "CONFIG_ARM64_PTR_AUTH_KERNEL";
        // One collision, then the trap: pass, naming the collision.
        let r = backward(&format!("{ARM64_BACKWARD_COLLISION}{ARM64_BACKWARD}"), pac);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.starts_with(
                "attempt 1 got through (console line 6: lkdtm: FAIL: stack return address was redirected!), \
                 as a probabilistic protection may by chance (protected by CONFIG_ARM64_PTR_AUTH_KERNEL=y); \
                 then attempt 2: stopped as expected"
            ) && r.message.contains("(a fault with the pc in set_return_addr)"),
            "{}",
            r.message
        );
        // Every attempt got through: the protection is not there.
        let three = ARM64_BACKWARD_COLLISION.repeat(3);
        let log = format!(
            "@@LTOH STEP cfi-CFI_BACKWARD\n{}@@LTOH RESULT cfi-CFI_BACKWARD rc=0\n",
            three
                .lines()
                .map(|l| format!("[    1.3] {l}\n"))
                .collect::<String>()
        );
        let r = verdict("arm64", &log, "CFI_BACKWARD", &[pac]);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message
                .starts_with("attempt 3: expected the kernel to stop CFI_BACKWARD")
                && r.message.contains("before it attempt 1 got through")
                && r.message.contains("attempt 2 got through"),
            "{}",
            r.message
        );
        // More attempts than the probe allows.
        let r = backward(
            &format!("{}{ARM64_BACKWARD}", ARM64_BACKWARD_COLLISION.repeat(3)),
            pac,
        );
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message.contains("ran 4 times, more than the 3"),
            "{}",
            r.message
        );
        // A trap, then the probe went on.
        let r = backward(&format!("{ARM64_BACKWARD}{ARM64_BACKWARD}"), pac);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message.starts_with("attempt 1 of CFI_BACKWARD trapped"),
            "{}",
            r.message
        );
        // Without the protection every attempt must get through.
        let unprotected = ARM64_BACKWARD_COLLISION
            .replace("Unexpected! This kernel (6.12.118 aarch64) was built with CONFIG_ARM64_PTR_AUTH_KERNEL=y",
                "This is probably expected, since this kernel (6.12.118 aarch64) was built *without* CONFIG_ARM64_PTR_AUTH_KERNEL=y nor CONFIG_SHADOW_CALL_STACK=y");
        let r = backward(&unprotected.repeat(3), "CONFIG_NOTHING");
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.message.starts_with("3 attempts: "), "{}", r.message);
        let r = backward(
            &format!("{}{ARM64_BACKWARD}", unprotected.repeat(2)),
            "CONFIG_NOTHING",
        );
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message
                .starts_with("attempt 3: expected CFI_BACKWARD to get through"),
            "{}",
            r.message
        );
    }

    #[test]
    fn capture_prefixes_and_crlf_keep_the_forward_verdicts() {
        use crate::checks::capture::{crlf, prefix_lines, Prefix};
        let real = in_probe(X86_FIXTURE, "CFI_FORWARD_PROTO");
        let dispatcher = without(&real, &PROTOTYPE_LINES).replace(
            "CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+",
            "CFI failure at lkdtm_do_action+0x23/0x30 [lkdtm] (target: lkdtm_CFI_FORWARD_PROTO+",
        );
        for (log, want) in [(&real, Status::Pass), (&dispatcher, Status::Fail)] {
            let mut variants: Vec<Vec<u8>> = Prefix::ALL
                .iter()
                .map(|p| prefix_lines(log.as_bytes(), *p))
                .collect();
            variants.push(crlf(log.as_bytes()));
            for v in variants {
                let text = String::from_utf8_lossy(&v).into_owned();
                let r = forward("x86_64", &text);
                assert_eq!(r.status, want, "{}", r.message);
                if want == Status::Fail {
                    assert!(
                        r.message.contains(
                            "(a kCFI trap in lkdtm_do_action calling lkdtm_CFI_FORWARD_PROTO)"
                        ),
                        "{}",
                        r.message
                    );
                }
            }
        }
    }
}
