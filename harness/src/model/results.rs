//! The results of a run: per case, its build and boot steps and its
//! checks; the tests every output names ([`CaseResult::tests`]); the
//! summary and the process exit code (0 all pass, 1 any fail, 2 any
//! incomplete and no fail). The `output` module writes them out
//! (`results.json` is [`RunResults`] as it is).

use crate::model::kernel::{Arch, Cfi, Lto};
use crate::model::source::SourceIdentity;
use crate::model::status::{passed_on_retry, Status};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The verdict of one check (or of the boot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Status,
    pub message: String,
    /// Evidence: console lines (with their line numbers), error lines, diffs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// When the check was retried (a new boot of the same kernel), the
    /// status of every attempt, first to last; `status` is the last one's.
    /// Empty when it ran once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Status>,
    /// Read from the build's files (static) or from a boot (runtime): a
    /// new boot can change only a runtime verdict. Known while the run
    /// judges; not in results.json (a loaded result says runtime).
    #[serde(skip)]
    pub phase: CheckPhase,
}

/// Where a check's evidence comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckPhase {
    /// The build's files: .config, vmlinux, the modules.
    Static,
    /// A boot's console.
    #[default]
    Runtime,
}

impl CheckResult {
    pub fn new(name: &str, status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            message: message.into(),
            details: Vec::new(),
            attempts: Vec::new(),
            phase: CheckPhase::Runtime,
        }
    }

    /// The same verdict, marked as read from the build's files.
    pub fn from_static(mut self) -> Self {
        self.phase = CheckPhase::Static;
        self
    }

    /// Failed (or was incomplete) at first, passed on a retry.
    pub fn unstable(&self) -> bool {
        passed_on_retry(self.status, &self.attempts)
    }
    pub fn with(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// Why the guest stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootEnd {
    /// QEMU exited by itself (a guest reboot with -no-reboot gives 0).
    Exited { code: Option<i32> },
    /// The kernel panicked and QEMU was killed after the grace period.
    StoppedOnPanic,
    /// The timeout ran out and QEMU was killed.
    TimedOut { after_seconds: u64 },
    /// QEMU could not be started.
    SpawnFailed { error: String },
    /// The lab (LAVA) ended the job without a boot to judge: its
    /// infrastructure, the job definition, a dispatcher bug or a cancel,
    /// in LAVA's words.
    Lab { error: String },
}

/// The build step of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildStep {
    pub status: Status,
    pub message: String,
    pub seconds: f64,
    /// True when the cache (or --kernel-build) supplied the kernel.
    pub reused: bool,
    pub key: Option<String>,
    /// The kernel's artefacts (cache entry or --kernel-build dir).
    #[serde(default)]
    pub artifacts: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub metadata: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_lines: Vec<String>,
}

/// The boot step of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootStep {
    pub status: Status,
    pub message: String,
    pub seconds: f64,
    pub console_log: Option<PathBuf>,
    pub qemu_command: Option<String>,
    /// How QEMU ended.
    pub end: Option<BootEnd>,
    /// When the boot was retried: every attempt's boot verdict, first to
    /// last (`status` is the last one's). Empty when it ran once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Status>,
    /// The accelerator the guest ran under (`tcg`, `kvm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accel: Option<String>,
    /// `qemu-system-… --version`'s first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub name: String,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Cfi,
    pub status: Status,
    pub build: BuildStep,
    pub boot: BootStep,
    pub checks: Vec<CheckResult>,
    /// Figures that got worse beyond their noise band since the previous
    /// run of this case in the history.
    #[serde(default)]
    pub regressions: Vec<crate::model::perf::Regression>,
    /// The clang that built the kernel (`clang --version`'s first line);
    /// None when the harness built nothing (`--kernel-build`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    /// In a toolchain matrix, the case and toolchain this result is of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::model::Variant>,
    /// When, in seconds into the run, the case's build step ended and its
    /// verdict was given; None in results not made by a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// How to build and boot this kernel again: what the case's
    /// `reproduce.sh` is written from. Known while the run writes its
    /// results; not in results.json (a loaded result has none).
    #[serde(skip)]
    pub recipe: Option<crate::model::recipe::Recipe>,
}

/// When a case's build ended and when its verdict came, in seconds from
/// the start of the run: the gap is its boot and checks, plus any wait for
/// a boot slot (a pool that kept a built kernel waiting behind other
/// builds shows here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The build step ended (a kernel built, reused, failed or skipped).
    pub build_done: f64,
    /// The case's verdict was given (`=> PASS` in the log).
    pub verdict: f64,
}

impl CaseResult {
    /// What the case's steps and checks say: the worst of the build, the
    /// boot and every check ([`Status::worst`]). The one rule for a case's
    /// status: a run sets it with [`compute_status`](Self::compute_status),
    /// and a result file read back must agree with it
    /// ([`crate::model::validate`]).
    pub fn derived_status(&self) -> Status {
        let mut all = vec![self.build.status, self.boot.status];
        all.extend(self.checks.iter().map(|c| c.status));
        Status::worst(all)
    }

    pub fn compute_status(&mut self) {
        self.status = self.derived_status();
    }
}

/// What a step or check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    Build,
    Boot,
    Check,
}

/// One test of a case, as every output (JUnit, libtest JSON, KCIDB,
/// summary.md, compare, series) names and reads it: a step or a check.
#[derive(Debug, Clone)]
pub struct TestItem<'a> {
    pub kind: TestKind,
    /// `build`, `boot` or the check's name.
    pub name: &'a str,
    pub status: Status,
    pub message: &'a str,
    /// `None` for checks, which are not timed.
    pub seconds: Option<f64>,
    pub details: &'a [String],
    pub log: Option<&'a Path>,
    pub attempts: &'a [Status],
}

impl TestItem<'_> {
    /// The test's name: `build`, `boot`, `check:<name>`.
    pub fn id(&self) -> String {
        match self.kind {
            TestKind::Check => format!("check:{}", self.name),
            _ => self.name.to_owned(),
        }
    }

    /// Failed (or was incomplete) at first, passed on a retry.
    pub fn unstable(&self) -> bool {
        passed_on_retry(self.status, self.attempts)
    }

    /// The message, then the details, then the log, one per line.
    pub fn text(&self) -> String {
        let mut s = self.message.to_owned();
        for d in self.details {
            s.push('\n');
            s.push_str(d);
        }
        if let Some(p) = self.log {
            let _ = write!(s, "\nlog: {}", p.display());
        }
        s
    }
}

/// The steps and checks of a case, in order (the `boot` check, if any, is
/// the boot step).
impl CaseResult {
    pub fn tests(&self) -> Vec<TestItem<'_>> {
        let c = self;
        let mut v = vec![
            TestItem {
                kind: TestKind::Build,
                name: "build",
                status: c.build.status,
                message: &c.build.message,
                seconds: Some(c.build.seconds),
                details: &c.build.error_lines,
                log: c.build.log.as_deref(),
                attempts: &[],
            },
            TestItem {
                kind: TestKind::Boot,
                name: "boot",
                status: c.boot.status,
                message: &c.boot.message,
                seconds: Some(c.boot.seconds),
                details: &[],
                log: c.boot.console_log.as_deref(),
                attempts: &c.boot.attempts,
            },
        ];
        v.extend(
            c.checks
                .iter()
                .filter(|k| k.name != "boot")
                .map(|k| TestItem {
                    kind: TestKind::Check,
                    name: &k.name,
                    status: k.status,
                    message: &k.message,
                    seconds: None,
                    details: &k.details,
                    log: None,
                    attempts: &k.attempts,
                }),
        );
        v
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub incomplete: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub harness_version: String,
    pub started_at: String,
    pub seconds: f64,
    pub source: Option<SourceIdentity>,
    pub kernel_version: Option<String>,
    pub toolchain: Option<String>,
    pub cases: Vec<CaseResult>,
    /// What `bless` / `run --bless` did to the initcall goldens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blessed: Vec<Blessing>,
    /// Set by `bisect` on the run of the first bad commit it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bisected: Option<crate::model::bisection::Bisected>,
    pub summary: Summary,
}

/// What blessing did to a golden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlessStatus {
    /// The golden was created or rewritten from the kernels' order.
    Written,
    /// The kernels' order is the golden's already.
    Unchanged,
    /// Not written: a kernel's order could not be had, or the kernels
    /// that share the golden disagree.
    Refused,
}

impl std::fmt::Display for BlessStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlessStatus::Written => "written",
            BlessStatus::Unchanged => "unchanged",
            BlessStatus::Refused => "refused",
        })
    }
}

/// One golden file and what blessing did to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blessing {
    pub family: String,
    pub path: PathBuf,
    /// The cases whose kernels it was blessed from.
    pub cases: Vec<String>,
    pub status: BlessStatus,
    pub message: String,
    pub added: usize,
    pub removed: usize,
    /// The change, as a unified diff (old golden → new).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
}

impl RunResults {
    pub fn summarise(&mut self) {
        let mut s = Summary::default();
        for c in &self.cases {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Incomplete => s.incomplete += 1,
                Status::Skipped => s.skipped += 1,
            }
        }
        self.summary = s;
    }

    /// `N passed, N failed, N incomplete, N skipped in S s; results in DIR`.
    pub fn summary_line(&self, dir: &Path) -> String {
        let s = &self.summary;
        format!(
            "{} passed, {} failed, {} incomplete, {} skipped in {:.1} s; results in {}",
            s.pass,
            s.fail,
            s.incomplete,
            s.skipped,
            self.seconds,
            dir.display()
        )
    }

    /// 0 all pass, 1 any fail, 2 any incomplete (or skipped) and no fail.
    pub fn exit_code(&self) -> i32 {
        let worst = Status::worst(self.cases.iter().map(|c| c.status));
        match worst {
            _ if self.cases.is_empty() => 2,
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Incomplete | Status::Skipped => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, run};

    #[test]
    fn exit_codes_follow_the_worst_case() {
        assert_eq!(
            run(vec![case("a", Status::Pass, Status::Pass, vec![])]).exit_code(),
            0
        );
        assert_eq!(
            run(vec![
                case("a", Status::Pass, Status::Pass, vec![]),
                case("b", Status::Pass, Status::Incomplete, vec![])
            ])
            .exit_code(),
            2
        );
        assert_eq!(
            run(vec![
                case("a", Status::Fail, Status::Skipped, vec![]),
                case("b", Status::Pass, Status::Incomplete, vec![])
            ])
            .exit_code(),
            1
        );
        assert_eq!(run(vec![]).exit_code(), 2);
    }
}
