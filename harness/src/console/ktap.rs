//! KTAP in a console log: what KUnit suites (and other kernel tests)
//! print at boot, read into typed results ([`parse`], [`parse_log`]), and
//! those results as checks named `kunit.<suite>.<test>` ([`checks`]).
//!
//! The lines are console lines: a printk prefix (`<6>`, `[    1.234567] `,
//! `[    T1] `) is dropped, then the indentation is measured (a tab or a
//! space is one column). A document starts at a `KTAP version N` or
//! `TAP version N` line and ends at the next one at the same or a lower
//! indentation, at what kunit_tool takes for the end of the output
//! (`List of all partitions:`, `reboot: System halted`) or at a `Kernel
//! panic - not syncing`, or at the end of the log. Inside, as kunit_tool
//! reads it (`tools/testing/kunit/kunit_parser.py`):
//!
//! * a `KTAP version` line or a `# Subtest: <name>` header (or both, in
//!   that order) opens a nested test; its plan `1..N` follows;
//! * `ok N [- ]name[ # DIRECTIVE reason]` / `not ok …` is a result: of the
//!   open nested test when it is less indented than the test's header,
//!   carries its name, or comes once the plan is complete; otherwise of a
//!   test inside it. Directives: `SKIP`, `XFAIL`, `TIMEOUT`, `ERROR`,
//!   `TODO` (any case);
//! * `# module: …`, `# speed: …`, `# is_init: …` between a header and
//!   the plan are attributes of the nested test; `# <test>.<key>: value` before a result, of that test;
//! * anything else (diagnostics, kernel messages) is the log of the next
//!   result.
//!
//! A nested test whose plan promises more tests than appear gets a
//! [`Outcome::Missing`] test for each (the log was cut short: a crash, a
//! hang, a panic); one that never printed its own result line is
//! [`Outcome::Crashed`]. Nothing here panics, whatever the input; memory
//! is bounded by the input (logs, missing tests and nesting are capped).

use crate::model::{CheckResult, Status};

/// How deep tests nest before further headers are read as diagnostics.
const MAX_DEPTH: usize = 16;
/// How many log lines a test keeps (the first ones).
const MAX_LOG: usize = 64;
/// How many missing tests a short plan gets as tests of their own (the
/// count, [`KtapTest::missing`], is exact).
const MAX_MISSING: usize = 256;

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ok`.
    Pass,
    /// `not ok` (with any diagnostic after `#`).
    Fail(String),
    /// `# SKIP reason` (`ok` or `not ok`).
    Skip(String),
    /// `# XFAIL reason`: expected to fail.
    Xfail(String),
    /// `# TODO reason`: known broken.
    Todo(String),
    /// `# TIMEOUT reason`.
    Timeout(String),
    /// `# ERROR reason`: the test could not run.
    Error(String),
    /// Promised by the plan, never printed.
    Missing,
    /// A nested test that never printed its own result line.
    Crashed,
}

/// One test: a case, or a suite (a nested test) with its tests.
#[derive(Debug, Clone, PartialEq)]
pub struct KtapTest {
    /// The number on its result line (its position for a missing one).
    pub number: usize,
    pub name: String,
    pub outcome: Outcome,
    /// The plan of a nested test: how many tests it promised.
    pub planned: Option<usize>,
    /// The tests inside a nested test (parameterised cases, a suite's
    /// cases), missing ones included.
    pub subtests: Vec<KtapTest>,
    /// How many the plan promised that never appeared.
    pub missing: usize,
    /// `# key: value` attributes (`module`, `speed`).
    pub attributes: Vec<(String, String)>,
    /// Diagnostics and other lines before its result (at most 64).
    pub log: Vec<String>,
    /// The console line of its result line (1-based); 0 when it has none.
    pub line: usize,
}

/// A suite: a test of a document's top level (usually a nested test).
pub type Suite = KtapTest;

impl KtapTest {
    fn missing_one(number: usize) -> KtapTest {
        KtapTest {
            number,
            name: format!("missing_{number}"),
            outcome: Outcome::Missing,
            planned: None,
            subtests: Vec::new(),
            missing: 0,
            attributes: Vec::new(),
            log: Vec::new(),
            line: 0,
        }
    }
}

/// A nested test being read.
#[derive(Debug, Default)]
struct Frame {
    name: Option<String>,
    indent: usize,
    planned: Option<usize>,
    children: Vec<KtapTest>,
    attributes: Vec<(String, String)>,
    /// Lines waiting for the next result line.
    pending: Vec<String>,
    /// Opened by a version line with nothing after it yet: a
    /// `# Subtest:` header names this frame rather than opening one.
    fresh: bool,
}

impl Frame {
    fn open(name: Option<String>, indent: usize, fresh: bool) -> Frame {
        Frame {
            name,
            indent,
            fresh,
            ..Frame::default()
        }
    }

    fn log(&mut self, line: &str) {
        if self.pending.len() < MAX_LOG {
            self.pending.push(line.to_owned());
        }
    }

    /// The finished test, with its result (or crashed without one).
    fn close(mut self, result: Option<ResultLine>, number: usize) -> KtapTest {
        let seen = self.children.len();
        let missing = self.planned.map_or(0, |p| p.saturating_sub(seen));
        for k in 0..missing.min(MAX_MISSING) {
            self.children.push(KtapTest::missing_one(seen + k + 1));
        }
        let (name, outcome, line, number) = match result {
            Some(r) => (r.name, r.outcome, r.line, r.number),
            None => (self.name.unwrap_or_default(), Outcome::Crashed, 0, number),
        };
        KtapTest {
            number,
            name,
            outcome,
            planned: self.planned,
            subtests: self.children,
            missing,
            attributes: self.attributes,
            log: self.pending,
            line,
        }
    }
}

/// A parsed `ok`/`not ok` line.
#[derive(Debug)]
struct ResultLine {
    number: usize,
    name: String,
    outcome: Outcome,
    line: usize,
}

/// `ok N [- ]name[ # directive]`, or None.
fn result_line(s: &str, line: usize) -> Option<ResultLine> {
    let (ok, rest) = if let Some(r) = s.strip_prefix("ok ") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("not ok ") {
        (false, r)
    } else {
        return None;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = rest[..digits].parse::<usize>().ok()?;
    let rest = &rest[digits..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(rest[i + 1..].trim())),
        None => (rest, None),
    };
    let outcome = match directive {
        Some(d) => directive_outcome(ok, d),
        None if ok => Outcome::Pass,
        None => Outcome::Fail(String::new()),
    };
    Some(ResultLine {
        number,
        name: name.trim().to_owned(),
        outcome,
        line,
    })
}

/// The outcome a directive (`SKIP reason`, …) or diagnostic gives.
fn directive_outcome(ok: bool, d: &str) -> Outcome {
    let (word, reason) = match d.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim().to_owned()),
        None => (d, String::new()),
    };
    match word.to_ascii_uppercase().as_str() {
        "SKIP" => Outcome::Skip(reason),
        "XFAIL" => Outcome::Xfail(reason),
        "TODO" => Outcome::Todo(reason),
        "TIMEOUT" => Outcome::Timeout(reason),
        "ERROR" => Outcome::Error(reason),
        _ if ok => Outcome::Pass,
        _ => Outcome::Fail(d.to_owned()),
    }
}

/// `KTAP version N` / `TAP version N`.
fn is_version(s: &str) -> bool {
    let rest = s
        .strip_prefix("KTAP version ")
        .or_else(|| s.strip_prefix("TAP version "));
    rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
}

/// `1..N`.
fn plan(s: &str) -> Option<usize> {
    let r = s.strip_prefix("1..")?;
    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
    r[..digits].parse().ok()
}

/// The attributes KUnit prints for a suite after its header
/// (`lib/kunit/attributes.c`); other `# word: text` lines there are
/// diagnostics (`# example_params_test: initializing`).
const SUITE_ATTRIBUTES: [&str; 3] = ["speed", "module", "is_init"];

/// `key: value` with a key of one word.
fn attribute(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once(": ")?;
    if k.is_empty() || k.contains(char::is_whitespace) {
        return None;
    }
    Some((k.to_owned(), v.trim().to_owned()))
}

/// Whether a line ends the KTAP output (as kunit_tool's `KTAP_END`, and
/// any panic: no test runs after one).
fn is_end(s: &str) -> bool {
    s.contains("List of all partitions:")
        || s.contains("reboot: System halted")
        || s.contains("Kernel panic - not syncing")
}

/// The reader: a stack of open nested tests; the bottom one is the
/// document (whose results are the suites).
#[derive(Default)]
struct Reader {
    stack: Vec<Frame>,
    suites: Vec<Suite>,
}

impl Reader {
    /// Closes every open test (cut short) and the document.
    fn end_document(&mut self) {
        while self.stack.len() > 1 {
            let f = self.stack.pop().expect("len > 1");
            let parent = self.stack.last_mut().expect("len > 0");
            let n = parent.children.len() + 1;
            parent.children.push(f.close(None, n));
        }
        if let Some(doc) = self.stack.pop() {
            let doc = doc.close(None, 0);
            self.suites.extend(doc.subtests);
        }
    }

    fn line(&mut self, raw: &str, line_no: usize) {
        let msg = super::message(raw).trim_end();
        let text = msg.trim_start();
        let indent = msg.len() - text.len();
        if self.stack.is_empty() {
            if is_version(text) {
                self.stack.push(Frame::open(None, indent, false));
            }
            return;
        }
        if is_end(text) {
            self.end_document();
            return;
        }
        let depth = self.stack.len();
        let root_indent = self.stack[0].indent;
        if is_version(text) {
            if indent <= root_indent {
                // A new document (another module's tests).
                self.end_document();
                self.stack.push(Frame::open(None, indent, false));
            } else if depth < MAX_DEPTH {
                self.push(Frame::open(None, indent, true));
            }
            return;
        }
        if let Some(name) = text.strip_prefix("# Subtest:") {
            let name = name.trim().to_owned();
            let top = self.stack.last_mut().expect("not empty");
            if depth > 1 && top.fresh {
                top.name = Some(name);
                top.indent = top.indent.min(indent);
                top.fresh = false;
            } else if depth < MAX_DEPTH {
                self.push(Frame::open(Some(name), indent, false));
            }
            return;
        }
        let top = self.stack.last_mut().expect("not empty");
        top.fresh = false;
        if let Some(n) = plan(text) {
            if top.planned.is_none() && top.children.is_empty() {
                top.planned = Some(n);
                return;
            }
        }
        if let Some(r) = result_line(text, line_no) {
            self.result(r, indent);
            return;
        }
        let top = self.stack.last_mut().expect("not empty");
        if depth > 1 && top.planned.is_none() && top.children.is_empty() {
            let a = text.strip_prefix("# ").and_then(attribute);
            if let Some(a) = a.filter(|(k, _)| SUITE_ATTRIBUTES.contains(&k.as_str())) {
                top.attributes.push(a);
                return;
            }
        }
        if !text.is_empty() {
            top.log(text);
        }
    }

    /// Opens a nested test: what was waiting in its parent was before it.
    fn push(&mut self, f: Frame) {
        if let Some(parent) = self.stack.last_mut() {
            parent.pending.clear();
        }
        self.stack.push(f);
    }

    fn result(&mut self, r: ResultLine, indent: usize) {
        let depth = self.stack.len();
        let top = self.stack.last_mut().expect("not empty");
        let closes = depth > 1 && {
            let planned_more = top.planned.is_some_and(|p| top.children.len() < p);
            indent < top.indent
                || (top.name.as_deref() == Some(r.name.as_str())
                    && !(planned_more && indent > top.indent))
                || (top.name.is_none() && !planned_more && top.planned.is_some())
        };
        if closes {
            let f = self.stack.pop().expect("len > 1");
            let parent = self.stack.last_mut().expect("len > 0");
            parent.children.push(f.close(Some(r), 0));
            return;
        }
        // A test of the open one, with its attributes and log.
        let prefix = format!("# {}.", r.name);
        let mut attributes = Vec::new();
        let mut log = Vec::new();
        for l in std::mem::take(&mut top.pending) {
            match l.strip_prefix(&prefix).and_then(attribute) {
                Some(a) => attributes.push(a),
                None => log.push(l),
            }
        }
        top.children.push(KtapTest {
            number: r.number,
            name: r.name,
            outcome: r.outcome,
            planned: None,
            subtests: Vec::new(),
            missing: 0,
            attributes,
            log,
            line: r.line,
        });
    }
}

/// The suites of every KTAP document in `lines` (console lines, in
/// order; `lines[n - 1]` is line `n`).
pub fn parse<S: AsRef<str>>(lines: &[S]) -> Vec<Suite> {
    let mut r = Reader::default();
    for (i, l) in lines.iter().enumerate() {
        r.line(l.as_ref(), i + 1);
    }
    r.end_document();
    r.suites
}

/// The suites in a captured console log (raw bytes, as QEMU wrote them).
pub fn parse_log(bytes: &[u8]) -> Vec<Suite> {
    parse(&super::split_lines(bytes))
}

/// The suites' tests as checks `kunit.<suite>.<test>`: ok is a pass, not
/// ok a fail (the diagnostic and log as details), SKIP skipped with its
/// reason, XFAIL and TODO a pass saying so, TIMEOUT and ERROR a fail
/// saying so, a missing test (or a nested test with no result line) a
/// fail saying the log was cut short. A suite with no tests is one check,
/// `kunit.<suite>`, of its own result.
pub fn checks(suites: &[Suite]) -> Vec<CheckResult> {
    let mut v = Vec::new();
    for s in suites {
        if s.subtests.is_empty() {
            v.push(check(&format!("kunit.{}", s.name), s));
        }
        for t in &s.subtests {
            v.push(check(&format!("kunit.{}.{}", s.name, t.name), t));
        }
    }
    v
}

/// One test's status and what its check says.
fn verdict(t: &KtapTest) -> (Status, String) {
    let with_reason = |what: &str, r: &str| {
        if r.is_empty() {
            what.to_owned()
        } else {
            format!("{what}: {r}")
        }
    };
    match &t.outcome {
        Outcome::Pass => (Status::Pass, "ok".to_owned()),
        Outcome::Fail(r) => (Status::Fail, with_reason("not ok", r)),
        Outcome::Skip(r) => (Status::Skipped, with_reason("skipped", r)),
        Outcome::Xfail(r) => (Status::Pass, with_reason("xfail (failed as expected)", r)),
        Outcome::Todo(r) => (Status::Pass, with_reason("todo (known broken)", r)),
        Outcome::Timeout(r) => (Status::Fail, with_reason("timed out", r)),
        Outcome::Error(r) => (Status::Fail, with_reason("error", r)),
        Outcome::Missing => (
            Status::Fail,
            format!(
                "missing: test {} of the plan never appeared (the suite crashed or the log was cut short)",
                t.number
            ),
        ),
        Outcome::Crashed => (
            Status::Fail,
            "crashed: no result line (the log was cut short)".to_owned(),
        ),
    }
}

/// One test's check: its verdict; when bad, its subtests that did not
/// pass, its console line and its log as details.
fn check(name: &str, t: &KtapTest) -> CheckResult {
    let (status, mut message) = verdict(t);
    // A bare `not ok`: say the first failed expectation, as kunit_tool
    // shows it (`# list_sort_test: ASSERTION FAILED at lib/x.c:98`).
    if matches!(t.outcome, Outcome::Fail(ref r) if r.is_empty()) {
        if let Some(l) = t.log.iter().find(|l| l.contains("FAILED at ")) {
            let l = l.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
            let l = l.split_once(": ").map_or(l, |(_, rest)| rest);
            message = format!("{message}: {l}");
        }
    }
    let mut details: Vec<String> = t
        .subtests
        .iter()
        .filter(|s| verdict(s).0.is_bad())
        .map(|s| format!("{} {}: {}", s.number, s.name, verdict(s).1))
        .collect();
    if t.line > 0 && status.is_bad() {
        details.push(format!("console line {}", t.line));
    }
    if status.is_bad() {
        details.extend(t.log.iter().cloned());
    }
    CheckResult::new(name, status, message).with(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> Vec<Suite> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/console/ktap")
            .join(name);
        parse_log(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    }

    /// (suite, outcome, [(test, outcome)]), to compare at a glance.
    type Shape = Vec<(String, Outcome, Vec<(String, Outcome)>)>;
    fn shape(suites: &[Suite]) -> Shape {
        suites
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.outcome.clone(),
                    s.subtests
                        .iter()
                        .map(|t| (t.name.clone(), t.outcome.clone()))
                        .collect(),
                )
            })
            .collect()
    }

    fn passes(names: &[&str]) -> Vec<(String, Outcome)> {
        names
            .iter()
            .map(|n| (n.to_string(), Outcome::Pass))
            .collect()
    }

    #[test]
    fn all_passed() {
        let s = fixture("test_is_test_passed-all_passed.log");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "sysctl_test");
        assert_eq!(s[0].outcome, Outcome::Pass);
        assert_eq!(s[0].planned, Some(8));
        assert_eq!(s[0].subtests.len(), 8);
        assert!(s[0].subtests.iter().all(|t| t.outcome == Outcome::Pass));
        assert_eq!(
            s[0].subtests[0].log,
            ["# sysctl_test_dointvec_null_tbl_data: sysctl_test_dointvec_null_tbl_data passed"]
        );
        assert_eq!(s[0].subtests[7].number, 8);
        assert_eq!(s[1].name, "example");
        assert!(checks(&s).iter().all(|c| c.status == Status::Pass));
        assert_eq!(checks(&s).len(), 8 + 2);
        assert_eq!(
            checks(&s)[0].name,
            "kunit.sysctl_test.sysctl_test_dointvec_null_tbl_data"
        );
    }

    #[test]
    fn a_failure_with_its_log() {
        let s = fixture("test_is_test_passed-failure.log");
        assert_eq!(s[1].name, "example");
        assert_eq!(s[1].outcome, Outcome::Fail(String::new()));
        let t = &s[1].subtests[0];
        assert_eq!(t.name, "example_simple_test");
        assert_eq!(t.outcome, Outcome::Fail(String::new()));
        assert!(
            t.log
                .iter()
                .any(|l| l.contains("EXPECTATION FAILED at lib/kunit/example-test.c:30")),
            "{:?}",
            t.log
        );
        assert!(t.log.iter().any(|l| l == "1 + 1 == 2"), "{:?}", t.log);
        assert_eq!(s[1].subtests[1].outcome, Outcome::Pass);
        let c = checks(&s);
        let failed: Vec<&CheckResult> = c.iter().filter(|c| c.status == Status::Fail).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, "kunit.example.example_simple_test");
        assert_eq!(
            failed[0].message,
            "not ok: EXPECTATION FAILED at lib/kunit/example-test.c:30"
        );
        assert!(failed[0]
            .details
            .iter()
            .any(|d| d.contains("EXPECTATION FAILED")));
    }

    #[test]
    fn skips_with_their_reason() {
        let s = fixture("test_skip_tests.log");
        assert_eq!(
            shape(&s)[1],
            (
                "example".into(),
                Outcome::Pass,
                vec![
                    ("example_simple_test".into(), Outcome::Pass),
                    (
                        "example_skip_test".into(),
                        Outcome::Skip("this test should be skipped".into())
                    ),
                ]
            )
        );
        let c = checks(&s);
        let skip = c
            .iter()
            .find(|c| c.name == "kunit.example.example_skip_test")
            .unwrap();
        assert_eq!(skip.status, Status::Skipped);
        assert_eq!(skip.message, "skipped: this test should be skipped");
    }

    #[test]
    fn a_panic_cuts_the_tests_short() {
        let s = fixture("test_kernel_panic_interrupt.log");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].outcome, Outcome::Pass);
        assert_eq!(s[1].outcome, Outcome::Pass);
        let cut = &s[2];
        assert_eq!(cut.name, "string-stream-test");
        assert_eq!(cut.outcome, Outcome::Crashed);
        assert_eq!(cut.planned, Some(3));
        assert_eq!(cut.missing, 2);
        assert_eq!(
            cut.subtests
                .iter()
                .map(|t| t.outcome.clone())
                .collect::<Vec<_>>(),
            [Outcome::Pass, Outcome::Missing, Outcome::Missing]
        );
        let c = checks(&s);
        let bad: Vec<(&str, &str)> = c
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| (c.name.as_str(), c.message.as_str()))
            .collect();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].0, "kunit.string-stream-test.missing_2");
        assert!(
            bad[0]
                .1
                .starts_with("missing: test 2 of the plan never appeared"),
            "{}",
            bad[0].1
        );
    }

    #[test]
    fn a_subtest_header_after_a_version_line() {
        let s = fixture("test_parse_subtest_header.log");
        assert_eq!(
            shape(&s),
            vec![("suite".into(), Outcome::Pass, passes(&["test"]))]
        );
        assert_eq!(s[0].planned, Some(1));
    }

    #[test]
    fn printk_prefixes_and_a_caller_id() {
        let s = fixture("test_multiple_prefixes.log");
        assert_eq!(
            shape(&s),
            vec![
                (
                    "kunit-resource-test".into(),
                    Outcome::Pass,
                    passes(&[
                        "kunit_resource_test_init_resources",
                        "kunit_resource_test_alloc_resource",
                        "kunit_resource_test_destroy_resource",
                        "kunit_resource_test_cleanup_resources",
                        "kunit_resource_test_proper_free_ordering",
                    ])
                ),
                (
                    "kunit-try-catch-test".into(),
                    Outcome::Pass,
                    passes(&[
                        "kunit_test_try_catch_successful_try_no_catch",
                        "kunit_test_try_catch_unsuccessful_try_does_catch",
                    ])
                ),
                (
                    "string-stream-test".into(),
                    Outcome::Pass,
                    passes(&[
                        "string_stream_test_empty_on_creation",
                        "string_stream_test_not_empty_after_add",
                        "string_stream_test_get_string",
                    ])
                ),
            ]
        );
        assert_eq!(s[2].line, 23);
    }

    #[test]
    fn suite_and_test_attributes() {
        let s = fixture("test_parse_attributes.log");
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].attributes,
            [("module".to_owned(), "example".to_owned())]
        );
        assert_eq!(s[0].subtests[0].name, "test");
        assert_eq!(
            s[0].subtests[0].attributes,
            [("speed".to_owned(), "slow".to_owned())]
        );
        assert_eq!(s[0].outcome, Outcome::Pass);
    }

    #[test]
    fn kernel_messages_inside_and_nested_suites() {
        let s = fixture("test_interrupted_tap_output.log");
        assert_eq!(s.len(), 3);
        assert!(
            s.iter().all(|s| s.outcome == Outcome::Pass),
            "{:?}",
            shape(&s)
        );
        assert_eq!(s[0].subtests.len(), 5);
        let n = fixture("test_is_test_passed-all_passed_nested.log");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].subtests.len(), 4);
        assert_eq!(n[0].subtests[1].name, "example");
        assert_eq!(n[0].subtests[1].subtests.len(), 2);
        assert!(checks(&n).iter().all(|c| c.status == Status::Pass));
    }

    #[test]
    fn directives_and_checks() {
        let log = "\
[    1.000000] KTAP version 1
[    1.000000] 1..2
[    1.000001]     KTAP version 1
[    1.000001]     # Subtest: s
[    1.000001]     1..6
[    1.000002]     ok 1 a # XFAIL known bug
[    1.000002]     not ok 2 b # TIMEOUT 30 seconds
[    1.000002]     not ok 3 c # ERROR no memory
[    1.000002]     not ok 4 d # todo later
[    1.000002]     not ok 5 - e # rc=3
[    1.000002]     ok 6 f # rcode=0
[    1.000003] not ok 1 s
[    1.000004] ok 2 empty # SKIP not built
";
        let s = parse_log(log.as_bytes());
        assert_eq!(
            shape(&s),
            vec![
                (
                    "s".into(),
                    Outcome::Fail(String::new()),
                    vec![
                        ("a".into(), Outcome::Xfail("known bug".into())),
                        ("b".into(), Outcome::Timeout("30 seconds".into())),
                        ("c".into(), Outcome::Error("no memory".into())),
                        ("d".into(), Outcome::Todo("later".into())),
                        ("e".into(), Outcome::Fail("rc=3".into())),
                        ("f".into(), Outcome::Pass),
                    ]
                ),
                ("empty".into(), Outcome::Skip("not built".into()), vec![]),
            ]
        );
        let c: Vec<(String, Status, String)> = checks(&s)
            .into_iter()
            .map(|c| (c.name, c.status, c.message))
            .collect();
        let want = [
            (
                "kunit.s.a",
                Status::Pass,
                "xfail (failed as expected): known bug",
            ),
            ("kunit.s.b", Status::Fail, "timed out: 30 seconds"),
            ("kunit.s.c", Status::Fail, "error: no memory"),
            ("kunit.s.d", Status::Pass, "todo (known broken): later"),
            ("kunit.s.e", Status::Fail, "not ok: rc=3"),
            ("kunit.s.f", Status::Pass, "ok"),
            ("kunit.empty", Status::Skipped, "skipped: not built"),
        ];
        let want: Vec<(String, Status, String)> = want
            .iter()
            .map(|(n, s, m)| (n.to_string(), *s, m.to_string()))
            .collect();
        assert_eq!(c, want);
    }

    /// KUnit 6.12's own layout: a suite with a module attribute, a
    /// parameterised test (no plan, its own `# name: …` diagnostics) and
    /// the suite's totals.
    #[test]
    fn a_parameterised_test_is_a_test_with_subtests() {
        let log = "\
[    0.5] KTAP version 1
[    0.5] 1..1
[    0.5]     KTAP version 1
[    0.5]     # Subtest: example
[    0.5]     # module: kunit_example_test
[    0.5]     1..2
[    0.5]     # example_simple_test: initializing
[    0.5]     ok 1 example_simple_test
[    0.5]         KTAP version 1
[    0.5]         # Subtest: example_params_test
[    0.5]         # example_params_test: initializing
[    0.5]         ok 1 example value 3
[    0.5]         # example_params_test: initializing
[    0.5]         not ok 2 example value 2
[    0.5]         # example_params_test: pass:1 fail:1 skip:0 total:2
[    0.5]     not ok 2 example_params_test
[    0.5]     # example: pass:1 fail:1 skip:0 total:2
[    0.5] not ok 1 example
";
        let s = parse_log(log.as_bytes());
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].attributes,
            [("module".to_owned(), "kunit_example_test".to_owned())]
        );
        let p = &s[0].subtests[1];
        assert_eq!(p.name, "example_params_test");
        assert!(p.attributes.is_empty(), "{:?}", p.attributes);
        assert_eq!(
            p.subtests
                .iter()
                .map(|t| (t.name.as_str(), t.outcome.clone()))
                .collect::<Vec<_>>(),
            [
                ("example value 3", Outcome::Pass),
                ("example value 2", Outcome::Fail(String::new()))
            ]
        );
        let c = checks(&s);
        assert_eq!(c[1].name, "kunit.example.example_params_test");
        assert_eq!(c[1].status, Status::Fail);
        assert_eq!(c[1].details[0], "2 example value 2: not ok");
    }

    #[test]
    fn no_ktap_and_two_documents() {
        assert!(parse_log(b"Linux version 6.12\nok 1 - not in a document\n").is_empty());
        // The second promises two suites and shows one.
        let two = "KTAP version 1\n1..1\nok 1 a\nKTAP version 1\n1..2\nok 1 b\n";
        let s = parse_log(two.as_bytes());
        assert_eq!(
            s.iter()
                .map(|s| (s.name.as_str(), s.outcome.clone()))
                .collect::<Vec<_>>(),
            [
                ("a", Outcome::Pass),
                ("b", Outcome::Pass),
                ("missing_2", Outcome::Missing)
            ]
        );
        let c = checks(&s);
        assert_eq!(c[2].name, "kunit.missing_2");
        assert_eq!(c[2].status, Status::Fail);
    }

    #[test]
    fn a_suite_without_its_result_line_is_crashed() {
        let log = "KTAP version 1\n1..1\n  # Subtest: s\n  1..2\n  ok 1 a\n  ok 2 b\n";
        let s = parse_log(log.as_bytes());
        assert_eq!(s[0].outcome, Outcome::Crashed);
        assert_eq!(s[0].missing, 0);
        // Its tests all ran: the checks are theirs.
        assert!(checks(&s).iter().all(|c| c.status == Status::Pass));
    }

    #[test]
    fn huge_plans_and_deep_nesting_stay_bounded() {
        let mut log = String::from("KTAP version 1\n1..1\n# Subtest: s\n1..99999999999999999\n");
        for i in 0..1000 {
            log.push_str(&" ".repeat(i + 1));
            log.push_str("KTAP version 1\n");
        }
        let s = parse_log(log.as_bytes());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].missing, 99999999999999999 - s[0].subtests.len().min(1));
        assert!(s[0].subtests.len() <= MAX_MISSING + 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any mix of KTAP-ish lines and garbage: never a panic.
        #[test]
        fn never_panics(lines in proptest::collection::vec(ktap_line(), 0..40)) {
            let text = lines.join("\n");
            let suites = parse_log(text.as_bytes());
            let _ = checks(&suites);
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = checks(&parse_log(&bytes));
        }
    }

    fn ktap_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "KTAP version 1",
            "TAP version 14",
            "KTAP version ",
            "1..",
            "1..3",
            "1..0",
            "1..18446744073709551616",
            "ok ",
            "not ok ",
            "ok 1 ",
            "not ok 99999999999999999999 x",
            "# Subtest: ",
            "# Subtest:",
            "# SKIP",
            " # XFAIL",
            " # TIMEOUT 3",
            "# a.b: c",
            "# module: m",
            "- ",
            "#",
            "[    1.234567] ",
            "[    T1] ",
            "<6>",
            "\t",
            "  ",
            "Kernel panic - not syncing: x",
            "é",
            "s",
        ]);
        (
            prop::collection::vec(piece, 0..6),
            any::<String>(),
            0..3usize,
        )
            .prop_map(|(pieces, junk, at)| {
                let mut s = pieces.concat();
                if at == 0 {
                    s.push_str(&junk);
                }
                s
            })
    }
}
