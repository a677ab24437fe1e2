//! Compare: classify every step and check of two runs (results.json), the
//! way a nightly job needs to read them: what regressed, what got fixed,
//! what is new or missing, what keeps failing, and what is unstable (failed,
//! then passed when the same kernel was booted again). [`gate`] fails on
//! regressions, so known failures can persist without blocking, and is
//! never green when the new run lost or could not judge what the baseline
//! had.

pub mod gate;

use crate::model::results::RunResults;
use crate::model::source::SourceIdentity;
use crate::model::untrusted::visible;
use crate::model::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How one step or check moved between the baseline and the new run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Passed before, fails now (after its retries).
    Regression,
    /// Failed at first and passed on a retry of the same kernel.
    Unstable,
    /// Fails in both runs.
    PersistentFailure,
    /// Failed before, passes now.
    Fixed,
    /// Only in the new run.
    New,
    /// Only in the baseline.
    Missing,
    /// The new run could not say (incomplete, or skipped where the
    /// baseline had a verdict).
    Incomplete,
    /// Skipped in both runs (a check that does not apply).
    Skipped,
    /// Passes in both.
    Pass,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Regression => "regression",
            Class::Unstable => "unstable",
            Class::PersistentFailure => "persistent failure",
            Class::Fixed => "fixed",
            Class::New => "new",
            Class::Missing => "missing",
            Class::Incomplete => "incomplete",
            Class::Skipped => "skipped",
            Class::Pass => "pass",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One step or check of one case, as a run recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub attempts: Vec<Status>,
    pub message: String,
}

impl Outcome {
    fn unstable(&self) -> bool {
        crate::model::status::passed_on_retry(self.status, &self.attempts)
    }
}

/// `(case, item)` → outcome, where item is `build`, `boot` or `check:<name>`.
pub fn outcomes(r: &RunResults) -> BTreeMap<(String, String), Outcome> {
    r.cases
        .iter()
        .flat_map(|c| {
            c.tests().into_iter().map(|t| {
                let outcome = Outcome {
                    status: t.status,
                    attempts: t.attempts.to_vec(),
                    message: t.message.to_owned(),
                };
                ((c.name.clone(), t.id()), outcome)
            })
        })
        .collect()
}

/// One classified item.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub case: String,
    pub item: String,
    pub class: Class,
    pub old: Option<Status>,
    pub new: Option<Status>,
    /// The new run's attempts, when it retried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Status>,
    pub message: String,
}

pub fn classify(old: Option<&Outcome>, new: Option<&Outcome>) -> Class {
    let failed = |s: Status| s == Status::Fail;
    match (old, new) {
        (None, None) => Class::Missing,
        (Some(_), None) => Class::Missing,
        (None, Some(n)) if n.unstable() => Class::Unstable,
        (None, Some(_)) => Class::New,
        (Some(_), Some(n)) if n.unstable() => Class::Unstable,
        (Some(o), Some(n)) if n.status == Status::Skipped && o.status == Status::Skipped => {
            Class::Skipped
        }
        (Some(_), Some(n)) if matches!(n.status, Status::Incomplete | Status::Skipped) => {
            Class::Incomplete
        }
        (Some(o), Some(n)) => match (failed(o.status), failed(n.status)) {
            (false, false) => Class::Pass,
            (false, true) if o.status == Status::Pass => Class::Regression,
            // Incomplete or skipped before: nothing was known to pass.
            (false, true) => Class::New,
            (true, true) => Class::PersistentFailure,
            (true, false) => Class::Fixed,
        },
    }
}

/// One way the inputs of the two runs differ: `kernel series`,
/// `toolchain` or `source`, as each run recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDifference {
    pub what: &'static str,
    pub old: String,
    pub new: String,
}

impl fmt::Display for InputDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is `{}` in the baseline but `{}` in the new run",
            self.what,
            visible(&self.old),
            visible(&self.new)
        )
    }
}

/// How the runs' inputs differ, if they do: the kernel series (`6.12`:
/// major.minor, so a stable update of the same series is the same), the
/// toolchain (`clang --version`, as merge and the history compare it), and
/// the source tree. Sources are the same when their identities are (the
/// same tarball content, git commit, tree fingerprint), or when they are
/// the same tree at another point: a tarball of the same file name, a git
/// checkout or a plain tree at the same path. A new commit of the same
/// tree is what a gate is for; another tree is not.
pub fn input_differences(old: &RunResults, new: &RunResults) -> Vec<InputDifference> {
    let none = || "(none)".to_string();
    let mut out = Vec::new();
    let series = |r: &RunResults| {
        r.kernel_version
            .as_deref()
            .map(|v| crate::checks::golden::series(v).unwrap_or_else(|| v.to_owned()))
    };
    let shown = |r: &RunResults| match (series(r), &r.kernel_version) {
        (Some(s), Some(v)) if s != *v => format!("{s} (Linux {v})"),
        (Some(s), _) => s,
        (None, _) => none(),
    };
    if series(old) != series(new) {
        out.push(InputDifference {
            what: "kernel series",
            old: shown(old),
            new: shown(new),
        });
    }
    if old.toolchain != new.toolchain {
        out.push(InputDifference {
            what: "toolchain",
            old: old.toolchain.clone().unwrap_or_else(none),
            new: new.toolchain.clone().unwrap_or_else(none),
        });
    }
    let same_source = match (&old.source, &new.source) {
        (None, None) => true,
        (Some(a), Some(b)) => a.key() == b.key() || lineage(a) == lineage(b),
        _ => false,
    };
    if !same_source {
        let d = |s: &Option<SourceIdentity>| s.as_ref().map_or_else(none, |s| s.describe());
        out.push(InputDifference {
            what: "source",
            old: d(&old.source),
            new: d(&new.source),
        });
    }
    out
}

/// Which tree a source is a point of: a tarball's file name, a git
/// checkout's or a plain tree's path.
fn lineage(s: &SourceIdentity) -> String {
    match s {
        SourceIdentity::Tarball { path, .. } => format!(
            "tarball {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        SourceIdentity::Git { path, .. } => format!("git {}", path.display()),
        SourceIdentity::Tree { path, .. } => format!("tree {}", path.display()),
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunComparison {
    /// How the runs' inputs differ (empty when they do not): a comparison
    /// of another kernel series, toolchain or source tree is not one of
    /// like with like, and `gate` refuses it unless told otherwise.
    pub inputs_differ: Vec<InputDifference>,
    pub entries: Vec<Entry>,
    pub counts: BTreeMap<String, usize>,
}

impl RunComparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.class == Class::Regression)
    }

    /// Lines for humans: how the runs' inputs differ, if they do; every
    /// item that is not a plain pass (or a skip in both runs), grouped by
    /// class, most urgent first; then the counts. Text from the results
    /// files is shown with its control characters escaped ([`visible`]).
    pub fn report(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inputs_differ
            .iter()
            .map(|d| format!("inputs differ: {d}"))
            .collect();
        out.extend(self.items_report());
        out
    }

    fn items_report(&self) -> Vec<String> {
        let mut entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !matches!(e.class, Class::Pass | Class::Skipped))
            .collect();
        entries.sort_by(|a, b| (a.class, &a.case, &a.item).cmp(&(b.class, &b.case, &b.item)));
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| {
                let st = |s: Option<Status>| s.map_or("-".to_string(), |s| s.to_string());
                let attempts = if e.attempts.is_empty() {
                    String::new()
                } else {
                    let a: Vec<&str> = e.attempts.iter().map(|s| s.name()).collect();
                    format!(" (attempts: {})", a.join(" → "))
                };
                visible(&format!(
                    "{:<18} {} {}: {} → {}{attempts}: {}",
                    e.class.name(),
                    e.case,
                    e.item,
                    st(e.old),
                    st(e.new),
                    e.message.lines().next().unwrap_or("")
                ))
            })
            .collect();
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        out.push(counts.join(", "));
        out
    }
}

pub fn compare(old: &RunResults, new: &RunResults) -> RunComparison {
    let (o, n) = (outcomes(old), outcomes(new));
    let mut keys: Vec<&(String, String)> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut entries = Vec::new();
    let mut counts = BTreeMap::new();
    for k in keys {
        let (old, new) = (o.get(k), n.get(k));
        let class = classify(old, new);
        *counts.entry(class.name().to_string()).or_insert(0) += 1;
        entries.push(Entry {
            case: k.0.clone(),
            item: k.1.clone(),
            class,
            old: old.map(|x| x.status),
            new: new.map(|x| x.status),
            attempts: new.map(|x| x.attempts.clone()).unwrap_or_default(),
            message: new.or(old).map(|x| x.message.clone()).unwrap_or_default(),
        });
    }
    RunComparison {
        inputs_differ: input_differences(old, new),
        entries,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(status: Status, attempts: &[Status]) -> Outcome {
        Outcome {
            status,
            attempts: attempts.to_vec(),
            message: String::new(),
        }
    }

    fn versioned(kernel: &str, toolchain: &str) -> RunResults {
        use crate::model::testdata::{case, run};
        let mut r = run(vec![case("a", Status::Pass, Status::Pass, vec![])]);
        r.kernel_version = Some(kernel.into());
        r.toolchain = Some(toolchain.into());
        r.source = Some(SourceIdentity::Tarball {
            path: "/usr/src/linux-source-6.12.tar.xz".into(),
            sha256: "ab".repeat(32),
        });
        r
    }

    #[test]
    fn runs_of_another_series_toolchain_or_tree_are_said_to_differ() {
        let old = versioned("6.12.117", "clang 19.1.7");
        // Another stable release of the same series is the same series.
        let mut stable = versioned("6.12.118", "clang 19.1.7");
        if let Some(SourceIdentity::Tarball { sha256, .. }) = &mut stable.source {
            *sha256 = "cd".repeat(32);
        }
        assert!(input_differences(&old, &stable).is_empty());
        assert!(compare(&old, &stable).inputs_differ.is_empty());

        let mut other = versioned("7.1.3", "clang 22.1.8");
        other.source = Some(SourceIdentity::Git {
            path: "/src/linux".into(),
            commit: "0123456789abcdef0123".into(),
            dirty: false,
            diff_sha256: None,
        });
        let c = compare(&old, &other);
        let whats: Vec<&str> = c.inputs_differ.iter().map(|d| d.what).collect();
        assert_eq!(whats, ["kernel series", "toolchain", "source"]);
        let report = c.report();
        assert_eq!(
            report[0],
            "inputs differ: kernel series is `6.12 (Linux 6.12.117)` in the baseline \
             but `7.1 (Linux 7.1.3)` in the new run"
        );
        assert_eq!(
            report[1],
            "inputs differ: toolchain is `clang 19.1.7` in the baseline but `clang 22.1.8` in the new run"
        );
        assert!(
            report[2].starts_with("inputs differ: source is `/usr/src/linux-source-6.12.tar.xz")
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["inputs_differ"][0]["what"], "kernel series");
        assert_eq!(json["inputs_differ"][0]["new"], "7.1 (Linux 7.1.3)");
        // Another commit of the same git tree is the same source.
        let mut next = other.clone();
        if let Some(SourceIdentity::Git { commit, .. }) = &mut next.source {
            *commit = "fedcba9876543210fedc".into();
        }
        assert!(input_differences(&other, &next).is_empty());
    }

    #[test]
    fn the_report_shows_control_characters_as_escapes() {
        use crate::model::testdata::{case, check, run};
        let old = run(vec![case(
            "a\x1b]0;x\x07",
            Status::Pass,
            Status::Pass,
            vec![check("cfi", Status::Pass, "ok")],
        )]);
        let new = run(vec![case(
            "a\x1b]0;x\x07",
            Status::Pass,
            Status::Pass,
            vec![check("cfi", Status::Fail, "\x1b[2Jgone\rsecond")],
        )]);
        let report = compare(&old, &new).report();
        assert!(
            report.iter().all(|l| !l.chars().any(|c| c.is_control())),
            "{report:?}"
        );
        assert!(
            report[0].ends_with("a\\x1b]0;x\\x07 check:cfi: pass → fail: \\x1b[2Jgone\\x0dsecond"),
            "{report:?}"
        );
    }

    #[test]
    fn every_class() {
        use Status::*;
        let c = |a: Option<Outcome>, b: Option<Outcome>| classify(a.as_ref(), b.as_ref());
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Fail, &[Fail, Fail]))),
            Class::Regression
        );
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Pass, &[Fail, Pass]))),
            Class::Unstable
        );
        assert_eq!(
            c(Some(o(Fail, &[])), Some(o(Pass, &[Incomplete, Pass]))),
            Class::Unstable
        );
        assert_eq!(
            c(Some(o(Fail, &[])), Some(o(Fail, &[]))),
            Class::PersistentFailure
        );
        assert_eq!(c(Some(o(Fail, &[])), Some(o(Pass, &[]))), Class::Fixed);
        assert_eq!(c(None, Some(o(Fail, &[]))), Class::New);
        assert_eq!(c(Some(o(Pass, &[])), None), Class::Missing);
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Incomplete, &[]))),
            Class::Incomplete
        );
        assert_eq!(c(Some(o(Incomplete, &[])), Some(o(Fail, &[]))), Class::New);
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Skipped, &[]))),
            Class::Incomplete
        );
        assert_eq!(
            c(Some(o(Skipped, &[])), Some(o(Skipped, &[]))),
            Class::Skipped
        );
        assert_eq!(c(Some(o(Pass, &[])), Some(o(Pass, &[]))), Class::Pass);
    }
}
