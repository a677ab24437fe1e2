//! `run`: builds, boots and checks the selected cases (all but `slow` ones
//! by default, or one shard of them) and writes its results; what follows
//! a run (the machine's use, the history, bless's report) is the run's own
//! (`run::after`). `bless`: the same run with `--bless`, rewriting the
//! initcall goldens of the named cases and saying what changed.

use super::common::{self, RunArgs};
use super::stdout::out;
use anyhow::Result;
use lto_harness::case::{self, Case};
use lto_harness::events::{Event, Reporter};
use lto_harness::model::results::{BlessStatus, RunResults};
use lto_harness::run::{self, Environment, RunOptions};
use std::path::Path;

/// `bless`: `run` with `--bless`, for named cases only.
pub fn bless(cases_dir: &Path, mut args: RunArgs) -> Result<u8> {
    if args.names.is_empty() {
        anyhow::bail!("bless: name the cases whose kernels the goldens come from");
    }
    args.bless = true;
    run(cases_dir, args)
}

/// `run`: the selected cases, or with `--dry-run` the commands they would run.
pub fn run(cases_dir: &Path, args: RunArgs) -> Result<u8> {
    let all = case::load_dir(cases_dir)?;
    // A kernel built elsewhere with no case named: the case its own
    // .config makes (see case::external).
    let elsewhere = match &args.kernel_build {
        Some(path) if args.names.is_empty() => Some(external_case(path, &args.common)?),
        _ => None,
    };
    let named = match &elsewhere {
        Some(c) => vec![c],
        None => common::select(&all, &args.names, args.include_slow)?,
    };
    // The toolchain axis: every case once per toolchain of `--llvm`.
    let matrix = case::matrix(
        &named,
        &common::matrix_labels(&args.common.toolchains.llvm)?,
    );
    let selected = shard(&matrix, &args)?;
    if args.lava_log.is_some() && selected.len() != 1 {
        anyhow::bail!(
            "--lava-log judges one case's LAVA job: name exactly one case (got {})",
            selected.len()
        );
    }
    // Before the source is opened (a first run extracts it): a missing
    // tool is said at once.
    if !args.dry_run {
        run::preflight::tools(&selected, args.kernel_build.is_none())?;
    }
    let (env, opts) = options(&args)?;
    if args.dry_run {
        out!("{}", run::dry_run(&selected, &env, &opts)?)?;
        return Ok(0);
    }
    let dir = &args.common.results;
    // This run is the results directory's one writer (before its probe).
    let reporting = common::Reporting::new(&args.common.kcidb, dir)?;
    let prepared = run::preflight(&selected, &env, &opts)?;
    announce(&env);
    let reporter = reporting.fanout();
    let watch = run::after::watch();
    let mut results = run::run(&selected, &env, &opts, &prepared, &reporter);
    let history = common::history_path(&args.common);
    let history = run::after::History {
        path: &history,
        record: &|r, p| lto_harness::history::record_run(r, p),
    };
    // The history's boot figures are the harness's own QEMU's: a LAVA
    // boot's time is the dispatcher's too.
    let history = (opts.boot_via == run::BootVia::Qemu).then_some(history);
    watch.finish(&mut results, dir, history, &reporter);
    reporter.report(&Event::RunFinished {
        results: &results,
        dir,
    });
    reporting.writer.finish()?;
    eprintln!("{}", results.summary_line(dir));
    Ok(exit_code(&results))
}

/// The case of a kernel built elsewhere when none is named, made from
/// what came with it (said on stderr).
fn external_case(path: &Path, c: &common::CommonArgs) -> Result<Case> {
    let cache = lto_harness::host::cache::Cache::open(c.cache_dir.as_deref())?;
    let ext = lto_harness::stages::build::external::open(path, &cache, None)?;
    let arch = ext.arch.ok_or_else(|| {
        anyhow::anyhow!(
            "--kernel-build {}: cannot tell its arch (no .config beside it, and the image \
             header is not a bzImage or arm64 Image): name a case",
            path.display()
        )
    })?;
    let config = ext
        .kernel
        .config
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let case = case::external::for_kernel_built_elsewhere(arch, config.as_deref(), path);
    eprintln!(
        "--kernel-build {}: a {} ({}, lto={}, cfi={}){}; judged as {}",
        path.display(),
        ext.layout.name(),
        arch.name(),
        case.lto.name(),
        case.cfi.name(),
        if ext.missing.is_empty() {
            String::new()
        } else {
            format!(", without {}", ext.missing.join(", "))
        },
        case.name
    );
    Ok(case)
}

/// The cases of the matrix, cut down to `--shard` K/N when given, which
/// is said on stderr.
fn shard<'a>(matrix: &'a [Case], args: &RunArgs) -> Result<Vec<&'a Case>> {
    let mut selected: Vec<&Case> = matrix.iter().collect();
    if let Some(s) = args.shard {
        selected = lto_harness::ci::shard(&selected, s.k, s.n)?;
        let names: Vec<&str> = selected.iter().map(|c| c.name.as_str()).collect();
        eprintln!("shard {s}: {} case(s): {}", names.len(), names.join(", "));
    }
    Ok(selected)
}

/// The environment (with the job pool, unless `--sequential`), and the
/// run options with `--bless` and `--retries`.
fn options(args: &RunArgs) -> Result<(Environment, RunOptions)> {
    let (env, mut opts) =
        common::environment(&args.common, args.kernel_build.as_ref(), args.timeout)?;
    opts.bless = args.bless;
    opts.retries = args.retries;
    opts.fail_fast = args.fail_fast;
    opts.boot_via = match (&args.lava_log, args.boot) {
        (Some(log), _) => run::BootVia::LavaLog(log.clone()),
        (None, common::Boot::Qemu) => run::BootVia::Qemu,
        (None, common::Boot::LavaRun) => run::BootVia::LavaRun,
        (None, common::Boot::LavaJob) => run::BootVia::LavaJob {
            artifact_base_url: args.common.kcidb.artifact_base_url.clone(),
        },
    };
    // A dry run starts nothing: no pool.
    opts.pool &= !args.dry_run;
    let env = env
        .pooled(&opts)
        .map_err(|e| anyhow::anyhow!("cannot make the job pool: {e}"))?;
    Ok((env, opts))
}

/// Says on stderr which kernel source and toolchain the run uses.
fn announce(env: &Environment) {
    if let Some(s) = &env.source {
        eprintln!("source: {} (Linux {})", s.identity.describe(), s.version);
    }
    for t in env.toolchains() {
        eprintln!("toolchain: {} (LLVM={})", t.version, t.llvm);
    }
}

/// The run's exit code, except that a refused blessing of a passing run is 1.
fn exit_code(results: &RunResults) -> u8 {
    let refused = results
        .blessed
        .iter()
        .any(|b| b.status == BlessStatus::Refused);
    match results.exit_code() {
        0 if refused => 1,
        code => code as u8,
    }
}
