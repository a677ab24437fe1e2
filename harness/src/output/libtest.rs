//! `libtest.jsonl`: the run as the JSON lines libtest prints with
//! `-Z unstable-options --format json`, for tools that read `cargo test`'s
//! output (test result viewers, CI annotators). Tests are named
//! `<case>::build`, `<case>::boot`, `<case>::check:<name>`, like the
//! testcases of `junit.xml`.

use super::text::attempts_text;
use crate::model::results::{RunResults, TestItem};
use crate::model::Status;
use std::fmt::Write as _;

/// A JSON string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Seconds as libtest prints them (`Duration::as_secs_f64` with `{}`).
fn secs(s: f64) -> String {
    if s.is_finite() && s > 0.0 {
        format!("{s}")
    } else {
        "0".into()
    }
}

/// One line as libtest writes it: `{ "key": value, ... }`.
fn json_line(out: &mut String, fields: &[(&str, String)]) {
    out.push_str("{ ");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{k}\": {v}");
    }
    out.push_str(" }\n");
}

/// How many tests ended each way, for the suite's last line.
#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    ignored: usize,
}

/// The run as libtest's JSON lines (`--format json`): the suite started,
/// each test started and ended, the suite ended. Tests are named
/// `<case>::build`, `<case>::boot`, `<case>::check:<name>`. Pass is `ok`,
/// fail and incomplete are `failed` (with `stdout` = message, details and
/// log; `incomplete: ` first for incomplete), skipped is `ignored` (with
/// the message as the reason). A pass that failed before a retry is `ok`
/// with a `stdout` saying so.
pub fn libtest_json(r: &RunResults) -> String {
    let tests: Vec<(String, TestItem)> = r
        .cases
        .iter()
        .flat_map(|c| {
            c.tests()
                .into_iter()
                .map(move |i| (format!("{}::{}", c.name, i.id()), i))
        })
        .collect();
    let mut out = String::new();
    json_line(
        &mut out,
        &[
            ("type", q("suite")),
            ("event", q("started")),
            ("test_count", tests.len().to_string()),
        ],
    );
    let mut counts = Counts::default();
    for (name, item) in &tests {
        json_line(
            &mut out,
            &[
                ("type", q("test")),
                ("event", q("started")),
                ("name", q(name)),
            ],
        );
        json_line(&mut out, &test_end(name, item, &mut counts));
    }
    json_line(&mut out, &suite_end(&counts, r.seconds));
    out
}

/// The line that ends a test (`ok`, `failed` or `ignored`), counted.
fn test_end(name: &str, item: &TestItem, counts: &mut Counts) -> Vec<(&'static str, String)> {
    let mut fields = vec![("type", q("test")), ("name", q(name))];
    let exec_time = ("exec_time", secs(item.seconds.unwrap_or(0.0)));
    match item.status {
        Status::Pass => {
            counts.passed += 1;
            fields.push(("event", q("ok")));
            fields.push(exec_time);
            if item.unstable() {
                fields.push((
                    "stdout",
                    q(&format!(
                        "unstable: passed on a retry (attempts: {})\n",
                        attempts_text(item.attempts)
                    )),
                ));
            }
        }
        Status::Fail | Status::Incomplete => {
            counts.failed += 1;
            fields.push(("event", q("failed")));
            fields.push(exec_time);
            fields.push(("stdout", q(&failed_stdout(item))));
        }
        Status::Skipped => {
            counts.ignored += 1;
            fields.push(("event", q("ignored")));
            if !item.message.is_empty() {
                fields.push(("message", q(item.message)));
            }
        }
    }
    fields
}

/// A failed test's `stdout`: `incomplete: ` first for incomplete, the
/// message, details and log, then the attempts if it was retried.
fn failed_stdout(item: &TestItem) -> String {
    let prefix = if item.status == Status::Incomplete {
        "incomplete: "
    } else {
        ""
    };
    let mut text = format!("{prefix}{}\n", item.text());
    if !item.attempts.is_empty() {
        let _ = writeln!(text, "attempts: {}", attempts_text(item.attempts));
    }
    text
}

/// The suite's last line: `failed` if any test failed, else `ok`.
fn suite_end(counts: &Counts, seconds: f64) -> Vec<(&'static str, String)> {
    vec![
        ("type", q("suite")),
        ("event", q(if counts.failed > 0 { "failed" } else { "ok" })),
        ("passed", counts.passed.to_string()),
        ("failed", counts.failed.to_string()),
        ("ignored", counts.ignored.to_string()),
        ("measured", "0".into()),
        ("filtered_out", "0".into()),
        ("exec_time", secs(seconds)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{fixtures, parse_lines, sample};
    use crate::output::junit::junit;
    use serde_json::{json, Value};

    #[test]
    fn libtest_counts_names_and_events() {
        let r = sample();
        let lines = parse_lines(&libtest_json(&r));
        // 3 cases × (build + boot) + 3 + 2 + 1 checks.
        let n = 12;
        assert_eq!(lines.len(), 1 + 2 * n + 1);
        assert_eq!(
            lines[0],
            json!({"type": "suite", "event": "started", "test_count": n})
        );
        let ends: Vec<&Value> = lines[1..=2 * n]
            .iter()
            .filter(|l| l["event"] != "started")
            .collect();
        let started: Vec<&str> = lines[1..=2 * n]
            .iter()
            .filter(|l| l["event"] == "started")
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        let names: Vec<&str> = ends.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(started, names);
        assert_eq!(
            names,
            [
                "x86_64-lto-full-cfi::build",
                "x86_64-lto-full-cfi::boot",
                "x86_64-lto-full-cfi::check:cfi.static",
                "x86_64-lto-full-cfi::check:cfi.CFI_FORWARD_PROTO",
                "x86_64-lto-full-cfi::check:modules.runtime",
                "arm64-lto-full-cfi::build",
                "arm64-lto-full-cfi::boot",
                "arm64-lto-full-cfi::check:initcalls.static",
                "arm64-lto-full-cfi::check:initcalls.boot",
                "x86_64-lto-none::build",
                "x86_64-lto-none::boot",
                "x86_64-lto-none::check:modules.static",
            ]
        );
        let event = |name: &str| {
            ends.iter()
                .find(|l| l["name"] == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        let build = event("x86_64-lto-full-cfi::build");
        assert_eq!(build["event"], "ok");
        assert_eq!(build["exec_time"], 394.25);
        assert!(build.get("stdout").is_none());
        let unstable = event("x86_64-lto-full-cfi::check:cfi.CFI_FORWARD_PROTO");
        assert_eq!(unstable["event"], "ok");
        assert!(unstable["stdout"]
            .as_str()
            .unwrap()
            .starts_with("unstable:"));
        let failed = event("x86_64-lto-full-cfi::check:modules.runtime");
        assert_eq!(failed["event"], "failed");
        let out = failed["stdout"].as_str().unwrap();
        assert!(
            out.starts_with("lkdtm did not load\nsecond line\n"),
            "{out}"
        );
        assert!(out.contains("insmod: can't insert"), "{out}");
        assert!(out.contains("attempts: fail, fail"), "{out}");
        let incomplete = event("arm64-lto-full-cfi::boot");
        assert_eq!(incomplete["event"], "failed");
        let out = incomplete["stdout"].as_str().unwrap();
        assert!(out.starts_with("incomplete: timed out after 60 s"), "{out}");
        assert!(
            out.contains("log: /r/arm64-lto-full-cfi/console.log"),
            "{out}"
        );
        let build_failed = event("x86_64-lto-none::build");
        assert!(build_failed["stdout"]
            .as_str()
            .unwrap()
            .contains("error: \"x\" undeclared"));
        let ignored = event("x86_64-lto-none::check:modules.static");
        assert_eq!(ignored["event"], "ignored");
        assert_eq!(ignored["message"], "no kernel to check");

        let end = lines.last().unwrap();
        assert_eq!(
            *end,
            json!({"type": "suite", "event": "failed", "passed": 6, "failed": 3,
                   "ignored": 3, "measured": 0, "filtered_out": 0, "exec_time": 412.5})
        );
    }

    #[test]
    fn libtest_names_match_junit_testcases() {
        for (path, r) in fixtures().into_iter().chain([("sample".into(), sample())]) {
            let xml = junit(&r).unwrap();
            let lines = parse_lines(&libtest_json(&r));
            let ended: Vec<&Value> = lines
                .iter()
                .filter(|l| l["type"] == "test" && l["event"] != "started")
                .collect();
            assert_eq!(
                ended.len(),
                xml.matches("<testcase ").count(),
                "{}",
                path.display()
            );
            for l in &ended {
                let (case, test) = l["name"].as_str().unwrap().split_once("::").unwrap();
                assert!(xml.contains(&format!("<testsuite name=\"{case}\"")));
                assert!(
                    xml.contains(&format!("<testcase name=\"{test}\"")),
                    "{test}"
                );
            }
            let end = lines.last().unwrap();
            let passed = ended.iter().filter(|l| l["event"] == "ok").count();
            assert_eq!(end["passed"], passed);
            let ok = r.cases.iter().all(|c| {
                c.tests()
                    .iter()
                    .all(|i| matches!(i.status, Status::Pass | Status::Skipped))
            });
            assert_eq!(end["event"], if ok { "ok" } else { "failed" });
        }
    }
}
