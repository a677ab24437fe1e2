//! Runner: drives the pipeline for the selected cases. A build thread
//! builds kernels one after another (each `make -jN` uses every core); a
//! boot thread writes each case's initramfs, boots it and judges it as
//! soon as its kernel is ready, so boots overlap the next build. The
//! runner only produces results and typed events: showing them is the
//! reporter's job, writing them the report's.

use crate::case::{Case, CheckKind};
use crate::checks::golden::{self, Golden, GoldenError};
use crate::checks::{self, cfi::LkdtmExpectations, Expectations, KernelFacts};
use crate::elf::initcalls::Initcall;
use crate::events::{Event, Reporter, Step};
use crate::host::cache::Cache;
use crate::host::toolchain::{self, Toolchain};
use crate::model::results::{
    BlessStatus, Blessing, BootStep, BuildStep, CaseResult, RunResults, Summary,
};
use crate::model::{CheckResult, Status};
use crate::stages::boot::{self, Accel, BootOutcome, BootRequest};
use crate::stages::build::{self, BuildError, BuildProgress, Builder, BuiltKernel};
use crate::stages::image;
use crate::stages::source::KernelSource;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Everything a run needs that does not depend on the case.
pub struct Environment {
    pub cache: Cache,
    /// None with `--kernel-build` (nothing is built).
    pub source: Option<KernelSource>,
    pub toolchain: Toolchain,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub results_dir: PathBuf,
    pub accel: Accel,
    pub jobs: usize,
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
}

/// What preflight loaded for the checks: the goldens and lkdtm's expectations.
pub struct Prepared {
    pub goldens: BTreeMap<PathBuf, Golden>,
    pub lkdtm: LkdtmExpectations,
}

/// Loads every golden the cases compare with. A missing golden is an
/// error unless blessing (which creates it); a malformed one always is,
/// naming its file and line.
pub fn load_goldens(cases: &[&Case], bless: bool) -> Result<BTreeMap<PathBuf, Golden>> {
    let mut out = BTreeMap::new();
    for case in cases {
        let Some(g) = case
            .golden
            .as_ref()
            .filter(|_| case.wants(CheckKind::Initcalls))
        else {
            continue;
        };
        if out.contains_key(&g.path) {
            continue;
        }
        match Golden::load(&g.path) {
            Ok(golden) => {
                out.insert(g.path.clone(), golden);
            }
            Err(GoldenError::Io { error, .. })
                if bless && error.kind() == std::io::ErrorKind::NotFound => {}
            Err(GoldenError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "case {} ({}): golden {} does not exist; create it from the kernel with `lto-harness bless {}`",
                    case.name,
                    case.file.display(),
                    g.path.display(),
                    case.name
                )
            }
            Err(e) => bail!(
                "case {} ({}): bad golden: {e}",
                case.name,
                case.file.display()
            ),
        }
    }
    Ok(out)
}

/// Refuses, before anything is built, a run that cannot work: a missing
/// tool (naming its package), CFI asked of a toolchain that cannot do it.
pub fn preflight(cases: &[&Case], env: &Environment, opts: &RunOptions) -> Result<Prepared> {
    let goldens = load_goldens(cases, opts.bless)?;
    let tree = match (&env.source, &opts.kernel_build) {
        (Some(s), _) => Some(s.root.clone()),
        // kbuild leaves `source` in an O= directory, pointing at the tree.
        (None, Some(dir)) => Some(dir.join("source")),
        (None, None) => None,
    };
    let lkdtm = LkdtmExpectations::load(tree.as_deref());
    if opts.kernel_build.is_none() {
        if let Some(w) = opts.cc_wrapper {
            w.require()?;
        }
        toolchain::require("make", "make")?;
        for (tool, pkg) in [("flex", "flex"), ("bison", "bison"), ("bc", "bc")] {
            toolchain::require(tool, pkg)?;
        }
    }
    if opts.kernel_build.is_some() && cases.len() != 1 {
        bail!(
            "--kernel-build judges one kernel: name exactly one case (got {})",
            cases.len()
        );
    }
    for case in cases {
        let arch = case.arch.profile();
        toolchain::require(arch.qemu.binary, arch.qemu.package)?;
        image::busybox_for(arch, &env.cache)
            .with_context(|| format!("case {}: no busybox for {}", case.name, arch.name))?;
        if case.cfi.is_on() && opts.kernel_build.is_none() {
            if let Err(why) = env.toolchain.check_kcfi(case.arch) {
                bail!(
                    "{}: case {} asks for CFI, but {} ({}) cannot compile -fsanitize=kcfi for {}: {why}\n\
                     kCFI needs clang 16 or newer (Debian: clang-19)",
                    case.file.display(),
                    case.name,
                    env.toolchain.clang.display(),
                    env.toolchain.version,
                    arch.clang_target
                );
            }
        }
    }
    Ok(Prepared { goldens, lkdtm })
}

/// The exact commands each case would run, runnable by hand.
pub fn dry_run(cases: &[&Case], env: &Environment, opts: &RunOptions) -> Result<String> {
    let mut out = String::new();
    for case in cases {
        out.push_str(&format!("# case {} ({})\n", case.name, case.file.display()));
        let (image_path, initrd) = match (&opts.kernel_build, &env.source) {
            (Some(dir), _) => (
                dir.join(case.arch.profile().boot_image),
                opts.results_dir.join(&case.name).join("initramfs.cpio.gz"),
            ),
            (None, Some(source)) => {
                let builder = Builder {
                    cc_wrapper: opts.cc_wrapper,
                    cache: &env.cache,
                    source,
                    toolchain: &env.toolchain,
                    jobs: opts.jobs,
                };
                let plan = builder.plan(case)?;
                out.push_str(&format!(
                    "mkdir -p {} {}\n",
                    plan.work_dir.display(),
                    plan.work_dir.join("lto-harness-fragments").display()
                ));
                out.push_str("# fragments (written by the harness):\n");
                for (label, _) in &plan.fragments {
                    out.push_str(&format!("#   {label}\n"));
                }
                for cmd in builder.commands(&plan) {
                    out.push_str(&build::shell_line(&cmd));
                    out.push('\n');
                }
                (
                    plan.work_dir.join(plan.arch.boot_image),
                    opts.results_dir.join(&case.name).join("initramfs.cpio.gz"),
                )
            }
            (None, None) => bail!("no kernel source"),
        };
        let req = boot_request(
            case,
            &image_path,
            &initrd,
            &opts.results_dir.join(&case.name),
            opts,
        );
        out.push_str("# initramfs is written by `lto-harness run`; then:\n");
        out.push_str(&build::shell_line(&boot::qemu_argv(&req)));
        out.push_str("\n\n");
    }
    Ok(out)
}

fn boot_request(
    case: &Case,
    image: &Path,
    initrd: &Path,
    dir: &Path,
    opts: &RunOptions,
) -> BootRequest {
    BootRequest {
        arch: case.arch.profile(),
        image: image.to_owned(),
        initrd: initrd.to_owned(),
        cmdline: case.cmdline.clone(),
        timeout: opts
            .timeout
            .unwrap_or(Duration::from_secs(case.timeout_secs)),
        accel: opts.accel,
        log: dir.join("console.log"),
        stderr_log: dir.join("qemu-stderr.log"),
        icount: false,
    }
}

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
    let result = match (&opts.kernel_build, &env.source) {
        (Some(dir), _) => build::from_existing(dir, case),
        (None, Some(source)) => {
            let builder = Builder {
                cc_wrapper: opts.cc_wrapper,
                cache: &env.cache,
                source,
                toolchain: &env.toolchain,
                jobs: opts.jobs,
            };
            builder
                .plan(case)
                .map_err(BuildError::Incomplete)
                .and_then(|plan| builder.build(&plan, &Progress { reporter }))
        }
        (None, None) => Err(BuildError::Incomplete(anyhow::anyhow!("no kernel source"))),
    };
    let seconds = t.elapsed().as_secs_f64();
    let case_dir = opts.results_dir.join(&case.name);
    let _ = std::fs::create_dir_all(&case_dir);
    let (step, kernel) = match result {
        Ok(k) => {
            let message = match (&k.metadata, k.reused) {
                (_, _) if opts.kernel_build.is_some() => {
                    format!("using the kernel in {}", k.dir.display())
                }
                (Some(m), true) => format!(
                    "reused cached build {} (built in {:.0} s)",
                    &k.key[..12],
                    m.wall_seconds
                ),
                (Some(m), false) => format!(
                    "built {} in {:.0} s ({:.0} CPU s, peak {} MiB)",
                    &k.key[..12],
                    m.wall_seconds,
                    m.cpu_seconds,
                    m.max_rss_kib / 1024
                ),
                (None, _) => "kernel ready".into(),
            };
            let log = k.log.as_ref().map(|l| copy_into(l, &case_dir, "build.log"));
            let metadata = k
                .metadata_path
                .as_ref()
                .map(|m| copy_into(m, &case_dir, "metadata.json"));
            (
                BuildStep {
                    status: Status::Pass,
                    message,
                    seconds,
                    reused: k.reused,
                    key: Some(k.key.clone()),
                    artifacts: Some(k.dir.clone()),
                    log,
                    metadata,
                    error_lines: vec![],
                },
                Some(k),
            )
        }
        Err(BuildError::Failed { message, log, tail }) => {
            let log = log.map(|l| copy_into(&l, &case_dir, "build.log"));
            (
                BuildStep {
                    status: Status::Fail,
                    message,
                    seconds,
                    reused: false,
                    key: None,
                    artifacts: None,
                    log,
                    metadata: None,
                    error_lines: tail,
                },
                None,
            )
        }
        Err(BuildError::Incomplete(e)) => (
            BuildStep {
                status: Status::Incomplete,
                message: format!("{e:#}"),
                seconds,
                reused: false,
                key: None,
                artifacts: None,
                log: None,
                metadata: None,
                error_lines: vec![],
            },
            None,
        ),
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

/// Copies `from` into the case's results dir (so results survive cache
/// cleanups), falling back to the original path on error.
fn copy_into(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    match std::fs::copy(from, &to) {
        Ok(_) => to,
        Err(_) => from.to_owned(),
    }
}

/// Writes the image, boots one case and judges the boot; the other checks
/// are judged by the caller from the outcome.
fn boot_case(
    case: &Case,
    kernel: &BuiltKernel,
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
    attempt: usize,
) -> (BootStep, Option<BootOutcome>) {
    reporter.report(&Event::StepStarted {
        case: &case.name,
        step: Step::Boot,
    });
    let t = Instant::now();
    let dir = opts.results_dir.join(&case.name);
    let initrd = dir.join("initramfs.cpio.gz");
    let incomplete = |message: String| {
        (
            BootStep {
                status: Status::Incomplete,
                message,
                seconds: t.elapsed().as_secs_f64(),
                console_log: None,
                qemu_command: None,
                end: None,
                attempts: vec![],
            },
            None,
        )
    };
    reporter.report(&Event::Phase {
        case: &case.name,
        step: Step::Boot,
        phase: "initramfs",
    });
    let busybox = match image::busybox_for(case.arch.profile(), &env.cache) {
        Ok(b) => b,
        Err(e) => return incomplete(format!("{e:#}")),
    };
    if let Err(e) = image::write_initramfs(case, kernel, &busybox, &initrd) {
        // A module the case lists that the build did not produce is the
        // kernel config's fault; an I/O error is the harness's.
        let (step, checks) = incomplete(e.to_string());
        let status = e.fault().status();
        return (BootStep { status, ..step }, checks);
    }
    let mut req = boot_request(case, &kernel.image, &initrd, &dir, opts);
    // Which boot of this kernel this is, in the log and in init's
    // environment (the kernel hands unknown `a_b=c` words to init).
    req.cmdline
        .push(crate::guest::protocol::attempt_word(attempt));
    if attempt > 0 {
        req.log = dir.join(format!("console.retry-{attempt}.log"));
        req.stderr_log = dir.join(format!("qemu-stderr.retry-{attempt}.log"));
    }
    let qemu_command = build::shell_line(&boot::qemu_argv(&req));
    reporter.report(&Event::Phase {
        case: &case.name,
        step: Step::Boot,
        phase: "qemu",
    });
    let outcome = boot::boot_watching(&req, &|line| {
        reporter.report(&Event::Output {
            case: &case.name,
            step: Step::Boot,
            line,
        })
    });
    let verdict = checks::boot_verdict(&outcome);
    let step = BootStep {
        status: verdict.status,
        message: verdict.message.clone(),
        seconds: outcome.seconds,
        console_log: Some(outcome.log.clone()),
        qemu_command: Some(qemu_command),
        end: Some(outcome.end.clone()),
        attempts: vec![],
    };
    reporter.report(&Event::StepFinished {
        case: &case.name,
        step: Step::Boot,
        status: step.status,
        seconds: step.seconds,
        message: &step.message,
    });
    (step, Some(outcome))
}

fn skipped_boot(why: &str) -> BootStep {
    BootStep {
        status: Status::Skipped,
        message: why.into(),
        seconds: 0.0,
        console_log: None,
        qemu_command: None,
        end: None,
        attempts: vec![],
    }
}

/// What one case left for judging (and re-judging after a bless).
struct Judged {
    facts: Option<KernelFacts>,
    outcome: Option<BootOutcome>,
    boot: CheckResult,
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
    let (tx, rx) = mpsc::channel::<(usize, BuildStep, Option<BuiltKernel>)>();
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    let mut judged: Vec<Option<Judged>> = (0..cases.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        s.spawn(move || {
            for (i, case) in cases.iter().enumerate() {
                let (step, kernel) = build_case(case, env, opts, reporter);
                if tx.send((i, step, kernel)).is_err() {
                    return;
                }
            }
        });
        for (i, build_step, kernel) in rx {
            let case = cases[i];
            // vmlinux and the modules are read only for cases that check them.
            let facts = kernel
                .as_ref()
                .filter(|_| case.checks.iter().any(|k| *k != CheckKind::Boot))
                .map(|k| KernelFacts::gather(case, k));
            let (mut boot_step, outcome) = match &kernel {
                Some(k) => boot_case(case, k, env, opts, reporter, 0),
                None => (skipped_boot("the build did not produce a kernel"), None),
            };
            let boot = match &outcome {
                Some(o) => checks::boot_verdict(o),
                None => CheckResult::new("boot", boot_step.status, boot_step.message.clone()),
            };
            let mut j = Judged {
                facts,
                outcome,
                boot,
            };
            let mut checks = judge(case, &j, prepared, &prepared.goldens);
            let mut attempt = 0;
            while let Some(k) = kernel.as_ref().filter(|_| {
                attempt < opts.retries && j.outcome.is_some() && needs_retry(&boot_step, &checks)
            }) {
                attempt += 1;
                reporter.report(&Event::Phase {
                    case: &case.name,
                    step: Step::Boot,
                    phase: &format!("retry {attempt}/{}", opts.retries),
                });
                let (step2, outcome2) = boot_case(case, k, env, opts, reporter, attempt);
                let boot2 = match &outcome2 {
                    Some(o) => checks::boot_verdict(o),
                    None => CheckResult::new("boot", step2.status, step2.message.clone()),
                };
                j = Judged {
                    facts: j.facts.take(),
                    outcome: outcome2,
                    boot: boot2,
                };
                let checks2 = judge(case, &j, prepared, &prepared.goldens);
                merge_attempt(&mut boot_step, &mut checks, step2, checks2);
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
            };
            r.compute_status();
            reporter.report(&Event::CaseFinished {
                case: &case.name,
                status: r.status,
            });
            results[i] = Some(r);
            judged[i] = Some(j);
        }
    });
    let mut cases_out: Vec<CaseResult> = results.into_iter().flatten().collect();
    let blessed = if opts.bless {
        bless(cases, &judged, &mut cases_out, prepared)
    } else {
        vec![]
    };
    let mut out = RunResults {
        harness_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        seconds: t.elapsed().as_secs_f64(),
        source: env.source.as_ref().map(|s| s.identity.clone()),
        kernel_version: env.source.as_ref().map(|s| s.version.clone()),
        toolchain: Some(env.toolchain.version.clone()),
        cases: cases_out,
        blessed,
        summary: Summary::default(),
    };
    out.summarise();
    out
}

fn bad(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Incomplete)
}

/// Checks read from the build's files: a new boot cannot change them.
fn is_static(check: &CheckResult) -> bool {
    check.name.ends_with(".static")
}

fn needs_retry(boot: &BootStep, checks: &[CheckResult]) -> bool {
    bad(boot.status) || checks.iter().any(|c| !is_static(c) && bad(c.status))
}

/// Folds a retry into the results: every step or runtime check that had
/// not passed yet takes the retry's verdict, with all attempts recorded.
/// What already passed stays as it was.
fn merge_attempt(
    boot: &mut BootStep,
    checks: &mut [CheckResult],
    boot2: BootStep,
    checks2: Vec<CheckResult>,
) {
    if bad(boot.status) {
        let mut attempts = std::mem::take(&mut boot.attempts);
        if attempts.is_empty() {
            attempts.push(boot.status);
        }
        attempts.push(boot2.status);
        *boot = BootStep { attempts, ..boot2 };
    }
    for c in checks.iter_mut().filter(|c| !is_static(c) && bad(c.status)) {
        let Some(n) = checks2.iter().find(|n| n.name == c.name) else {
            continue;
        };
        let mut attempts = std::mem::take(&mut c.attempts);
        if attempts.is_empty() {
            attempts.push(c.status);
        }
        attempts.push(n.status);
        *c = CheckResult {
            attempts,
            ..n.clone()
        };
    }
}

/// All checks but `boot` (which is the boot step's verdict).
fn judge(
    case: &Case,
    j: &Judged,
    prepared: &Prepared,
    goldens: &BTreeMap<PathBuf, Golden>,
) -> Vec<CheckResult> {
    let expect = Expectations {
        golden: case.golden.as_ref().and_then(|g| goldens.get(&g.path)),
        lkdtm: &prepared.lkdtm,
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

/// Per case (by index), the initcall order its kernel would bless, or why not.
type KernelOrders = Vec<(usize, Result<Vec<Initcall>, String>)>;

/// Rewrites each golden the cases share from what their kernels did, when
/// they all agree, atomically; then re-judges those cases' checks against
/// the new goldens. Never writes a golden the kernels disagree about.
fn bless(
    cases: &[&Case],
    judged: &[Option<Judged>],
    results: &mut [CaseResult],
    prepared: &Prepared,
) -> Vec<Blessing> {
    // Golden path -> (family, [(case, order or why not)]).
    let mut by_golden: BTreeMap<PathBuf, (String, KernelOrders)> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let (Some(g), Some(j)) = (&case.golden, &judged[i]) else {
            continue;
        };
        if !case.wants(CheckKind::Initcalls) {
            continue;
        }
        let console = j.outcome.as_ref().map(checks::Console::read);
        let order = match &j.facts {
            Some(f) => checks::initcalls::blessable(f, console.as_ref()),
            None => Err("no kernel was built".into()),
        };
        by_golden
            .entry(g.path.clone())
            .or_insert_with(|| (g.family.clone(), vec![]))
            .1
            .push((i, order));
    }
    let mut goldens = prepared.goldens.clone();
    let mut out = Vec::new();
    for (path, (family, orders)) in by_golden {
        let names =
            |idx: &[usize]| -> Vec<String> { idx.iter().map(|i| cases[*i].name.clone()).collect() };
        let all: Vec<usize> = orders.iter().map(|(i, _)| *i).collect();
        let mut blessing = Blessing {
            family: family.clone(),
            path: path.clone(),
            cases: names(&all),
            status: BlessStatus::Refused,
            message: String::new(),
            added: 0,
            removed: 0,
            diff: vec![],
        };
        let failed: Vec<String> = orders
            .iter()
            .filter_map(|(i, o)| o.as_ref().err().map(|e| format!("{}: {e}", cases[*i].name)))
            .collect();
        if !failed.is_empty() {
            blessing.message = format!("not blessed: {}", failed.join("; "));
            out.push(blessing);
            continue;
        }
        let first = orders[0].1.as_ref().expect("checked").clone();
        let disagree: Vec<String> = orders[1..]
            .iter()
            .filter_map(|(i, o)| {
                let o = o.as_ref().expect("checked");
                golden::compare(&first, &path, o, &cases[*i].name).map(|m| {
                    format!(
                        "{} differs from {}: {}",
                        cases[*i].name, cases[orders[0].0].name, m.summary
                    )
                })
            })
            .collect();
        if !disagree.is_empty() {
            blessing.message = format!(
                "not blessed: the kernels that share this golden disagree: {}",
                disagree.join("; ")
            );
            out.push(blessing);
            continue;
        }
        let old = goldens
            .get(&path)
            .map(|g| g.entries.clone())
            .unwrap_or_default();
        match golden::compare(&old, &path, &first, "blessed") {
            None => {
                blessing.status = BlessStatus::Unchanged;
                blessing.message = format!("{} initcalls, as before", first.len());
            }
            Some(m) => {
                let text = Golden::render(&family, &first);
                match crate::host::cache::write_atomic(&path, text.as_bytes()) {
                    Ok(()) => {
                        blessing.status = BlessStatus::Written;
                        blessing.added = m.extra;
                        blessing.removed = m.missing;
                        blessing.message = if old.is_empty() {
                            format!("created with {} initcalls", first.len())
                        } else {
                            format!(
                                "rewritten: {} initcalls, {} added, {} removed; was: {}",
                                first.len(),
                                m.extra,
                                m.missing,
                                m.summary
                            )
                        };
                        if !old.is_empty() {
                            blessing.diff = m.diff.lines().map(str::to_owned).collect();
                        }
                        goldens.insert(
                            path.clone(),
                            Golden {
                                path: path.clone(),
                                entries: first.clone(),
                            },
                        );
                    }
                    Err(e) => blessing.message = format!("cannot write {}: {e:#}", path.display()),
                }
            }
        }
        out.push(blessing);
    }
    // Re-judge against the goldens as they now are.
    for (i, case) in cases.iter().enumerate() {
        if let (Some(j), Some(r)) = (&judged[i], results.get_mut(i)) {
            if case.wants(CheckKind::Initcalls) {
                r.checks = judge(case, j, prepared, &goldens);
                r.compute_status();
            }
        }
    }
    out
}
