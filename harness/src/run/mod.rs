//! Run: drives the stages and checks for the selected cases. A build
//! thread builds kernels one after another (each `make -jN` uses every
//! core); up to [`RunOptions::boot_jobs`] boot workers each take the next
//! kernel that is ready, write its case's initramfs, boot it and judge it,
//! so boots overlap the next build and each other (a TCG guest keeps one
//! core busy).
//!
//! With a job pool ([`Environment::pool`], `run --pool`) every case's
//! build starts at once on a thread of its own instead, and the pool
//! keeps the machine's share: each build waits for room in its memory
//! gate and a job token before its make starts (make then takes its
//! further jobs from the same pool), and each boot holds a token while it
//! runs, so running compile jobs plus boots never exceed `--jobs`
//! (see [`crate::host::jobserver`]). In order, for one case:
//!
//! [`preflight`] (before anything, for all cases) → [`build_step`] →
//! [`boot_step`] → judging (`crate::checks`) → [`retry`] (new boots of the
//! same kernel) → [`bless`] (after all cases, when asked).
//!
//! The runner only produces results and typed events
//! ([`crate::events`]): showing them is a reporter's job, writing them the
//! result writer's.

pub mod after;
pub mod bless;
pub mod boot_step;
pub mod build_step;
pub mod hygiene;
mod lava_step;
pub mod preflight;
pub mod reproduce;
pub mod retry;

pub use build_step::build_case;
pub use preflight::{dry_run, load_goldens, preflight, Goldens};

use crate::case::{Case, CheckKind};
use crate::checks::golden::Golden;
use crate::checks::{self, cfi::LkdtmExpectations, Expectations, KernelFacts};
use crate::events::{Event, Reporter, Step};
use crate::host::cache::Cache;
use crate::host::jobserver::Pool;
use crate::host::toolchain::Toolchain;
use crate::model::results::{BuildStep, CaseResult, RunResults, Summary, Timeline};
use crate::model::{CheckResult, Status};
use crate::stages::boot::{Accel, BootOutcome};
use crate::stages::build::{self, Builder, BuiltKernel};
use crate::stages::source::KernelSource;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// Everything a run needs that does not depend on the case.
pub struct Environment {
    pub cache: Cache,
    /// None with `--kernel-build` (nothing is built).
    pub source: Option<KernelSource>,
    /// The toolchain (the first of a matrix).
    pub toolchain: Toolchain,
    /// A toolchain matrix's other toolchains (`--llvm -16,-19,-22`); each
    /// case variant ([`Case::variant`]) names its own.
    pub other_toolchains: Vec<Toolchain>,
    /// The job pool builds and boots share (`run --pool`): with one, every
    /// case builds at once within it; None (the default) builds one case
    /// after another, each `make -jN`.
    pub pool: Option<Pool>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub results_dir: PathBuf,
    pub accel: Accel,
    pub jobs: usize,
    /// How many cases boot at once (each TCG guest keeps one core busy).
    pub boot_jobs: usize,
    /// Judge this existing `O=` directory instead of building.
    pub kernel_build: Option<PathBuf>,
    /// Overrides every case's boot timeout.
    pub timeout: Option<Duration>,
    /// Rewrite the initcall goldens from what the kernels did.
    pub bless: bool,
    /// Boot a kernel again (up to this many times) when its boot or a
    /// runtime check fails or is incomplete; one that then passes is
    /// reported as unstable, not failed.
    pub retries: usize,
    /// A compiler cache in front of clang.
    pub cc_wrapper: Option<crate::host::toolchain::CcWrapper>,
    /// Build and boot in one job pool of `jobs` tokens (the default;
    /// false: one build after another, `run --sequential`). The pool
    /// itself is the environment's ([`Environment::pooled`]).
    pub pool: bool,
    /// Stop at the first failed case (`run --fail-fast`): start nothing
    /// more, kill what runs, and report the other cases as not run.
    pub fail_fast: bool,
    /// How each kernel boots: under the harness's QEMU (the default), as
    /// a LAVA job.
    pub boot_via: BootVia,
}

/// How a case's kernel boots: the transports of one verdict logic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BootVia {
    /// The harness's own QEMU.
    #[default]
    Qemu,
    /// A LAVA job, run on this machine by LAVA's dispatcher (`lava-run`).
    LavaRun,
    /// Write the LAVA job (and the device dictionary `lava-run` takes)
    /// for a lab; nothing boots: the boot is skipped, saying where the
    /// job is. Artefact URLs under the base, when given.
    LavaJob { artifact_base_url: Option<String> },
    /// Judge the log a LAVA job of this case left (a lab's `output.yaml`
    /// or `lava-run`'s output) instead of booting.
    LavaLog(PathBuf),
}

impl RunOptions {
    /// The results directory of the case named `case`: inside
    /// `results_dir`, or an error when the name could leave it.
    pub fn case_dir(&self, case: &str) -> Result<PathBuf, crate::case::UnsafeName> {
        crate::case::join_name(&self.results_dir, case)
    }
}

/// What preflight loaded for the checks: the goldens and lkdtm's expectations.
pub struct Prepared {
    pub goldens: preflight::Goldens,
    pub lkdtm: LkdtmExpectations,
    /// The kernel's source tree, when known (what its sources declare,
    /// such as `__nocfi` functions).
    pub tree: Option<PathBuf>,
    /// Case name → why its toolchain cannot build it: the case is skipped
    /// with that reason, nothing built.
    pub unsupported: BTreeMap<String, String>,
}

impl Environment {
    /// The environment of one toolchain.
    pub fn new(cache: Cache, source: Option<KernelSource>, toolchain: Toolchain) -> Environment {
        Environment {
            cache,
            source,
            toolchain,
            other_toolchains: vec![],
            pool: None,
        }
    }

    /// This environment with the job pool `opts` asks for (none when it
    /// asks for the sequential order).
    pub fn pooled(mut self, opts: &RunOptions) -> std::io::Result<Environment> {
        self.pool = match opts.pool {
            true => Some(Pool::for_machine(opts.jobs)?),
            false => None,
        };
        Ok(self)
    }

    /// Every toolchain of the run, the first one first.
    pub fn toolchains(&self) -> impl Iterator<Item = &Toolchain> {
        std::iter::once(&self.toolchain).chain(&self.other_toolchains)
    }

    /// The toolchain `case` is built with: its variant's, else the first.
    pub fn toolchain_for(&self, case: &Case) -> &Toolchain {
        case.variant
            .as_ref()
            .and_then(|v| self.toolchains().find(|t| t.llvm == v.llvm))
            .unwrap_or(&self.toolchain)
    }

    /// What results say the run was built with: the toolchain's version,
    /// or a matrix's versions joined by `; `.
    pub fn toolchain_summary(&self) -> String {
        let all: Vec<&str> = self.toolchains().map(|t| t.version.as_str()).collect();
        all.join("; ")
    }

    /// The builder of `case` for `source` with the run's options.
    pub(crate) fn builder<'a>(
        &'a self,
        source: &'a KernelSource,
        opts: &RunOptions,
        case: &Case,
    ) -> Builder<'a> {
        Builder {
            cc_wrapper: opts.cc_wrapper,
            harness: crate::stages::build::link::this_harness(),
            cache: &self.cache,
            source,
            toolchain: self.toolchain_for(case),
            jobs: opts.jobs,
        }
    }
}

/// What one case left for judging (and re-judging after a bless).
pub(crate) struct Judged {
    facts: Option<KernelFacts>,
    outcome: Option<BootOutcome>,
    boot: CheckResult,
}

impl Judged {
    /// The boot verdict from the outcome, or from the step that never booted.
    fn new(
        facts: Option<KernelFacts>,
        outcome: Option<BootOutcome>,
        step: &crate::model::results::BootStep,
    ) -> Judged {
        let boot = match &outcome {
            Some(o) => checks::boot_verdict(o),
            None => CheckResult::new("boot", step.status, step.message.clone()),
        };
        Judged {
            facts,
            outcome,
            boot,
        }
    }
}

/// Runs every case through build, boot and checks; with `opts.bless`,
/// then rewrites the goldens and re-judges the initcall checks.
pub fn run(
    cases: &[&Case],
    env: &Environment,
    opts: &RunOptions,
    prepared: &Prepared,
    reporter: &dyn Reporter,
) -> RunResults {
    let started_at = build::now_rfc3339();
    let t = Instant::now();
    // Each case's build step as it ends, with when it ended (seconds in).
    let (tx, rx) = mpsc::channel::<(usize, BuildStep, Option<BuiltKernel>, f64)>();
    let ready = Mutex::new(rx);
    let done: Mutex<Vec<Option<(CaseResult, Judged)>>> =
        Mutex::new((0..cases.len()).map(|_| None).collect());
    // --fail-fast: the case that failed first, once one has.
    let stopped_by: Mutex<Option<String>> = Mutex::new(None);
    let stopped = || stopped_by.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let build = |case: &Case| match (stopped(), prepared.unsupported.get(&case.name)) {
        (Some(first), _) => (build_step::not_run(case, &first, reporter), None),
        (None, Some(why)) => (build_step::unsupported(case, why, reporter), None),
        (None, None) => build_case(case, env, opts, reporter),
    };
    std::thread::scope(|s| {
        if env.pool.is_some() {
            // Every build at once; the pool decides when each make starts.
            for (i, case) in cases.iter().enumerate() {
                let (tx, build) = (tx.clone(), &build);
                s.spawn(move || {
                    let (step, kernel) = build(case);
                    let _ = tx.send((i, step, kernel, t.elapsed().as_secs_f64()));
                });
            }
            drop(tx);
        } else {
            s.spawn(move || {
                for (i, case) in cases.iter().enumerate() {
                    let (step, kernel) = build(case);
                    if tx
                        .send((i, step, kernel, t.elapsed().as_secs_f64()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        for _ in 0..opts.boot_jobs.clamp(1, cases.len().max(1)) {
            s.spawn(|| loop {
                // The lock is held only to take the next ready kernel.
                let next = ready.lock().unwrap_or_else(|e| e.into_inner()).recv().ok();
                let Some((i, build_step, kernel, build_done)) = next else {
                    return;
                };
                let case = cases[i];
                let mut r = match stopped() {
                    Some(first) => not_run(case, build_step, &first, reporter),
                    None => {
                        let r = run_case(case, build_step, kernel, env, opts, prepared, reporter);
                        fail_fast(r, case, &stopped_by, opts, reporter)
                    }
                };
                r.0.timeline = Some(Timeline {
                    build_done,
                    verdict: t.elapsed().as_secs_f64(),
                });
                done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    let (results, judged): (Vec<_>, Vec<_>) = done
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|o| match o {
            Some((r, j)) => (Some(r), Some(j)),
            None => (None, None),
        })
        .unzip();
    let judged: Vec<Option<Judged>> = judged;
    if stopped().is_some() {
        crate::host::proc::resume_spawning();
    }
    let mut cases_out: Vec<CaseResult> = results.into_iter().flatten().collect();
    let reported: Vec<Status> = cases_out.iter().map(|r| r.status).collect();
    hygiene::judge(cases, &mut cases_out, reporter);
    let blessed = if opts.bless {
        bless::bless(cases, &judged, &mut cases_out, prepared, reporter)
    } else {
        vec![]
    };
    // A verdict the judgements across cases changed is said again, so the
    // log's last word on a case is its result's.
    for (r, was) in cases_out.iter().zip(reported) {
        if r.status != was {
            reporter.report(&Event::CaseFinished {
                case: &r.name,
                status: r.status,
            });
        }
    }
    let mut out = RunResults {
        harness_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        seconds: t.elapsed().as_secs_f64(),
        source: env.source.as_ref().map(|s| s.identity.clone()),
        kernel_version: env.source.as_ref().map(|s| s.version.clone()),
        toolchain: Some(env.toolchain_summary()),
        cases: cases_out,
        blessed,
        bisected: None,
        summary: Summary::default(),
    };
    out.summarise();
    out
}

/// With `--fail-fast`: the first failed case stops the run (nothing more
/// starts, every process running is killed); a case that was running then
/// and did not pass or fail on its own is reported as stopped.
fn fail_fast(
    r: (CaseResult, Judged),
    case: &Case,
    stopped_by: &Mutex<Option<String>>,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> (CaseResult, Judged) {
    if !opts.fail_fast {
        return r;
    }
    let mut first = stopped_by.lock().unwrap_or_else(|e| e.into_inner());
    match first.clone() {
        None if r.0.status == Status::Fail => {
            *first = Some(case.name.clone());
            drop(first);
            let killed = crate::host::proc::stop_everything();
            reporter.report(&Event::Warning {
                case: &case.name,
                message: &format!(
                    "--fail-fast: {} failed; starting nothing more, {killed} process group(s) killed",
                    case.name
                ),
            });
            r
        }
        Some(by) if !matches!(r.0.status, Status::Pass | Status::Fail) => {
            drop(first);
            not_run(case, r.0.build, &by, reporter)
        }
        _ => r,
    }
}

/// A case the run did not go on with after `first` failed (`--fail-fast`):
/// skipped, saying so.
fn not_run(
    case: &Case,
    build: BuildStep,
    first: &str,
    reporter: &dyn Reporter,
) -> (CaseResult, Judged) {
    let why = format!("not run: --fail-fast stopped the run after {first} failed");
    let boot = boot_step::skipped(&why);
    let j = Judged::new(None, None, &boot);
    // The build, if it ran, says what it did; the case is not judged.
    let build = BuildStep {
        status: Status::Skipped,
        message: match build.status {
            Status::Skipped => build.message,
            s => format!("{why} (the build: {s}: {})", build.message),
        },
        log: None,
        ..build
    };
    let r = CaseResult {
        name: case.name.clone(),
        arch: case.arch,
        lto: case.lto,
        cfi: case.cfi,
        status: Status::Skipped,
        build,
        boot,
        checks: vec![],
        regressions: vec![],
        toolchain: None,
        variant: case.variant.clone(),
        timeline: None,
        recipe: None,
    };
    reporter.report(&Event::CaseFinished {
        case: &case.name,
        status: r.status,
    });
    (r, j)
}

/// One case after its build: boot, judge, retry, and its result.
fn run_case(
    case: &Case,
    build_step: BuildStep,
    kernel: Option<BuiltKernel>,
    env: &Environment,
    opts: &RunOptions,
    prepared: &Prepared,
    reporter: &dyn Reporter,
) -> (CaseResult, Judged) {
    // vmlinux and the modules are read only for cases that check them.
    let facts = kernel
        .as_ref()
        .filter(|_| case.checks.iter().any(|k| *k != CheckKind::Boot))
        .map(|k| KernelFacts::gather(case, k));
    let (mut boot_step, outcome) = match &kernel {
        Some(k) => boot_step::boot_case(case, k, env, opts, reporter, 0),
        None if build_step.status == Status::Skipped => (
            boot_step::skipped("not built: the build step says why"),
            None,
        ),
        None => (
            boot_step::skipped("the build did not produce a kernel"),
            None,
        ),
    };
    let mut j = Judged::new(facts, outcome, &boot_step);
    let mut checks = judge(case, &j, prepared, &prepared.goldens.by_path);
    if let Some(k) = &kernel {
        retry::retry(
            case,
            k,
            (&mut boot_step, &mut checks, &mut j),
            env,
            opts,
            prepared,
            reporter,
        );
    }
    for c in &checks {
        reporter.report(&Event::StepFinished {
            case: &case.name,
            step: Step::Check(&c.name),
            status: c.status,
            seconds: 0.0,
            message: &c.message,
        });
    }
    let mut r = CaseResult {
        name: case.name.clone(),
        arch: case.arch,
        lto: case.lto,
        cfi: case.cfi,
        status: Status::Skipped,
        build: build_step,
        boot: boot_step,
        checks,
        regressions: vec![],
        toolchain: env
            .source
            .as_ref()
            .map(|_| env.toolchain_for(case).version.clone()),
        variant: case.variant.clone(),
        timeline: None,
        recipe: None,
    };
    r.compute_status();
    // What the case's reproduce.sh is written from, for a kernel that was
    // built (or failed to build), not one skipped or never attempted.
    if matches!(r.build.status, Status::Pass | Status::Fail) {
        match reproduce::recipe(case, env, opts, &r.boot) {
            Ok(recipe) => r.recipe = Some(recipe),
            Err(e) => reporter.report(&Event::Warning {
                case: &case.name,
                message: &format!("no reproduce.sh: {e:#}"),
            }),
        }
    }
    reporter.report(&Event::CaseFinished {
        case: &case.name,
        status: r.status,
    });
    (r, j)
}

/// All checks but `boot` (which is the boot step's verdict).
pub(crate) fn judge(
    case: &Case,
    j: &Judged,
    prepared: &Prepared,
    goldens: &BTreeMap<PathBuf, Golden>,
) -> Vec<CheckResult> {
    let resolved = prepared.goldens.for_case.get(&case.name);
    let absent = resolved.and_then(|r| {
        r.only_for.as_ref().map(|other| {
            let series = prepared.goldens.series.as_deref().unwrap_or("?");
            format!(
                "no golden for Linux {series}: {} has {other}'s order; bless one with \
                 `lto-harness bless {} --kernel-src <this tree>` (it writes {})",
                case.golden
                    .as_ref()
                    .map_or("the family".into(), |g| g.path.display().to_string()),
                case.name,
                r.path.display()
            )
        })
    });
    let expect = Expectations {
        golden: resolved.and_then(|r| goldens.get(&r.path)),
        golden_absent: absent.as_deref(),
        lkdtm: &prepared.lkdtm,
        tree: prepared.tree.as_deref(),
    };
    checks::judge(
        case,
        j.facts.as_ref(),
        &expect,
        j.outcome.as_ref(),
        j.boot.clone(),
    )
    .into_iter()
    .skip(1)
    .collect()
}
