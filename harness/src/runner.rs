//! Runner: drives the pipeline for the selected cases. A build thread
//! builds kernels one after another (each `make -jN` uses every core); a
//! boot thread writes each case's initramfs, boots it and judges it as
//! soon as its kernel is ready, so boots overlap the next build. The
//! runner only produces results and typed events: showing them is the
//! reporter's job, writing them the report's.

use crate::boot::{self, Accel, BootRequest};
use crate::build::{self, BuildError, BuildProgress, Builder, BuiltKernel};
use crate::cache::Cache;
use crate::case::Case;
use crate::checks::{self, CheckResult, Status};
use crate::image;
use crate::report::{BootStep, BuildStep, CaseResult, RunResults, Summary};
use crate::reporter::{Reporter, RunEvent};
use crate::source::KernelSource;
use crate::toolchain::{self, Toolchain};
use anyhow::{bail, Context, Result};
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
}

/// Refuses, before anything is built, a run that cannot work: a missing
/// tool (naming its package), CFI asked of a toolchain that cannot do it.
pub fn preflight(cases: &[&Case], env: &Environment, opts: &RunOptions) -> Result<()> {
    if opts.kernel_build.is_none() {
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
    Ok(())
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
        self.reporter.report(RunEvent::Phase {
            case,
            step: "build",
            phase,
        });
    }
    fn line(&self, case: &str, line: &str) {
        self.reporter.report(RunEvent::Output {
            case,
            step: "build",
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
    reporter.report(RunEvent::StepStarted {
        case: &case.name,
        step: "build",
    });
    let t = Instant::now();
    let result = match (&opts.kernel_build, &env.source) {
        (Some(dir), _) => build::from_existing(dir, case),
        (None, Some(source)) => {
            let builder = Builder {
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
    reporter.report(RunEvent::StepFinished {
        case: &case.name,
        step: "build",
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

/// Writes the image, boots and judges one case.
fn boot_case(
    case: &Case,
    kernel: &BuiltKernel,
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> (BootStep, Vec<CheckResult>) {
    reporter.report(RunEvent::StepStarted {
        case: &case.name,
        step: "boot",
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
            },
            vec![],
        )
    };
    reporter.report(RunEvent::Phase {
        case: &case.name,
        step: "boot",
        phase: "initramfs",
    });
    let busybox = match image::busybox_for(case.arch.profile(), &env.cache) {
        Ok(b) => b,
        Err(e) => return incomplete(format!("{e:#}")),
    };
    if let Err(e) = image::write_initramfs(case, kernel, &busybox, &initrd) {
        // A module the case lists that the build did not produce is the kernel config's fault.
        let (step, checks) = incomplete(format!("{e:#}"));
        let status = if e.to_string().contains("the build has no") {
            Status::Fail
        } else {
            Status::Incomplete
        };
        return (BootStep { status, ..step }, checks);
    }
    let req = boot_request(case, &kernel.image, &initrd, &dir, opts);
    let qemu_command = build::shell_line(&boot::qemu_argv(&req));
    reporter.report(RunEvent::Phase {
        case: &case.name,
        step: "boot",
        phase: "qemu",
    });
    let outcome = boot::boot(&req);
    let checks = checks::judge(case, &outcome);
    let verdict = &checks[0];
    let step = BootStep {
        status: verdict.status,
        message: verdict.message.clone(),
        seconds: outcome.seconds,
        console_log: Some(outcome.log.clone()),
        qemu_command: Some(qemu_command),
        end: serde_json::to_value(&outcome.end).ok(),
    };
    reporter.report(RunEvent::StepFinished {
        case: &case.name,
        step: "boot",
        status: step.status,
        seconds: step.seconds,
        message: &step.message,
    });
    (step, checks.into_iter().skip(1).collect())
}

fn skipped_boot(why: &str) -> BootStep {
    BootStep {
        status: Status::Skipped,
        message: why.into(),
        seconds: 0.0,
        console_log: None,
        qemu_command: None,
        end: None,
    }
}

/// Runs every case through build, boot and checks.
pub fn run(
    cases: &[&Case],
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> RunResults {
    let started_at = build::now_rfc3339();
    let t = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, BuildStep, Option<BuiltKernel>)>();
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
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
            let (boot_step, checks) = match &kernel {
                Some(k) => boot_case(case, k, env, opts, reporter),
                None => (skipped_boot("the build did not produce a kernel"), vec![]),
            };
            let checks = if checks.is_empty() && kernel.is_none() {
                case.checks
                    .iter()
                    .filter(|k| **k != crate::case::CheckKind::Boot)
                    .map(|k| CheckResult {
                        name: k.name().into(),
                        status: Status::Skipped,
                        message: "no kernel to check".into(),
                        details: vec![],
                    })
                    .collect()
            } else {
                checks
            };
            for c in &checks {
                reporter.report(RunEvent::StepFinished {
                    case: &case.name,
                    step: &format!("check:{}", c.name),
                    status: c.status,
                    seconds: 0.0,
                    message: &c.message,
                });
            }
            let mut r = CaseResult {
                name: case.name.clone(),
                arch: case.arch.name().into(),
                lto: case.lto.name().into(),
                cfi: case.cfi.name().into(),
                status: Status::Skipped,
                build: build_step,
                boot: boot_step,
                checks,
                regressions: vec![],
            };
            r.compute_status();
            reporter.report(RunEvent::CaseFinished {
                case: &case.name,
                status: r.status,
            });
            results[i] = Some(r);
        }
    });
    let mut out = RunResults {
        harness_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        seconds: t.elapsed().as_secs_f64(),
        source: env.source.as_ref().map(|s| s.identity.clone()),
        kernel_version: env.source.as_ref().map(|s| s.version.clone()),
        toolchain: Some(env.toolchain.version.clone()),
        cases: results.into_iter().flatten().collect(),
        summary: Summary::default(),
    };
    out.summarise();
    out
}
