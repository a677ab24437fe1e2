//! `kcidb.json`: the run as KernelCI's KCIDB I/O data, schema
//! v[`KCIDB_MAJOR`].[`KCIDB_MINOR`] (the latest of the `kcidb-io` package),
//! for submitting to KCIDB (`kcidb-submit`) and for anything that reads
//! its schema: one checkout (the source), one build per case, one test per
//! boot step and check.

use crate::model::results::{CaseResult, RunResults, TestItem, TestKind};
use crate::model::source::SourceIdentity;
use crate::model::Status;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The KCIDB schema version [`kcidb`] writes.
pub const KCIDB_MAJOR: u64 = 5;
pub const KCIDB_MINOR: u64 = 3;
/// The root of every KCIDB test path: `lto_harness.boot`,
/// `lto_harness.cfi.static`.
pub const KCIDB_TEST_ROOT: &str = "lto_harness";
/// KCIDB's limit on `log_excerpt`, in characters.
const KCIDB_EXCERPT_MAX: usize = 16384;

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

/// The first 24 hex digits of the SHA-256 of `parts`, each prefixed by
/// its length (so no two lists of parts hash alike).
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

/// A local path as a string, or null (which [`put`] leaves out).
fn path_value(p: Option<&Path>) -> Value {
    p.map_or(Value::Null, |p| p.display().to_string().into())
}

/// What every object of one run's KCIDB data names: who submits it, the
/// checkout, and the run (which test IDs include).
struct Ids {
    origin: String,
    checkout: String,
    run: String,
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
    let ids = Ids {
        checkout: checkout_id(r, &origin),
        run: short_hash(&["run", &r.started_at, &r.harness_version]),
        origin,
    };
    let mut builds = Vec::new();
    let mut tests = Vec::new();
    for c in &r.cases {
        let build_id = format!("{}:{}", ids.checkout, kcidb_text(&c.name));
        builds.push(build(&ids, &build_id, r, c));
        for item in c.tests().iter().filter(|i| i.kind != TestKind::Build) {
            tests.push(test(&ids, &build_id, c, item));
        }
    }
    json!({
        "version": {"major": KCIDB_MAJOR, "minor": KCIDB_MINOR},
        "checkouts": [checkout(&ids, r)],
        "builds": builds,
        "tests": tests,
    })
}

// ---- checkouts -----------------------------------------------------------------

/// `<origin>:<hash of the source identity>`, or of the run's start when
/// the source is unknown.
fn checkout_id(r: &RunResults, origin: &str) -> String {
    let checkout_hash = match &r.source {
        Some(s) => short_hash(&["source", &s.key()]),
        None => short_hash(&["unknown source", &r.started_at]),
    };
    format!("{origin}:{checkout_hash}")
}

/// The run's one checkout: its source, and the run under `misc`.
fn checkout(ids: &Ids, r: &RunResults) -> Value {
    let mut checkout = Map::new();
    let mut misc = Map::new();
    put(&mut checkout, "id", ids.checkout.clone());
    put(&mut checkout, "origin", ids.origin.clone());
    if let Some(s) = &r.source {
        checkout_source(&mut checkout, s, r.kernel_version.as_deref());
        put(
            &mut misc,
            "source",
            serde_json::to_value(s).unwrap_or(Value::Null),
        );
    }
    put(&mut misc, "kernel_version", r.kernel_version.clone());
    put(&mut misc, "harness_version", r.harness_version.as_str());
    put(&mut misc, "run_started_at", r.started_at.as_str());
    put(&mut misc, "run_seconds", r.seconds);
    put(&mut checkout, "misc", misc);
    Value::Object(checkout)
}

/// What a known source tells of the checkout: valid, a comment, the
/// repository when it is a URL, the commit, and no patches when clean.
fn checkout_source(
    checkout: &mut Map<String, Value>,
    s: &SourceIdentity,
    kernel_version: Option<&str>,
) {
    put(checkout, "valid", true);
    let mut comment = s.describe();
    if let Some(v) = kernel_version {
        comment = format!("Linux {v}: {comment}");
    }
    put(checkout, "comment", kcidb_text(&comment));
    let path = match s {
        SourceIdentity::Tarball { path, .. }
        | SourceIdentity::Git { path, .. }
        | SourceIdentity::Tree { path, .. } => path,
    };
    if let Some(url) = path.to_str().filter(|p| p.starts_with("https://")) {
        put(checkout, "git_repository_url", url);
    }
    if let SourceIdentity::Git { commit, dirty, .. } = s {
        if is_full_commit_hash(commit) {
            put(checkout, "git_commit_hash", commit.as_str());
        }
        if !dirty {
            // No patches on top of the commit.
            put(checkout, "patchset_hash", "");
        }
    }
}

/// 40 lower-case hex digits, as KCIDB wants `git_commit_hash`.
fn is_full_commit_hash(commit: &str) -> bool {
    commit.len() == 40
        && commit
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---- builds --------------------------------------------------------------------

/// A case's build: what was built, how it went, and our own fields (the
/// case, its status, the cache key and local paths) under `misc`.
fn build(ids: &Ids, build_id: &str, r: &RunResults, c: &CaseResult) -> Value {
    let mut b = Map::new();
    put(&mut b, "id", build_id);
    put(&mut b, "checkout_id", ids.checkout.clone());
    put(&mut b, "origin", ids.origin.clone());
    put(&mut b, "architecture", kcidb_origin(c.arch.name()));
    // The case's own clang (a matrix has several), else the run's.
    let compiler = c.toolchain.as_deref().or(r.toolchain.as_deref());
    put(&mut b, "compiler", compiler.map(kcidb_text));
    put(&mut b, "config_name", kcidb_text(&config_name(c)));
    put(&mut b, "status", kcidb_status(c.build.status));
    if c.build.seconds.is_finite() {
        put(&mut b, "duration", c.build.seconds.max(0.0));
    }
    if !c.build.message.is_empty() {
        put(&mut b, "comment", kcidb_text(&c.build.message));
    }
    put(&mut b, "log_excerpt", kcidb_excerpt(&c.build.error_lines));
    put(&mut b, "misc", build_misc(c));
    Value::Object(b)
}

/// `lto-<lto>`, with `+cfi` when kCFI is on.
fn config_name(c: &CaseResult) -> String {
    let mut config = format!("lto-{}", c.lto);
    if c.cfi.is_on() {
        config.push_str("+cfi");
    }
    config
}

/// A build's `misc`: the case, its status, the cache key, local paths and
/// the performance regressions.
fn build_misc(c: &CaseResult) -> Map<String, Value> {
    let mut misc = Map::new();
    put(&mut misc, "case", c.name.as_str());
    put(&mut misc, "arch", c.arch.name());
    put(&mut misc, "lto", c.lto.name());
    put(&mut misc, "cfi", c.cfi.name());
    put(&mut misc, "case_status", c.status.name());
    if let Some(v) = &c.variant {
        put(&mut misc, "toolchain", v.label.as_str());
    }
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
    misc
}

// ---- tests ---------------------------------------------------------------------

/// A boot step or check of a case's build, with its path and status; the
/// boot's QEMU details and the attempts of a retry under `misc`.
fn test(ids: &Ids, build_id: &str, c: &CaseResult, item: &TestItem) -> Value {
    let mut t = Map::new();
    put(
        &mut t,
        "id",
        format!("{build_id}:{}:{}", ids.run, kcidb_text(item.name)),
    );
    put(&mut t, "build_id", build_id);
    put(&mut t, "origin", ids.origin.clone());
    put(&mut t, "path", kcidb_test_path(item.name));
    put(&mut t, "status", kcidb_status(item.status));
    if !item.message.is_empty() {
        put(&mut t, "comment", kcidb_text(item.message));
    }
    if let Some(s) = item.seconds.filter(|s| s.is_finite()) {
        put(&mut t, "duration", s.max(0.0));
    }
    put(&mut t, "log_excerpt", kcidb_excerpt(item.details));
    put(&mut t, "misc", test_misc(c, item));
    Value::Object(t)
}

/// A test's `misc`: the case, the check and our status; for the boot, the
/// console log, the QEMU command and how QEMU ended; the attempts.
fn test_misc(c: &CaseResult, item: &TestItem) -> Map<String, Value> {
    let mut misc = Map::new();
    put(&mut misc, "case", c.name.as_str());
    put(&mut misc, "check", item.name);
    put(&mut misc, "status", item.status.name());
    if item.kind == TestKind::Boot {
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
    misc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;
    use crate::model::testdata::{fixtures, sample};
    use std::process::Command;

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

    /// The KCIDB data of the fixtures and of `sample()` is valid for the
    /// real schema, as the `kcidb-io` package has it (ci/setup installs it).
    #[test]
    fn kcidb_validates_against_kcidb_io() {
        crate::skip_unless!(
            "kcidb_validates_against_kcidb_io",
            Need::Python {
                module: "kcidb_io",
                pip: "kcidb-io==141"
            }
        );
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
}
