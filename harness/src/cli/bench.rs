//! `bench`: benchmarks kernel B against kernel A (build cost, sizes, boot,
//! in-guest workloads), prints the table, records it in the history and
//! writes bench.json and bench-kcidb.json (the figures as KCIDB tests).

use super::common::{self, CommonArgs};
use super::stdout::out;
use anyhow::Result;
use clap::Args;
use lto_harness::bench::kcidb::{bench_kcidb, BenchContext};
use lto_harness::bench::{self, BenchOptions, BenchReport};
use lto_harness::case::{self, Case};
use lto_harness::events::Reporter;
use lto_harness::output::kcidb::QemuEnvironment;
use lto_harness::run::{self, Environment, RunOptions};
use lto_harness::stages::boot::Accel;
use lto_harness::stages::build::BuiltKernel;
use std::path::Path;

#[derive(Args)]
pub struct BenchArgs {
    /// The reference kernel's case (e.g. x86_64-lto-none).
    case_a: String,
    /// The kernel compared with it (e.g. x86_64-lto-full-cfi).
    case_b: String,
    /// deterministic: guest instruction counts under -icount (repeatable);
    /// wall: plain TCG time with bootstrap intervals.
    #[arg(long, value_enum, default_value = "deterministic")]
    mode: bench::Mode,
    /// Boots per kernel (default: 2 deterministic, 3 wall).
    #[arg(long, value_parser = super::common::count)]
    boots: Option<usize>,
    /// Samples per workload per boot (default: 2 deterministic, 5 wall).
    #[arg(long, value_parser = super::common::count)]
    samples: Option<usize>,
    /// Only these workloads (comma-separated).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Limit, in seconds, for one workload sample (not for a boot's whole
    /// plan; the boot to the agent has the case's boot timeout).
    #[arg(long, value_name = "SECONDS", value_parser = super::common::seconds)]
    step_timeout: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `bench`: builds both kernels, benchmarks them, and reports.
pub fn bench(cases_dir: &Path, args: BenchArgs) -> Result<u8> {
    let all = case::load_dir(cases_dir)?;
    let names = [args.case_a.clone(), args.case_b.clone()];
    let picked = common::select(&all, &names, true)?;
    let c = &args.common;
    common::one_toolchain(c, "bench")?;
    let (env, opts) = common::environment(c, None, None)?;
    let mut env = env
        .pooled(&opts)
        .map_err(|e| anyhow::anyhow!("cannot make the job pool: {e}"))?;
    let kcidb = common::kcidb_options(&c.kcidb, &c.results)?;
    let _lock = lto_harness::output::lock::ResultsLock::take(&c.results)?;
    run::preflight(&picked, &env, &opts)?;
    let reporter = lto_harness::events::for_stderr();
    let mut kernels = build(&picked, &env, &opts, reporter.as_ref())?;
    // The benchmark's boots run alone, as they always have: no pool.
    env.pool = None;
    let kb = kernels.pop().expect("two kernels");
    let ka = kernels.pop().expect("two kernels");
    let mut report = bench::bench(
        (picked[0], ka),
        (picked[1], kb),
        &env,
        &opts,
        &options(&args),
        reporter.as_ref(),
    )?;
    record_history(&mut report, &env, c);
    out!("{}", report.table())?;
    std::fs::create_dir_all(&c.results)?;
    let path = c.results.join("bench.json");
    lto_harness::host::cache::write_atomic(&path, &serde_json::to_vec_pretty(&report)?)?;
    let kcidb_path = c.results.join("bench-kcidb.json");
    let cx = BenchContext {
        source: env.source.as_ref().map(|s| &s.identity),
        kernel_version: env.source.as_ref().map(|s| s.version.as_str()),
        toolchain: Some(&env.toolchain.version),
        qemu: [qemu(picked[0], &opts), qemu(picked[1], &opts)],
    };
    let data = bench_kcidb(&report, &cx, &kcidb);
    lto_harness::host::cache::write_atomic(&kcidb_path, &serde_json::to_vec_pretty(&data)?)?;
    eprintln!(
        "bench: {:.0} s; wrote {} and {}",
        report.seconds,
        path.display(),
        kcidb_path.display()
    );
    Ok(0)
}

/// The QEMU a case's bench boots ran under: its version, and the
/// accelerator (bench boots are not probed: `auto` is the TCG it falls
/// back to, as `stages::boot::qemu_argv` has it).
fn qemu(case: &Case, opts: &RunOptions) -> QemuEnvironment {
    let accel = match opts.accel {
        Accel::Kvm => Accel::Kvm,
        Accel::Auto | Accel::Tcg => Accel::Tcg,
    };
    QemuEnvironment {
        version: lto_harness::stages::accel::qemu_version(case.arch.profile().qemu.binary),
        accel: Some(accel.name().into()),
    }
}

/// Builds the cases' kernels: at once in the environment's job pool, else
/// in order. Nothing is benchmarked until every build has finished, so
/// the pool never runs beside a measured boot. An error names the first
/// case (in order) that failed.
fn build(
    picked: &[&Case],
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<BuiltKernel>> {
    let built: Vec<_> = if env.pool.is_some() {
        std::thread::scope(|s| {
            let handles: Vec<_> = picked
                .iter()
                .map(|case| s.spawn(move || run::build_case(case, env, opts, reporter)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a build thread panicked"))
                .collect()
        })
    } else {
        picked
            .iter()
            .map(|case| run::build_case(case, env, opts, reporter))
            .collect()
    };
    let mut kernels = Vec::new();
    for (case, (step, kernel)) in picked.iter().zip(built) {
        match kernel {
            Some(k) => kernels.push(k),
            None => anyhow::bail!("{}: no kernel to benchmark: {}", case.name, step.message),
        }
    }
    Ok(kernels)
}

/// The mode's defaults, with `--boots`, `--samples` (at least 1) and `--workloads`.
fn options(args: &BenchArgs) -> BenchOptions {
    let mut bopts = BenchOptions::defaults(args.mode);
    if let Some(b) = args.boots {
        bopts.boots = b.max(1);
    }
    if let Some(s) = args.samples {
        bopts.samples = s.max(1);
    }
    bopts.workloads = args.workloads.clone();
    if let Some(t) = args.step_timeout {
        bopts.step_timeout = std::time::Duration::from_secs(t.max(1));
    }
    bopts
}

/// Appends the bench to the history, which fills in its regressions; a
/// failure there is a warning.
fn record_history(report: &mut BenchReport, env: &Environment, c: &CommonArgs) {
    let history = common::history_path(c);
    let source_key = env
        .source
        .as_ref()
        .map(|s| s.identity.key())
        .unwrap_or_default();
    let toolchain = &env.toolchain.version;
    let version = env.source.as_ref().map(|s| s.version.as_str());
    match lto_harness::history::record_bench(report, &source_key, toolchain, version, &history) {
        Ok(regs) => report.regressions = regs,
        Err(e) => eprintln!(
            "lto-harness: warning: history {} not updated: {e:#}",
            history.display()
        ),
    }
}
