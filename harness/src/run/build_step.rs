//! The build step of one case: builds (or reuses, or takes from
//! `--kernel-build`) its kernel, with make's phases and output as events,
//! and records the step: its status from the build error's type
//! ([`BuildError::fault`]), the log and metadata copied into the results.

use super::{Environment, RunOptions};
use crate::case::Case;
use crate::events::{Event, Reporter, Step};
use crate::model::perf::HowFar;
use crate::model::results::BuildStep;
use crate::model::Status;
use crate::stages::build::{self, BuildError, BuildProgress, BuiltKernel};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Progress<'a> {
    reporter: &'a dyn Reporter,
}

impl BuildProgress for Progress<'_> {
    fn phase(&self, case: &str, phase: &str) {
        self.reporter.report(&Event::Phase {
            case,
            step: Step::Build,
            phase,
        });
    }
    fn line(&self, case: &str, line: &str) {
        self.reporter.report(&Event::Output {
            case,
            step: Step::Build,
            line,
        });
    }
    fn progress(&self, case: &str, how_far: &HowFar) {
        self.reporter.report(&Event::Progress {
            case,
            step: Step::Build,
            how_far: *how_far,
        });
    }
    fn warning(&self, case: &str, message: &str) {
        self.reporter.report(&Event::Warning { case, message });
    }
}

/// Builds (or reuses) one case's kernel.
pub fn build_case(
    case: &Case,
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> (BuildStep, Option<BuiltKernel>) {
    reporter.report(&Event::StepStarted {
        case: &case.name,
        step: Step::Build,
    });
    let t = Instant::now();
    // A name that would leave the results directory builds nothing (the
    // preflight refuses it first; the error leaves no path to write to).
    let (result, case_dir) = match opts.case_dir(&case.name) {
        Ok(dir) => (build_kernel(case, env, opts, reporter), dir),
        Err(e) => (
            Err(BuildError::Incomplete(e.into())),
            opts.results_dir.clone(),
        ),
    };
    let seconds = t.elapsed().as_secs_f64();
    let _ = std::fs::create_dir_all(&case_dir);
    let (step, kernel) = match result {
        Ok(k) => (built(&k, opts, seconds, &case_dir), Some(k)),
        Err(e) => (not_built(e, seconds, &case_dir), None),
    };
    reporter.report(&Event::StepFinished {
        case: &case.name,
        step: Step::Build,
        status: step.status,
        seconds,
        message: &step.message,
    });
    (step, kernel)
}

/// The step of a case its toolchain cannot build: skipped with the reason
/// preflight found, nothing built.
/// The build step of a case not built because `first` failed before it
/// started (`run --fail-fast`).
pub fn not_run(case: &Case, first: &str, reporter: &dyn Reporter) -> BuildStep {
    let why = format!("not run: --fail-fast stopped the run after {first} failed");
    unsupported(case, &why, reporter)
}

pub fn unsupported(case: &Case, why: &str, reporter: &dyn Reporter) -> BuildStep {
    let step = BuildStep {
        status: Status::Skipped,
        message: why.to_owned(),
        seconds: 0.0,
        reused: false,
        key: None,
        artifacts: None,
        log: None,
        metadata: None,
        error_lines: vec![],
    };
    reporter.report(&Event::StepFinished {
        case: &case.name,
        step: Step::Build,
        status: step.status,
        seconds: 0.0,
        message: &step.message,
    });
    step
}

/// The kernel: from `--kernel-build`, else built (or found in the cache).
fn build_kernel(
    case: &Case,
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<BuiltKernel, BuildError> {
    match (&opts.kernel_build, &env.source) {
        (Some(dir), _) => build::from_existing(dir, case, &env.cache),
        (None, Some(source)) => {
            let builder = env.builder(source, opts, case);
            let plan = builder.plan(case).map_err(BuildError::Incomplete)?;
            builder.build_in(&plan, &Progress { reporter }, env.pool.as_ref())
        }
        (None, None) => Err(BuildError::Incomplete(anyhow::anyhow!("no kernel source"))),
    }
}

/// The step of a kernel that is ready, its log and metadata copied into
/// the case's results.
fn built(k: &BuiltKernel, opts: &RunOptions, seconds: f64, case_dir: &Path) -> BuildStep {
    let short = k.key.get(..12).unwrap_or(&k.key);
    let message = match (&k.metadata, k.reused) {
        _ if opts.kernel_build.is_some() => format!("using the kernel in {}", k.dir.display()),
        (Some(m), true) => format!(
            "reused cached build {short} (built in {:.0} s)",
            m.wall_seconds
        ),
        (Some(m), false) => format!(
            "built {short} in {:.0} s ({:.0} CPU s, peak {} MiB){}",
            m.wall_seconds,
            m.cpu_seconds,
            m.max_rss_kib / 1024,
            match &m.profile {
                Some(p) if p.shared => format!(
                    " in the job pool, after {:.0} s waiting for a token",
                    p.queued_seconds
                ),
                _ => String::new(),
            }
        ),
        (None, _) => "kernel ready".into(),
    };
    BuildStep {
        status: Status::Pass,
        message,
        seconds,
        reused: k.reused,
        key: Some(k.key.clone()),
        artifacts: Some(k.dir.clone()),
        log: k.log.as_ref().map(|l| copy_into(l, case_dir, "build.log")),
        metadata: k
            .metadata_path
            .as_ref()
            .map(|m| copy_into(m, case_dir, "metadata.json")),
        error_lines: vec![],
    }
}

/// The step of a build that gave no kernel: failed or incomplete by the
/// error's [`fault`](BuildError::fault).
fn not_built(e: BuildError, seconds: f64, case_dir: &Path) -> BuildStep {
    let status = e.fault().status();
    let (message, log, error_lines) = match e {
        BuildError::Failed { message, log, tail }
        | BuildError::OutOfMemory { message, log, tail } => (
            message,
            log.map(|l| copy_into(&l, case_dir, "build.log")),
            tail,
        ),
        BuildError::Incomplete(e) => (format!("{e:#}"), None, vec![]),
    };
    BuildStep {
        status,
        message,
        seconds,
        reused: false,
        key: None,
        artifacts: None,
        log,
        metadata: None,
        error_lines,
    }
}

/// Copies `from` into the case's results dir (so results survive cache
/// cleanups), falling back to the original path on error.
fn copy_into(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    match std::fs::copy(from, &to) {
        Ok(_) => to,
        Err(_) => from.to_owned(),
    }
}
