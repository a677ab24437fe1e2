//! Bench: what LTO costs and buys, kernel A against kernel B.
//!
//! Build cost and sizes come from each build's `metadata.json`. Boot and
//! workload figures come from guests booted as *agents*: the initramfs's
//! `/init` reads `WORKLOAD ITERATIONS` lines from the console and runs them
//! with `lto-bench` (images/workloads), so one boot serves many samples.
//! Both guests stay up and take turns (A, B, then B, A next round), so
//! drift on a shared machine hits both.
//!
//! * `deterministic` (default): QEMU `-icount shift=0,sleep=off`; the guest
//!   clock counts instructions, so figures are guest instruction path
//!   lengths (basis `icount`), repeatable across boots. Not cycles.
//! * `wall`: plain TCG, guest clock ≈ host time (basis `wall`): many
//!   samples, medians, bootstrap 95 % intervals; a verdict only when the
//!   interval excludes zero.
//!
//! * [`workloads`]: the workloads and the selection of a run's list;
//! * [`agent`]: booting a kernel as an agent and talking to it;
//! * [`schedule`]: the deterministic and the wall scheduler;
//! * [`report`]: the metrics, bench.json and the table;
//! * [`kcidb`]: the figures as KCIDB tests (bench-kcidb.json);
//! * [`stats`]: medians, intervals and verdicts.

pub mod agent;
pub mod kcidb;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod workloads;

pub use agent::{Agent, AgentSession};
pub use report::{build_figures, BenchReport, BuildFigure, KernelInfo, Metric};
pub use workloads::{Workload, WALL_ITERATION_FACTOR, WORKLOADS};

use crate::case::Case;
use crate::events::Reporter;
use crate::run::{Environment, RunOptions};
use crate::stages::build::BuiltKernel;
use crate::stages::image;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Guest instruction counts under -icount: repeatable, not cycles.
    Deterministic,
    /// Plain TCG wall time: noisy; many interleaved samples and intervals.
    Wall,
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub mode: Mode,
    /// Guest boots per kernel (each gives one boot sample).
    pub boots: usize,
    /// Samples of each workload per boot.
    pub samples: usize,
    /// Workload names (empty: all).
    pub workloads: Vec<String>,
    /// Limit for one boot or one workload sample.
    pub step_timeout: Duration,
}

impl BenchOptions {
    pub fn defaults(mode: Mode) -> BenchOptions {
        match mode {
            // Repeats only show the figures are repeatable: few are needed.
            Mode::Deterministic => BenchOptions {
                mode,
                boots: 2,
                samples: 2,
                workloads: vec![],
                step_timeout: Duration::from_secs(300),
            },
            Mode::Wall => BenchOptions {
                mode,
                boots: 3,
                samples: 5,
                workloads: vec![],
                step_timeout: Duration::from_secs(300),
            },
        }
    }
}

/// The figures taken from one kernel's boots.
#[derive(Debug, Default)]
struct Samples {
    boot_run_init: Vec<f64>,
    boot_stamp: Vec<f64>,
    /// Per workload, by its index in the run's list.
    workloads: Vec<Vec<f64>>,
}

/// One kernel under test.
struct Subject<'a> {
    case: &'a Case,
    kernel: BuiltKernel,
    initrd: PathBuf,
    /// Where its initramfs and console logs go.
    dir: PathBuf,
    samples: Samples,
    logs: Vec<PathBuf>,
}

impl<'a> Subject<'a> {
    /// Writes the benchmark initramfs for `case`'s kernel into `dir`, with
    /// room for the samples of `workloads` workloads.
    fn prepare(
        case: &'a Case,
        kernel: BuiltKernel,
        dir: PathBuf,
        env: &Environment,
        workloads: usize,
    ) -> Result<Subject<'a>> {
        let arch = case.arch.profile();
        std::fs::create_dir_all(&dir)?;
        let busybox = image::busybox_for(arch, &env.cache)?;
        let prog = image::guest_program(arch, &env.toolchain, &env.cache)?;
        let initrd = dir.join("initramfs-bench.cpio.gz");
        image::write_bench_initramfs(case, &kernel, &busybox, &prog, &initrd)?;
        Ok(Subject {
            case,
            kernel,
            initrd,
            dir,
            samples: Samples {
                workloads: vec![vec![]; workloads],
                ..Samples::default()
            },
            logs: vec![],
        })
    }
}

/// Benchmarks kernel B against kernel A.
pub fn bench<'a>(
    a: (&'a Case, BuiltKernel),
    b: (&'a Case, BuiltKernel),
    env: &Environment,
    run: &RunOptions,
    opts: &BenchOptions,
    reporter: &dyn Reporter,
) -> Result<BenchReport> {
    let started_at = crate::stages::build::now_rfc3339();
    let t = Instant::now();
    let workloads = workloads::select(&opts.workloads)?;
    let subject = |(case, kernel): (&'a Case, BuiltKernel), tag: &str| {
        let dir = run
            .results_dir
            .join("bench")
            .join(format!("{tag}-{}", case.name));
        Subject::prepare(case, kernel, dir, env, workloads.len())
    };
    let mut subjects = [subject(a, "a")?, subject(b, "b")?];
    match opts.mode {
        Mode::Deterministic => {
            schedule::deterministic(&mut subjects, &workloads, opts, run, reporter)?
        }
        Mode::Wall => schedule::wall(&mut subjects, &workloads, opts, run, reporter)?,
    }
    let [sa, sb] = &subjects;
    let metrics = report::metrics(sa, sb, &workloads, opts.mode);
    Ok(BenchReport {
        mode: opts.mode,
        note: report::note(opts.mode, &metrics),
        started_at,
        metrics,
        seconds: t.elapsed().as_secs_f64(),
        a: KernelInfo::of(sa),
        b: KernelInfo::of(sb),
        regressions: vec![],
    })
}
