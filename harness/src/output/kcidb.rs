//! `kcidb.json`: the run as KernelCI's KCIDB I/O data, schema
//! v[`KCIDB_MAJOR`].[`KCIDB_MINOR`] (the latest of the `kcidb-io` package),
//! for submitting to KCIDB (`kcidb-submit`) and for anything that reads
//! its schema: one checkout (the source), one build per case, one test per
//! boot step and check. `bench::kcidb` writes a bench's figures the same
//! way, with the building blocks here.
//!
//! What it is written with is [`KcidbOptions`]: the origin (every
//! object's `origin` and the prefix of its ID) and, when the results
//! directory is published, the URL it is published at (the files the
//! results name become `log_url`s).

use crate::model::results::{CaseResult, RunResults, TestItem, TestKind};
use crate::model::source::SourceIdentity;
use crate::model::{Cfi, Lto, Status};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// The KCIDB schema version [`kcidb`] writes.
pub const KCIDB_MAJOR: u64 = 5;
pub const KCIDB_MINOR: u64 = 3;
/// The origin written when none is given (`--kcidb-origin`).
pub const DEFAULT_ORIGIN: &str = "lto_harness";
/// The path of the boot step's test, from KCIDB's test catalog
/// (`kcidb/tests.yaml`: "Machine booted with the tested kernel").
pub const KCIDB_BOOT_PATH: &str = "boot";
/// The root of the paths of our own tests (checks, bench figures), which
/// the catalog does not have: `lto_harness.cfi.static`,
/// `lto_harness.bench.size.text`.
pub const KCIDB_TEST_ROOT: &str = "lto_harness";
/// KCIDB's limit on `log_excerpt`, in characters.
const KCIDB_EXCERPT_MAX: usize = 16384;

/// How `kcidb.json` is written: who submits it and where its files are
/// published. [`Default`]: origin [`DEFAULT_ORIGIN`], no URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KcidbOptions {
    /// Every object's `origin` and the prefix of its ID; fits
    /// `^[a-z0-9_]+$` ([`check_origin`]).
    origin: String,
    /// Where the results directory is published, when it is.
    artifacts: Option<ArtifactBase>,
}

/// A published results directory: a file under `root` is at `url` +
/// `/` + its path under `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArtifactBase {
    /// Without a trailing `/`.
    url: String,
    root: PathBuf,
}

impl Default for KcidbOptions {
    fn default() -> Self {
        KcidbOptions {
            origin: DEFAULT_ORIGIN.into(),
            artifacts: None,
        }
    }
}

impl KcidbOptions {
    /// Submitted by `origin` ([`check_origin`]); with `artifact_base_url`
    /// ([`check_base_url`]), the files under `results_root` (the results
    /// directory as published) get URLs under it.
    pub fn new(
        origin: &str,
        artifact_base_url: Option<&str>,
        results_root: &Path,
    ) -> anyhow::Result<KcidbOptions> {
        check_origin(origin).map_err(|e| anyhow::anyhow!("--kcidb-origin: {e}"))?;
        let artifacts = match artifact_base_url {
            Some(url) => {
                check_base_url(url).map_err(|e| anyhow::anyhow!("--artifact-base-url: {e}"))?;
                Some(ArtifactBase {
                    url: url.trim_end_matches('/').to_owned(),
                    root: results_root.to_owned(),
                })
            }
            None => None,
        };
        Ok(KcidbOptions {
            origin: origin.to_owned(),
            artifacts,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The URL of a file the results name: the base URL and its path
    /// under the results directory, each part percent-encoded. None
    /// without a base URL, or for a file outside the directory (the kernel
    /// cache, another run's directory) or without a UTF-8 path.
    pub fn url_of(&self, file: &Path) -> Option<String> {
        let a = self.artifacts.as_ref()?;
        // `./r/x` is `r/x`, and `.` is where `x` is.
        let here =
            |p: &Path| -> PathBuf { p.components().filter(|c| *c != Component::CurDir).collect() };
        let rel = here(file)
            .strip_prefix(here(&a.root))
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| {
                // The same place, spelled differently (relative and
                // absolute, through a symbolic link).
                let root = a.root.canonicalize().ok()?;
                let file = file.canonicalize().ok()?;
                file.strip_prefix(root).ok().map(Path::to_path_buf)
            })?;
        let mut url = a.url.clone();
        let mut parts = 0;
        for c in rel.components() {
            match c {
                Component::Normal(part) => {
                    url.push('/');
                    url.push_str(&percent_encode(part.to_str()?));
                    parts += 1;
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        (parts > 0).then_some(url)
    }
}

/// An origin as KCIDB takes it (`^[a-z0-9_]+$`), as KernelCI issues it:
/// `Ok` or what is wrong with it.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let fits = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if !origin.is_empty() && origin.chars().all(fits) {
        return Ok(());
    }
    Err(format!(
        "`{origin}` is not a KCIDB origin: it takes lower-case letters, digits and `_` \
         (^[a-z0-9_]+$), as KernelCI issued it to you"
    ))
}

/// A base URL the results' paths can be appended to: `scheme://host`
/// and an optional path, URI characters only (`%XX` escapes), no query
/// or fragment (the file's path would end up inside it).
pub fn check_base_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{url}` is not a base URL: {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("it needs a scheme and a host, as in https://example.org/runs/42");
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return bad("its scheme is not one (letters, digits, `+-.`)");
    }
    if rest.split('/').next().unwrap_or("").is_empty() {
        return bad("it has no host");
    }
    if rest.contains(['?', '#']) {
        return bad("a query or fragment (`?`, `#`) would end up before the files' paths");
    }
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match b {
            b'%' => bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
            b'/' | b'[' | b']' => true,
            _ => is_path_char(b),
        };
        if !ok {
            return bad(&format!(
                "`{}` cannot be in a URL unescaped",
                url[url.len() - rest.len() + i..]
                    .chars()
                    .next()
                    .unwrap_or('?')
            ));
        }
    }
    Ok(())
}

/// A character a URL path segment holds as it is (RFC 3986 `pchar` but
/// `%`): unreserved, sub-delims, `:` and `@`.
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// One path segment, every byte but [`is_path_char`]s as `%XX`.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for &b in segment.as_bytes() {
        if is_path_char(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

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

/// A name as KCIDB's `architecture` allows it (`^[a-z0-9_]*$`): lower
/// case, anything else `_`.
pub(crate) fn kcidb_name(name: &str) -> String {
    name.chars()
        .map(|ch| match ch.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// Text as KCIDB allows it (no NUL).
pub(crate) fn kcidb_text(s: &str) -> String {
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
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..24].to_owned()
}

/// Inserts `v` under `k` unless it is null (KCIDB allows no nulls).
pub(crate) fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    let v = v.into();
    if !v.is_null() {
        m.insert(k.into(), v);
    }
}

/// A local path as a string, or null (which [`put`] leaves out).
fn path_value(p: Option<&Path>) -> Value {
    p.map_or(Value::Null, |p| p.display().to_string().into())
}

/// A file as KCIDB's `output_files` names one: its file name and URL;
/// null without a URL.
pub(crate) fn resource(opts: &KcidbOptions, file: Option<&Path>) -> Value {
    let Some(file) = file else {
        return Value::Null;
    };
    match (file.file_name().and_then(|n| n.to_str()), opts.url_of(file)) {
        (Some(name), Some(url)) => json!({"name": kcidb_text(name), "url": url}),
        _ => Value::Null,
    }
}

/// The QEMU a test ran under, as a test's `environment` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QemuEnvironment {
    /// `qemu-system-… --version`'s first line.
    pub version: Option<String>,
    /// `tcg` or `kvm`.
    pub accel: Option<String>,
}

impl QemuEnvironment {
    /// `environment`: both in words (`comment`) and as data (`misc`);
    /// null when neither is known.
    pub(crate) fn kcidb(&self) -> Value {
        let (version, accel) = (self.version.as_deref(), self.accel.as_deref());
        let comment: Vec<String> = version
            .map(kcidb_text)
            .into_iter()
            .chain(accel.map(|a| format!("accelerator {}", kcidb_text(a))))
            .collect();
        if comment.is_empty() {
            return Value::Null;
        }
        let mut misc = Map::new();
        put(&mut misc, "qemu_version", version);
        put(&mut misc, "accel", accel);
        json!({"comment": comment.join(", "), "misc": misc})
    }
}

/// What every object of one run's KCIDB data names: who submits it, the
/// checkout, and the run (which test IDs include).
pub(crate) struct Ids<'a> {
    pub origin: &'a str,
    pub checkout: String,
    /// What test IDs include to tell runs apart.
    pub run: String,
}

/// The run as KCIDB I/O data (schema v[`KCIDB_MAJOR`].[`KCIDB_MINOR`]),
/// submitted by `opts.origin()`.
///
/// * one checkout, from the source: `id` is `<origin>:<hash of the source
///   identity>` (of the run, when the source is unknown); a git commit is
///   `git_commit_hash`; the identity itself (tarball sha256, tree path,
///   dirty diff hash) is under `misc.source`;
/// * one build per case, `<checkout id>:<case>`, with `config_name`
///   `lto-<lto>[+cfi]`; local file paths (logs, artefacts) are under
///   `misc`; with a base URL, build.log is `log_url` and metadata.json is
///   in `output_files`;
/// * one test per boot step and check, `<build id>:<run>:<check>` where
///   `<run>` is a hash of the run's start time; the boot's path is
///   [`KCIDB_BOOT_PATH`], a check's `lto_harness.<check>`
///   ([`kcidb_test_path`]); the boot's QEMU version and accelerator are
///   its `environment`, its console log its `log_url`; retries are in
///   `misc.attempts` and `misc.unstable`.
pub fn kcidb(r: &RunResults, opts: &KcidbOptions) -> Value {
    let ids = Ids {
        origin: opts.origin(),
        checkout: checkout_id(r.source.as_ref(), &r.started_at, opts.origin()),
        run: short_hash(&["run", &r.started_at, &r.harness_version]),
    };
    let mut builds = Vec::new();
    let mut tests = Vec::new();
    for c in &r.cases {
        let build_id = format!("{}:{}", ids.checkout, kcidb_text(&c.name));
        builds.push(build(&ids, &build_id, r, c, opts));
        for item in c.tests().iter().filter(|i| i.kind != TestKind::Build) {
            tests.push(test(&ids, &build_id, c, item, opts));
        }
    }
    let mut run = Map::new();
    put(&mut run, "harness_version", r.harness_version.as_str());
    put(&mut run, "run_started_at", r.started_at.as_str());
    put(&mut run, "run_seconds", r.seconds);
    let checkout = checkout(&ids, r.source.as_ref(), r.kernel_version.as_deref(), run);
    json!({
        "version": {"major": KCIDB_MAJOR, "minor": KCIDB_MINOR},
        "checkouts": [checkout],
        "builds": builds,
        "tests": tests,
    })
}

// ---- checkouts -----------------------------------------------------------------

/// `<origin>:<hash of the source identity>`, or of the run's start when
/// the source is unknown.
pub(crate) fn checkout_id(
    source: Option<&SourceIdentity>,
    started_at: &str,
    origin: &str,
) -> String {
    let checkout_hash = match source {
        Some(s) => short_hash(&["source", &s.key()]),
        None => short_hash(&["unknown source", started_at]),
    };
    format!("{origin}:{checkout_hash}")
}

/// The one checkout: its source, and under `misc` the source identity,
/// the kernel version and `run` (what run or bench this is).
pub(crate) fn checkout(
    ids: &Ids,
    source: Option<&SourceIdentity>,
    kernel_version: Option<&str>,
    run: Map<String, Value>,
) -> Value {
    let mut checkout = Map::new();
    let mut misc = Map::new();
    put(&mut checkout, "id", ids.checkout.clone());
    put(&mut checkout, "origin", ids.origin);
    if let Some(s) = source {
        checkout_source(&mut checkout, s, kernel_version);
        put(
            &mut misc,
            "source",
            serde_json::to_value(s).unwrap_or(Value::Null),
        );
    }
    put(&mut misc, "kernel_version", kernel_version);
    misc.extend(run);
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

/// A case's build: what was built, how it went, its log and metadata
/// when published, and our own fields (the case, its status, the cache
/// key and local paths) under `misc`.
fn build(ids: &Ids, build_id: &str, r: &RunResults, c: &CaseResult, opts: &KcidbOptions) -> Value {
    let mut b = Map::new();
    put(&mut b, "id", build_id);
    put(&mut b, "checkout_id", ids.checkout.clone());
    put(&mut b, "origin", ids.origin);
    put(&mut b, "architecture", kcidb_name(c.arch.name()));
    // The case's own clang (a matrix has several), else the run's.
    let compiler = c.toolchain.as_deref().or(r.toolchain.as_deref());
    put(&mut b, "compiler", compiler.map(kcidb_text));
    put(
        &mut b,
        "config_name",
        kcidb_text(&config_name(c.lto, c.cfi)),
    );
    put(&mut b, "status", kcidb_status(c.build.status));
    if c.build.seconds.is_finite() {
        put(&mut b, "duration", c.build.seconds.max(0.0));
    }
    if !c.build.message.is_empty() {
        put(&mut b, "comment", kcidb_text(&c.build.message));
    }
    put(&mut b, "log_excerpt", kcidb_excerpt(&c.build.error_lines));
    if let Some(url) = c.build.log.as_deref().and_then(|l| opts.url_of(l)) {
        put(&mut b, "log_url", url);
    }
    let metadata = resource(opts, c.build.metadata.as_deref());
    if !metadata.is_null() {
        put(&mut b, "output_files", vec![metadata]);
    }
    put(&mut b, "misc", build_misc(c));
    Value::Object(b)
}

/// `lto-<lto>`, with `+cfi` when kCFI is on.
pub(crate) fn config_name(lto: Lto, cfi: Cfi) -> String {
    let mut config = format!("lto-{lto}");
    if cfi.is_on() {
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
/// boot's console log (`log_url`) and QEMU (`environment`); our own
/// fields, the attempts of a retry among them, under `misc`.
fn test(ids: &Ids, build_id: &str, c: &CaseResult, item: &TestItem, opts: &KcidbOptions) -> Value {
    let mut t = Map::new();
    put(
        &mut t,
        "id",
        format!("{build_id}:{}:{}", ids.run, kcidb_text(item.name)),
    );
    put(&mut t, "build_id", build_id);
    put(&mut t, "origin", ids.origin);
    let path = match item.kind {
        TestKind::Boot => KCIDB_BOOT_PATH.to_owned(),
        TestKind::Build | TestKind::Check => kcidb_test_path(item.name),
    };
    put(&mut t, "path", path);
    put(&mut t, "status", kcidb_status(item.status));
    if !item.message.is_empty() {
        put(&mut t, "comment", kcidb_text(item.message));
    }
    if let Some(s) = item.seconds.filter(|s| s.is_finite()) {
        put(&mut t, "duration", s.max(0.0));
    }
    put(&mut t, "log_excerpt", kcidb_excerpt(item.details));
    if let Some(url) = item.log.and_then(|l| opts.url_of(l)) {
        put(&mut t, "log_url", url);
    }
    if item.kind == TestKind::Boot {
        let qemu = QemuEnvironment {
            version: c.boot.qemu_version.clone(),
            accel: c.boot.accel.clone(),
        };
        put(&mut t, "environment", qemu.kcidb());
    }
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

/// Validates `data` with the `kcidb-io` package: exactly the version
/// written, and the latest the package knows (which accepts older
/// minor versions); panics naming `what` otherwise.
#[cfg(test)]
pub(crate) fn validate_with_kcidb_io(what: &str, data: &Value) {
    let script = "import json, sys, kcidb_io\n\
                  data = json.load(open(sys.argv[1]))\n\
                  v = data['version']\n\
                  exact = getattr(kcidb_io.schema, 'V%d_%d' % (v['major'], v['minor']))\n\
                  exact.validate_exactly(data)\n\
                  kcidb_io.schema.LATEST.validate(data)\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kcidb.json");
    std::fs::write(&file, serde_json::to_vec_pretty(data).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: kcidb.json is not valid KCIDB v{KCIDB_MAJOR}.{KCIDB_MINOR}:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        serde_json::to_string_pretty(data).unwrap()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;
    use crate::model::testdata::{fixtures, sample};

    /// Options with a base URL for the results directory `/r`.
    fn published(origin: &str) -> KcidbOptions {
        KcidbOptions::new(
            origin,
            Some("https://ci.example.org/runs/42/"),
            Path::new("/r"),
        )
        .unwrap()
    }

    #[test]
    fn every_status_maps_to_its_kcidb_status() {
        assert_eq!(kcidb_status(Status::Pass), "PASS");
        assert_eq!(kcidb_status(Status::Fail), "FAIL");
        assert_eq!(kcidb_status(Status::Incomplete), "ERROR");
        assert_eq!(kcidb_status(Status::Skipped), "SKIP");

        let r = sample();
        let k = kcidb(&r, &KcidbOptions::default());
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
        assert_eq!(by_path(x86, "boot")["status"], "PASS");
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
        assert_eq!(by_path(arm, "boot")["status"], "ERROR");
        assert_eq!(by_path(arm, "lto_harness.initcalls.boot")["status"], "SKIP");
        assert_eq!(by_path(":x86_64-lto-none", "boot")["status"], "SKIP");

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
        assert_eq!(checkout["misc"]["run_seconds"], 412.5);
        assert_eq!(checkout["misc"]["kernel_version"], "6.12.117");

        // IDs are unique, and stable from one run of a source to the next
        // (tests are per run).
        let mut ids: Vec<&str> = tests.iter().map(|t| t["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), tests.len());
        let mut again = r.clone();
        again.started_at = "2026-11-27T00:00:00Z".into();
        let k2 = kcidb(&again, &KcidbOptions::default());
        assert_eq!(k2["checkouts"][0]["id"], checkout["id"]);
        assert_eq!(k2["builds"][0]["id"], builds[0]["id"]);
        assert_ne!(k2["tests"][0]["id"], tests[0]["id"]);
    }

    #[test]
    fn the_origin_is_checked_and_names_and_prefixes_every_object() {
        assert_eq!(KcidbOptions::default().origin(), "lto_harness");
        for bad in ["", "Some CI", "my-ci", "ci:1", "ÄCI"] {
            let e = check_origin(bad).unwrap_err();
            assert!(
                e.contains("^[a-z0-9_]+$") && e.contains(&format!("`{bad}`")),
                "{e}"
            );
        }
        check_origin("my_ci_2").unwrap();
        let e = KcidbOptions::new("My CI", None, Path::new("/r")).unwrap_err();
        assert!(
            format!("{e}").starts_with("--kcidb-origin: `My CI` is not"),
            "{e}"
        );

        let k = kcidb(
            &sample(),
            &KcidbOptions::new("my_ci_2", None, Path::new("/r")).unwrap(),
        );
        let objects: Vec<&Value> = ["checkouts", "builds", "tests"]
            .iter()
            .flat_map(|kind| k[kind].as_array().unwrap())
            .collect();
        assert_eq!(objects.len(), 1 + 3 + 9);
        for o in objects {
            assert_eq!(o["origin"], "my_ci_2", "{o}");
            assert!(o["id"].as_str().unwrap().starts_with("my_ci_2:"), "{o}");
            for link in ["checkout_id", "build_id"] {
                if let Some(id) = o.get(link) {
                    assert!(id.as_str().unwrap().starts_with("my_ci_2:"), "{o}");
                }
            }
        }
    }

    #[test]
    fn the_boot_is_the_catalogs_boot_and_checks_are_ours() {
        assert_eq!(kcidb_test_path("boot"), "lto_harness.boot");
        assert_eq!(
            kcidb_test_path("cfi.CFI_FORWARD_PROTO"),
            "lto_harness.cfi.CFI_FORWARD_PROTO"
        );
        assert_eq!(kcidb_test_path("a b..c"), "lto_harness.a_b._.c");
        let k = kcidb(&sample(), &KcidbOptions::default());
        let mut paths: Vec<&str> = k["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["path"].as_str().unwrap())
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "boot",
                "boot",
                "boot",
                "lto_harness.cfi.CFI_FORWARD_PROTO",
                "lto_harness.cfi.static",
                "lto_harness.initcalls.boot",
                "lto_harness.initcalls.static",
                "lto_harness.modules.runtime",
                "lto_harness.modules.static",
            ]
        );
    }

    #[test]
    fn published_files_become_urls_under_the_base() {
        let o = published("lto_harness");
        assert_eq!(
            o.url_of(Path::new("/r/x86_64-lto-full+clang-19/console.log"))
                .as_deref(),
            Some("https://ci.example.org/runs/42/x86_64-lto-full+clang-19/console.log")
        );
        assert_eq!(
            o.url_of(Path::new("/r/a b/100%.log")).as_deref(),
            Some("https://ci.example.org/runs/42/a%20b/100%25.log")
        );
        // Outside the results directory (the kernel cache), the directory
        // itself, no base URL: no URL.
        assert_eq!(o.url_of(Path::new("/c/builds/488b/build.log")), None);
        assert_eq!(o.url_of(Path::new("/r/../c/x.log")), None);
        assert_eq!(o.url_of(Path::new("/r")), None);
        assert_eq!(KcidbOptions::default().url_of(Path::new("/r/x.log")), None);
        // `./r` is `r`, `.` is where `r` is.
        let o = KcidbOptions::new("o", Some("http://h"), Path::new("./r")).unwrap();
        assert_eq!(
            o.url_of(Path::new("r/c/x.log")).as_deref(),
            Some("http://h/c/x.log")
        );
        let o = KcidbOptions::new("o", Some("http://h"), Path::new(".")).unwrap();
        assert_eq!(
            o.url_of(Path::new("r/c/x.log")).as_deref(),
            Some("http://h/r/c/x.log")
        );
        // The results directory through a symbolic link: the same files
        // (when they exist).
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("real/case")).unwrap();
        std::fs::write(d.path().join("real/case/console.log"), "").unwrap();
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("link")).unwrap();
        let o = KcidbOptions::new("o", Some("http://h"), &d.path().join("link")).unwrap();
        assert_eq!(
            o.url_of(&d.path().join("real/case/console.log")).as_deref(),
            Some("http://h/case/console.log")
        );
        assert_eq!(o.url_of(&d.path().join("real/case/gone.log")), None);

        for bad in [
            "ci.example.org/runs",
            "https://",
            "https:///x",
            "1http://h",
            "https://h/runs?id=4",
            "https://h/#x",
            "https://h/a b",
            "https://h/%zz",
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("`{bad}` is not a base URL: ")),
                "{e}"
            );
        }
        check_base_url("https://h:8080/a/%20b~c/").unwrap();
        let e = KcidbOptions::new("o", Some("runs/42"), Path::new("/r")).unwrap_err();
        assert!(
            format!("{e}").starts_with("--artifact-base-url: `runs/42`"),
            "{e}"
        );

        // In the data: the build's log and metadata, the boot's console.
        let mut r = sample();
        r.cases[0].build.metadata = Some("/r/x86_64-lto-full-cfi/metadata.json".into());
        let k = kcidb(&r, &published("lto_harness"));
        let base = "https://ci.example.org/runs/42";
        let build = &k["builds"][0];
        assert_eq!(
            build["log_url"],
            format!("{base}/x86_64-lto-full-cfi/build.log")
        );
        assert_eq!(
            build["output_files"],
            json!([{"name": "metadata.json", "url": format!("{base}/x86_64-lto-full-cfi/metadata.json")}])
        );
        assert!(k["builds"][1].get("output_files").is_none());
        let boot = &k["tests"][0];
        assert_eq!(boot["path"], "boot");
        assert_eq!(
            boot["log_url"],
            format!("{base}/x86_64-lto-full-cfi/console.log")
        );
        // The local paths stay in misc; checks have no log of their own.
        assert_eq!(
            boot["misc"]["console_log"],
            "/r/x86_64-lto-full-cfi/console.log"
        );
        assert!(k["tests"][1].get("log_url").is_none());
        // Without a base URL, no URLs at all.
        let text = kcidb(&r, &KcidbOptions::default()).to_string();
        assert!(!text.contains("log_url") && !text.contains("output_files"));
    }

    #[test]
    fn the_boots_qemu_is_its_environment() {
        let mut r = sample();
        r.cases[0].boot.qemu_version = Some("QEMU emulator version 7.2.15".into());
        r.cases[0].boot.accel = Some("kvm".into());
        r.cases[1].boot.accel = Some("tcg".into());
        let k = kcidb(&r, &KcidbOptions::default());
        let tests = k["tests"].as_array().unwrap();
        let boots: Vec<&Value> = tests.iter().filter(|t| t["path"] == "boot").collect();
        assert_eq!(
            boots[0]["environment"],
            json!({
                "comment": "QEMU emulator version 7.2.15, accelerator kvm",
                "misc": {"qemu_version": "QEMU emulator version 7.2.15", "accel": "kvm"}
            })
        );
        assert_eq!(
            boots[1]["environment"],
            json!({"comment": "accelerator tcg", "misc": {"accel": "tcg"}})
        );
        // Nothing known (never booted), and checks: no environment.
        assert!(boots[2].get("environment").is_none());
        assert!(tests
            .iter()
            .filter(|t| t["path"] != "boot")
            .all(|t| t.get("environment").is_none()));
    }

    /// The KCIDB data of the fixtures and of `sample()` is valid for the
    /// real schema, as the `kcidb-io` package has it (ci/setup installs
    /// it): with the default options, and with an origin, a base URL
    /// (`log_url`, `output_files`) and QEMU environments.
    #[test]
    fn kcidb_validates_against_kcidb_io() {
        crate::skip_unless!(
            "kcidb_validates_against_kcidb_io",
            Need::Python {
                module: "kcidb_io",
                pip: "kcidb-io==141"
            }
        );
        for (name, r) in fixtures().into_iter().chain([("sample".into(), sample())]) {
            validate_with_kcidb_io(
                &name.display().to_string(),
                &kcidb(&r, &KcidbOptions::default()),
            );
        }
        let mut r = sample();
        r.cases[0].build.metadata = Some("/r/x86_64-lto-full-cfi/metadata.json".into());
        r.cases[0].boot.qemu_version =
            Some("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7)".into());
        r.cases[0].boot.accel = Some("tcg".into());
        r.cases[1].name = "arm64 lto+clang-19 100%".into();
        r.cases[1].build.log = Some("/r/arm64 lto+clang-19 100%/build.log".into());
        r.cases[1].boot.console_log = Some("/r/arm64 lto+clang-19 100%/console.log".into());
        let data = kcidb(&r, &published("my_ci"));
        // What is validated has every new field.
        assert_eq!(
            data["builds"][1]["log_url"],
            "https://ci.example.org/runs/42/arm64%20lto+clang-19%20100%25/build.log"
        );
        assert_eq!(data["tests"][0]["environment"]["misc"]["accel"], "tcg");
        assert_eq!(data["tests"][0]["path"], "boot");
        assert!(data["builds"][0]["output_files"][0]["url"].is_string());
        validate_with_kcidb_io("sample, published", &data);
    }
}
