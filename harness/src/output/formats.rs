//! The results of a run in other systems' formats, written by
//! [`RunResults::write`] next to `results.json` and `junit.xml`:
//!
//! * [`libtest_json`] → `libtest.jsonl`: the JSON lines libtest prints with
//!   `-Z unstable-options --format json`, for tools that read `cargo test`;
//! * [`kcidb`] → `kcidb.json`: KernelCI's KCIDB I/O data, schema
//!   v[`KCIDB_MAJOR`].[`KCIDB_MINOR`] (the latest of the `kcidb-io` package);
//! * [`markdown_summary`] → `summary.md`: a few lines to paste into a reply
//!   on a mailing list.
//!
//! Every format has one test per step and check, like `junit.xml`: `build`,
//! `boot` and `check:<name>` for each check other than `boot` (which the
//! boot step already is).

use crate::model::results::{RunResults, TestItem as Item, TestKind as Kind};
use crate::model::Status;
use crate::stages::source::SourceIdentity;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;

/// The KCIDB schema version [`kcidb`] writes.
pub const KCIDB_MAJOR: u64 = 5;
pub const KCIDB_MINOR: u64 = 3;
/// The root of every KCIDB test path: `lto_harness.boot`,
/// `lto_harness.cfi.static`.
pub const KCIDB_TEST_ROOT: &str = "lto_harness";
/// KCIDB's limit on `log_excerpt`, in characters.
const KCIDB_EXCERPT_MAX: usize = 16384;

fn attempts_text(attempts: &[Status]) -> String {
    attempts
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- libtest ----------------------------------------------------------------

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

/// The run as libtest's JSON lines (`--format json`): the suite started,
/// each test started and ended, the suite ended. Tests are named
/// `<case>::build`, `<case>::boot`, `<case>::check:<name>`. Pass is `ok`,
/// fail and incomplete are `failed` (with `stdout` = message, details and
/// log; `incomplete: ` first for incomplete), skipped is `ignored` (with
/// the message as the reason). A pass that failed before a retry is `ok`
/// with a `stdout` saying so.
pub fn libtest_json(r: &RunResults) -> String {
    let tests: Vec<(String, Item)> = r
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
    let (mut passed, mut failed, mut ignored) = (0usize, 0usize, 0usize);
    for (name, item) in &tests {
        json_line(
            &mut out,
            &[
                ("type", q("test")),
                ("event", q("started")),
                ("name", q(name)),
            ],
        );
        let mut fields = vec![("type", q("test")), ("name", q(name))];
        let exec_time = ("exec_time", secs(item.seconds.unwrap_or(0.0)));
        match item.status {
            Status::Pass => {
                passed += 1;
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
                failed += 1;
                fields.push(("event", q("failed")));
                fields.push(exec_time);
                let prefix = if item.status == Status::Incomplete {
                    "incomplete: "
                } else {
                    ""
                };
                let mut text = format!("{prefix}{}\n", item.text());
                if !item.attempts.is_empty() {
                    let _ = writeln!(text, "attempts: {}", attempts_text(item.attempts));
                }
                fields.push(("stdout", q(&text)));
            }
            Status::Skipped => {
                ignored += 1;
                fields.push(("event", q("ignored")));
                if !item.message.is_empty() {
                    fields.push(("message", q(item.message)));
                }
            }
        }
        json_line(&mut out, &fields);
    }
    json_line(
        &mut out,
        &[
            ("type", q("suite")),
            ("event", q(if failed > 0 { "failed" } else { "ok" })),
            ("passed", passed.to_string()),
            ("failed", failed.to_string()),
            ("ignored", ignored.to_string()),
            ("measured", "0".into()),
            ("filtered_out", "0".into()),
            ("exec_time", secs(r.seconds)),
        ],
    );
    out
}

// ---- KCIDB --------------------------------------------------------------------

/// KCIDB's status for ours: pass PASS, fail FAIL, incomplete ERROR (the test
/// did not complete, nothing is known of the kernel), skipped SKIP.
pub fn kcidb_status(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Incomplete => "ERROR",
        Status::Skipped => "SKIP",
    }
}

/// An origin as KCIDB allows it (`^[a-z0-9_]+$`): lower case, anything
/// else `_`.
fn kcidb_origin(origin: &str) -> String {
    let o: String = origin
        .chars()
        .map(|ch| match ch.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if o.is_empty() {
        KCIDB_TEST_ROOT.into()
    } else {
        o
    }
}

/// Text as KCIDB allows it (no NUL).
fn kcidb_text(s: &str) -> String {
    s.replace('\0', "")
}

/// A log excerpt: at most KCIDB's 16384 characters, the first ones.
fn kcidb_excerpt(lines: &[String]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let text = kcidb_text(&lines.join("\n"));
    Some(text.chars().take(KCIDB_EXCERPT_MAX).collect())
}

/// A test path under [`KCIDB_TEST_ROOT`]: the check name's dots are the
/// separators; in each part, anything but `[A-Za-z0-9_-]` becomes `_`.
pub fn kcidb_test_path(check: &str) -> String {
    let mut path = KCIDB_TEST_ROOT.to_owned();
    for part in check.split('.') {
        path.push('.');
        if part.is_empty() {
            path.push('_');
        }
        path.extend(part.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        }));
    }
    path
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..24].to_owned()
}

/// Inserts `v` under `k` unless it is null (KCIDB allows no nulls).
fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    let v = v.into();
    if !v.is_null() {
        m.insert(k.into(), v);
    }
}

fn path_value(p: Option<&Path>) -> Value {
    p.map_or(Value::Null, |p| p.display().to_string().into())
}

/// The run as KCIDB I/O data (schema v[`KCIDB_MAJOR`].[`KCIDB_MINOR`]),
/// submitted by `origin` (made to fit `^[a-z0-9_]+$`).
///
/// * one checkout, from the source: `id` is `<origin>:<hash of the source
///   identity>` (of the run, when the source is unknown); a git commit is
///   `git_commit_hash`; the identity itself (tarball sha256, tree path,
///   dirty diff hash) is under `misc.source`;
/// * one build per case, `<checkout id>:<case>`, with `config_name`
///   `lto-<lto>[+cfi]`; local file paths (logs, artefacts) are under
///   `misc`, not in the `*_url` fields, which must be URLs;
/// * one test per boot step and check, `<build id>:<run>:<check>` where
///   `<run>` is a hash of the run's start time, with the path
///   `lto_harness.boot` or `lto_harness.<check>` ([`kcidb_test_path`]);
///   retries are in `misc.attempts` and `misc.unstable`.
pub fn kcidb(r: &RunResults, origin: &str) -> Value {
    let origin = kcidb_origin(origin);
    let run = short_hash(&["run", &r.started_at, &r.harness_version]);

    let mut checkout = Map::new();
    let mut checkout_misc = Map::new();
    let checkout_hash = match &r.source {
        Some(s) => short_hash(&["source", &s.key()]),
        None => short_hash(&["unknown source", &r.started_at]),
    };
    let checkout_id = format!("{origin}:{checkout_hash}");
    put(&mut checkout, "id", checkout_id.clone());
    put(&mut checkout, "origin", origin.clone());
    if let Some(s) = &r.source {
        put(&mut checkout, "valid", true);
        let mut comment = s.describe();
        if let Some(v) = &r.kernel_version {
            comment = format!("Linux {v}: {comment}");
        }
        put(&mut checkout, "comment", kcidb_text(&comment));
        let path = match s {
            SourceIdentity::Tarball { path, .. }
            | SourceIdentity::Git { path, .. }
            | SourceIdentity::Tree { path, .. } => path,
        };
        if let Some(url) = path.to_str().filter(|p| p.starts_with("https://")) {
            put(&mut checkout, "git_repository_url", url);
        }
        if let SourceIdentity::Git { commit, dirty, .. } = s {
            if commit.len() == 40
                && commit
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                put(&mut checkout, "git_commit_hash", commit.as_str());
            }
            if !dirty {
                // No patches on top of the commit.
                put(&mut checkout, "patchset_hash", "");
            }
        }
        put(
            &mut checkout_misc,
            "source",
            serde_json::to_value(s).unwrap_or(Value::Null),
        );
    }
    put(
        &mut checkout_misc,
        "kernel_version",
        r.kernel_version.clone(),
    );
    put(
        &mut checkout_misc,
        "harness_version",
        r.harness_version.as_str(),
    );
    put(&mut checkout_misc, "run_started_at", r.started_at.as_str());
    put(&mut checkout_misc, "run_seconds", r.seconds);
    put(&mut checkout, "misc", checkout_misc);

    let mut builds = Vec::new();
    let mut tests = Vec::new();
    for c in &r.cases {
        let build_id = format!("{checkout_id}:{}", kcidb_text(&c.name));
        let mut b = Map::new();
        put(&mut b, "id", build_id.clone());
        put(&mut b, "checkout_id", checkout_id.clone());
        put(&mut b, "origin", origin.clone());
        put(&mut b, "architecture", kcidb_origin(c.arch.name()));
        put(&mut b, "compiler", r.toolchain.as_deref().map(kcidb_text));
        let mut config = format!("lto-{}", c.lto);
        if c.cfi.is_on() {
            config.push_str("+cfi");
        }
        put(&mut b, "config_name", kcidb_text(&config));
        put(&mut b, "status", kcidb_status(c.build.status));
        if c.build.seconds.is_finite() {
            put(&mut b, "duration", c.build.seconds.max(0.0));
        }
        if !c.build.message.is_empty() {
            put(&mut b, "comment", kcidb_text(&c.build.message));
        }
        put(&mut b, "log_excerpt", kcidb_excerpt(&c.build.error_lines));
        let mut misc = Map::new();
        put(&mut misc, "case", c.name.as_str());
        put(&mut misc, "arch", c.arch.name());
        put(&mut misc, "lto", c.lto.name());
        put(&mut misc, "cfi", c.cfi.name());
        put(&mut misc, "case_status", c.status.name());
        put(&mut misc, "reused", c.build.reused);
        put(&mut misc, "key", c.build.key.clone());
        put(&mut misc, "log", path_value(c.build.log.as_deref()));
        put(
            &mut misc,
            "metadata",
            path_value(c.build.metadata.as_deref()),
        );
        put(
            &mut misc,
            "artifacts",
            path_value(c.build.artifacts.as_deref()),
        );
        if !c.regressions.is_empty() {
            put(
                &mut misc,
                "regressions",
                serde_json::to_value(&c.regressions).unwrap_or(Value::Null),
            );
        }
        put(&mut b, "misc", misc);
        builds.push(Value::Object(b));

        for item in c.tests().iter().filter(|i| i.kind != Kind::Build) {
            let mut t = Map::new();
            put(
                &mut t,
                "id",
                format!("{build_id}:{run}:{}", kcidb_text(item.name)),
            );
            put(&mut t, "build_id", build_id.clone());
            put(&mut t, "origin", origin.clone());
            put(&mut t, "path", kcidb_test_path(item.name));
            put(&mut t, "status", kcidb_status(item.status));
            if !item.message.is_empty() {
                put(&mut t, "comment", kcidb_text(item.message));
            }
            if let Some(s) = item.seconds.filter(|s| s.is_finite()) {
                put(&mut t, "duration", s.max(0.0));
            }
            put(&mut t, "log_excerpt", kcidb_excerpt(item.details));
            let mut misc = Map::new();
            put(&mut misc, "case", c.name.as_str());
            put(&mut misc, "check", item.name);
            put(&mut misc, "status", item.status.name());
            if item.kind == Kind::Boot {
                put(&mut misc, "console_log", path_value(item.log));
                put(&mut misc, "qemu_command", c.boot.qemu_command.clone());
                put(
                    &mut misc,
                    "end",
                    serde_json::to_value(&c.boot.end).unwrap_or_default(),
                );
            }
            if !item.attempts.is_empty() {
                put(
                    &mut misc,
                    "attempts",
                    item.attempts.iter().map(|s| s.name()).collect::<Vec<_>>(),
                );
                put(&mut misc, "unstable", item.unstable());
            }
            put(&mut t, "misc", misc);
            tests.push(Value::Object(t));
        }
    }

    json!({
        "version": {"major": KCIDB_MAJOR, "minor": KCIDB_MINOR},
        "checkouts": [Value::Object(checkout)],
        "builds": builds,
        "tests": tests,
    })
}

// ---- Markdown -----------------------------------------------------------------

/// The first line of `s`, at most `max` characters (`...` when cut).
fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim_end();
    if line.chars().count() > max {
        let mut l: String = line.chars().take(max).collect();
        l.push_str("...");
        l
    } else {
        line.to_owned()
    }
}

/// A table cell: no `|` or line break.
fn cell(s: &str) -> String {
    first_line(s, 80).replace('|', "/")
}

/// A short summary to paste into a mail: the counts, a table of the cases
/// (padded, so it reads as plain text too), and every step or check that
/// did not pass, or passed only on a retry, with the first line of its
/// message. Markdown, no HTML.
pub fn markdown_summary(r: &RunResults) -> String {
    let mut cases = [0usize; 4];
    let mut tests = [0usize; 4];
    let idx = |s: Status| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Incomplete => 2,
        Status::Skipped => 3,
    };
    for c in &r.cases {
        cases[idx(c.status)] += 1;
        for i in c.tests() {
            tests[idx(i.status)] += 1;
        }
    }
    let counts = |n: &[usize; 4]| {
        ["pass", "fail", "incomplete", "skipped"]
            .iter()
            .zip(n)
            .filter(|(name, n)| **n > 0 || **name == "pass" || **name == "fail")
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total_tests: usize = tests.iter().sum();
    let mut out = format!(
        "lto-harness: {} case{}: {}; {} steps and checks: {}\n",
        r.cases.len(),
        if r.cases.len() == 1 { "" } else { "s" },
        counts(&cases),
        total_tests,
        counts(&tests),
    );
    let mut about = Vec::new();
    if let Some(v) = &r.kernel_version {
        about.push(format!("Linux {v}"));
    }
    if let Some(s) = &r.source {
        about.push(s.describe());
    }
    if let Some(t) = &r.toolchain {
        about.push(t.clone());
    }
    about.push(format!("lto-harness {}", r.harness_version));
    let _ = writeln!(out, "\n{}", about.join("; "));

    if !r.cases.is_empty() {
        let header = ["case", "arch", "lto", "cfi", "status"];
        let rows: Vec<[String; 5]> = r
            .cases
            .iter()
            .map(|c| {
                [
                    cell(&c.name),
                    cell(c.arch.name()),
                    cell(c.lto.name()),
                    cell(c.cfi.name()),
                    c.status.name().to_owned(),
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &rows {
            for (w, v) in width.iter_mut().zip(row) {
                *w = (*w).max(v.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        out.push('\n');
        out.push_str(&line(&header.map(String::from)));
        out.push_str(&line(&width.map(|w| "-".repeat(w))));
        for row in &rows {
            out.push_str(&line(row));
        }
    }

    let mut notes = Vec::new();
    for c in &r.cases {
        for i in c.tests() {
            let what = i.id();
            if i.status != Status::Pass {
                notes.push(format!(
                    "- {} {what}: {}: {}",
                    c.name,
                    i.status.name(),
                    first_line(i.message, 240)
                ));
            } else if i.unstable() {
                notes.push(format!(
                    "- {} {what}: unstable (passed on a retry; attempts: {}): {}",
                    c.name,
                    attempts_text(i.attempts),
                    first_line(i.message, 240)
                ));
            }
        }
    }
    out.push('\n');
    if notes.is_empty() {
        out.push_str("Every step and check passed.\n");
    } else {
        out.push_str("Not passing:\n\n");
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::results::{BootStep, BuildStep, CaseResult, Summary};
    use crate::model::CheckResult;
    use std::path::PathBuf;
    use std::process::Command;

    fn check(name: &str, status: Status, message: &str) -> CheckResult {
        CheckResult::new(name, status, message)
    }

    fn case(name: &str, build: Status, boot: Status, checks: Vec<CheckResult>) -> CaseResult {
        let mut c = CaseResult {
            name: name.into(),
            arch: if name.starts_with("arm64") {
                crate::model::Arch::Arm64
            } else {
                crate::model::Arch::X86_64
            },
            lto: crate::model::Lto::Full,
            cfi: crate::model::Switch::On,
            status: Status::Skipped,
            build: BuildStep {
                status: build,
                message: "built in 394 s".into(),
                seconds: 394.25,
                reused: false,
                key: Some("488b320d3017".into()),
                artifacts: Some("/c/builds/488b".into()),
                log: Some(format!("/r/{name}/build.log").into()),
                metadata: None,
                error_lines: if build == Status::Fail {
                    vec!["foo.c:1:2: error: \"x\" undeclared".into()]
                } else {
                    vec![]
                },
            },
            boot: BootStep {
                status: boot,
                message: "init ran from start marker to end marker".into(),
                seconds: 3.5,
                console_log: Some(format!("/r/{name}/console.log").into()),
                qemu_command: Some("qemu-system-x86_64 -m 512".into()),
                end: Some(crate::model::results::BootEnd::Exited { code: Some(0) }),
                attempts: vec![],
            },
            checks,
            regressions: vec![],
        };
        c.compute_status();
        c
    }

    /// Every status, a retried check (unstable) and a retried boot, a git
    /// source.
    fn sample() -> RunResults {
        let mut unstable = check("cfi.CFI_FORWARD_PROTO", Status::Pass, "stopped as expected");
        unstable.attempts = vec![Status::Fail, Status::Pass];
        let mut still_failing = check(
            "modules.runtime",
            Status::Fail,
            "lkdtm did not load\nsecond line",
        );
        still_failing.attempts = vec![Status::Fail, Status::Fail];
        still_failing.details = vec!["console line 12: insmod: can't insert 'lkdtm.ko'".into()];
        let mut arm = case(
            "arm64-lto-full-cfi",
            Status::Pass,
            Status::Incomplete,
            vec![
                check("initcalls.static", Status::Pass, "180 initcalls"),
                check("initcalls.boot", Status::Skipped, "no boot to check"),
            ],
        );
        arm.boot.message = "timed out after 60 s".into();
        arm.boot.attempts = vec![Status::Incomplete, Status::Incomplete];
        let mut r = RunResults {
            harness_version: "0.1.0".into(),
            started_at: "2026-11-26T09:12:38.960091874Z".into(),
            seconds: 412.5,
            source: Some(SourceIdentity::Git {
                path: "/src/linux".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                dirty: true,
                diff_sha256: Some("ab".repeat(32)),
            }),
            kernel_version: Some("6.12.117".into()),
            toolchain: Some("Debian clang version 19.1.7 (3~deb12u1)".into()),
            cases: vec![
                case(
                    "x86_64-lto-full-cfi",
                    Status::Pass,
                    Status::Pass,
                    vec![
                        check("cfi.static", Status::Pass, "kCFI instrumented"),
                        unstable,
                        still_failing,
                    ],
                ),
                arm,
                case(
                    "x86_64-lto-none",
                    Status::Fail,
                    Status::Skipped,
                    vec![check(
                        "modules.static",
                        Status::Skipped,
                        "no kernel to check",
                    )],
                ),
            ],
            blessed: vec![],
            summary: Summary::default(),
        };
        r.summarise();
        r
    }

    fn fixtures() -> Vec<(PathBuf, RunResults)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results");
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| {
                let r: RunResults = serde_json::from_slice(&std::fs::read(&p).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, r)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(v.len() >= 3, "fixtures in {}", dir.display());
        v
    }

    fn parse_lines(s: &str) -> Vec<Value> {
        s.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

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
            let xml = r.junit().unwrap();
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

    #[test]
    fn every_status_maps_to_its_kcidb_status() {
        assert_eq!(kcidb_status(Status::Pass), "PASS");
        assert_eq!(kcidb_status(Status::Fail), "FAIL");
        assert_eq!(kcidb_status(Status::Incomplete), "ERROR");
        assert_eq!(kcidb_status(Status::Skipped), "SKIP");

        let r = sample();
        let k = kcidb(&r, "lto_harness");
        let tests = k["tests"].as_array().unwrap();
        // Boot and checks, not builds: 3 boots + 6 checks.
        assert_eq!(tests.len(), 9);
        let by_path = |build: &str, path: &str| {
            tests
                .iter()
                .find(|t| t["path"] == path && t["build_id"].as_str().unwrap().ends_with(build))
                .unwrap_or_else(|| panic!("{build} {path}"))
        };
        let x86 = ":x86_64-lto-full-cfi";
        assert_eq!(by_path(x86, "lto_harness.boot")["status"], "PASS");
        assert_eq!(by_path(x86, "lto_harness.cfi.static")["status"], "PASS");
        let unstable = by_path(x86, "lto_harness.cfi.CFI_FORWARD_PROTO");
        assert_eq!(unstable["status"], "PASS");
        assert_eq!(unstable["misc"]["unstable"], true);
        assert_eq!(unstable["misc"]["attempts"], json!(["fail", "pass"]));
        let failed = by_path(x86, "lto_harness.modules.runtime");
        assert_eq!(failed["status"], "FAIL");
        assert_eq!(failed["misc"]["unstable"], false);
        assert_eq!(failed["comment"], "lkdtm did not load\nsecond line");
        assert!(failed["log_excerpt"]
            .as_str()
            .unwrap()
            .contains("can't insert"));
        let arm = ":arm64-lto-full-cfi";
        assert_eq!(by_path(arm, "lto_harness.boot")["status"], "ERROR");
        assert_eq!(by_path(arm, "lto_harness.initcalls.boot")["status"], "SKIP");
        assert_eq!(
            by_path(":x86_64-lto-none", "lto_harness.boot")["status"],
            "SKIP"
        );

        let builds = k["builds"].as_array().unwrap();
        let statuses: Vec<&str> = builds
            .iter()
            .map(|b| b["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["PASS", "PASS", "FAIL"]);
        assert_eq!(builds[0]["config_name"], "lto-full+cfi");
        assert_eq!(builds[1]["architecture"], "arm64");
        assert_eq!(
            builds[0]["compiler"],
            "Debian clang version 19.1.7 (3~deb12u1)"
        );
        let checkout = &k["checkouts"][0];
        assert_eq!(
            checkout["git_commit_hash"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        // A local path is not a repository URL; dirty, so no patchset hash.
        assert!(checkout.get("git_repository_url").is_none());
        assert!(checkout.get("patchset_hash").is_none());
        assert_eq!(builds[0]["checkout_id"], checkout["id"]);
        assert!(checkout["id"].as_str().unwrap().starts_with("lto_harness:"));

        // IDs are unique, and stable from one run of a source to the next
        // (tests are per run).
        let mut ids: Vec<&str> = tests.iter().map(|t| t["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), tests.len());
        let mut again = r.clone();
        again.started_at = "2026-11-27T00:00:00Z".into();
        let k2 = kcidb(&again, "lto_harness");
        assert_eq!(k2["checkouts"][0]["id"], checkout["id"]);
        assert_eq!(k2["builds"][0]["id"], builds[0]["id"]);
        assert_ne!(k2["tests"][0]["id"], tests[0]["id"]);
    }

    #[test]
    fn kcidb_origin_and_paths_fit_the_schema_patterns() {
        assert_eq!(kcidb_origin("LTO-Harness CI"), "lto_harness_ci");
        assert_eq!(kcidb_origin(""), "lto_harness");
        assert_eq!(kcidb_test_path("boot"), "lto_harness.boot");
        assert_eq!(
            kcidb_test_path("cfi.CFI_FORWARD_PROTO"),
            "lto_harness.cfi.CFI_FORWARD_PROTO"
        );
        assert_eq!(kcidb_test_path("a b..c"), "lto_harness.a_b._.c");
        let k = kcidb(&sample(), "Some CI");
        assert_eq!(k["builds"][0]["origin"], "some_ci");
        assert!(k["tests"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("some_ci:"));
    }

    #[test]
    fn markdown_lists_every_failing_check() {
        let md = markdown_summary(&sample());
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "lto-harness: 3 cases: 0 pass, 2 fail, 1 incomplete; \
             12 steps and checks: 6 pass, 2 fail, 1 incomplete, 3 skipped"
        );
        assert!(
            md.contains("| case                | arch   | lto  | cfi | status     |"),
            "{md}"
        );
        assert!(
            md.contains("| arm64-lto-full-cfi  | arm64  | full | on  | incomplete |"),
            "{md}"
        );
        for want in [
            "- x86_64-lto-full-cfi check:modules.runtime: fail: lkdtm did not load\n",
            "- arm64-lto-full-cfi boot: incomplete: timed out after 60 s\n",
            "- arm64-lto-full-cfi check:initcalls.boot: skipped: no boot to check\n",
            "- x86_64-lto-none build: fail: built in 394 s\n",
            "- x86_64-lto-none boot: skipped:",
            "- x86_64-lto-none check:modules.static: skipped: no kernel to check\n",
            "- x86_64-lto-full-cfi check:cfi.CFI_FORWARD_PROTO: unstable (passed on a retry; attempts: fail, pass)",
        ] {
            assert!(md.contains(want), "{want}\n---\n{md}");
        }
        assert!(!md.contains("second line"), "{md}");
        assert!(!md.contains("check:cfi.static"), "{md}");
        assert!(!md.contains('<'), "{md}");

        let (_, pass) = fixtures()
            .into_iter()
            .find(|(p, _)| p.ends_with("all-pass.json"))
            .unwrap();
        let md = markdown_summary(&pass);
        assert!(
            md.starts_with("lto-harness: 6 cases: 6 pass, 0 fail; "),
            "{md}"
        );
        assert!(md.contains("Every step and check passed."), "{md}");
    }

    /// The KCIDB data of the fixtures and of `sample()` is valid for the
    /// real schema, as the `kcidb-io` package has it (ci/setup installs it).
    #[test]
    fn kcidb_validates_against_kcidb_io() {
        let probe = Command::new("python3")
            .args(["-c", "import kcidb_io"])
            .output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "python3 cannot import kcidb_io: `pip install kcidb-io` (ci/setup installs it): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!(
                "cannot run python3 ({e}): install it and `pip install kcidb-io` (ci/setup does)"
            ),
        }
        // Exactly the version written, and the latest the package knows
        // (which accepts older minor versions).
        let script = "import json, sys, kcidb_io\n\
                      data = json.load(open(sys.argv[1]))\n\
                      v = data['version']\n\
                      exact = getattr(kcidb_io.schema, 'V%d_%d' % (v['major'], v['minor']))\n\
                      exact.validate_exactly(data)\n\
                      kcidb_io.schema.LATEST.validate(data)\n";
        let dir = tempfile::tempdir().unwrap();
        for (name, r) in fixtures().into_iter().chain([("sample".into(), sample())]) {
            let file = dir.path().join("kcidb.json");
            let data = kcidb(&r, "lto_harness");
            std::fs::write(&file, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
            let out = Command::new("python3")
                .args(["-c", script])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: kcidb.json is not valid KCIDB v{KCIDB_MAJOR}.{KCIDB_MINOR}:\n{}\n{}",
                name.display(),
                String::from_utf8_lossy(&out.stderr),
                serde_json::to_string_pretty(&data).unwrap()
            );
        }
    }

    #[test]
    fn write_puts_every_format_next_to_results_json() {
        let d = tempfile::tempdir().unwrap();
        let r = sample();
        r.write(d.path()).unwrap();
        for f in [
            "results.json",
            "junit.xml",
            "libtest.jsonl",
            "kcidb.json",
            "summary.md",
        ] {
            assert!(d.path().join(f).is_file(), "{f}");
        }
        let k: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("kcidb.json")).unwrap()).unwrap();
        assert_eq!(k, kcidb(&r, "lto_harness"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("libtest.jsonl")).unwrap(),
            libtest_json(&r)
        );
    }
}
