//! The `lto-harness` command line.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lto_harness::case::{self, Case};
use lto_harness::checks;
use lto_harness::ci::load_results;
use lto_harness::events::{Event, Fanout, Reporter};
use lto_harness::host::cache::Cache;
use lto_harness::host::toolchain::Toolchain;
use lto_harness::output::writer::ResultsWriter;
use lto_harness::run::{self, Environment, RunOptions};
use lto_harness::stages::boot::Accel;
use lto_harness::stages::source::KernelSource;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "lto-harness",
    version,
    about = "Build, boot and judge Clang LTO/CFI Linux kernels under QEMU"
)]
struct Cli {
    /// Directory of case files.
    #[arg(long, global = true, value_name = "DIR")]
    cases: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the cases: name, arch, lto, cfi, base, tags.
    List,
    /// Build, boot and check cases (all but `slow` ones by default).
    Run(RunArgs),
    /// Rewrite the initcall goldens of the named cases from what their
    /// kernels did (build and boot them first), and say what changed.
    Bless(RunArgs),
    /// Apply a patch series to a kernel git tree (in the harness's own
    /// worktree), build and check the cases, and name the patch that broke what.
    Series(SeriesArgs),
    /// Classify every step and check of two runs: regression, fixed, new,
    /// missing, persistent failure, unstable.
    Compare {
        /// The baseline: a results dir or results.json.
        old: PathBuf,
        /// The new run: a results dir or results.json.
        new: PathBuf,
        /// Print the classification as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Like `compare`, but exit 1 only on regressions (known failures may
    /// persist). Without NEW, runs the cases first (with `--retries 1`
    /// unless told otherwise) and compares that run.
    Gate(GateArgs),
    /// Benchmark kernel B against kernel A: build cost, sizes, boot, in-guest workloads.
    Bench(BenchArgs),
    /// Render the performance dashboard (static HTML + SVG) from the history.
    Report {
        /// Output directory for index.html.
        #[arg(long, value_name = "DIR")]
        html: PathBuf,
        /// History store (default: $XDG_DATA_HOME/lto-harness/history.jsonl).
        #[arg(long, value_name = "FILE", env = "LTO_HARNESS_HISTORY")]
        history: Option<PathBuf>,
    },
    /// Parse a saved console log: print its events and the boot verdict.
    Judge {
        /// A console log saved by `run` (or any serial capture).
        log: PathBuf,
    },
    /// Print the CI matrix (JSON, for GitHub Actions' `fromJSON`): one
    /// entry per selected case, or per shard with --shards.
    Plan {
        /// Cases to plan (default: every case not tagged `slow`).
        names: Vec<String>,
        /// Also plan cases tagged `slow`.
        #[arg(long)]
        include_slow: bool,
        /// Split the cases into N shards (for `run --shard K/N`), cases
        /// that build the same kernel kept together.
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
    },
    /// Join the results of sharded runs into one: results.json, junit.xml, ...
    Merge {
        /// Where the merged results go.
        #[arg(long, value_name = "DIR")]
        results: PathBuf,
        /// The parts: results directories (or their results.json files).
        #[arg(value_name = "PART", required = true)]
        parts: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// The reference kernel's case (e.g. x86_64-lto-none).
    case_a: String,
    /// The kernel compared with it (e.g. x86_64-lto-full-cfi).
    case_b: String,
    /// deterministic: guest instruction counts under -icount (repeatable);
    /// wall: plain TCG time with bootstrap intervals.
    #[arg(long, value_enum, default_value = "deterministic")]
    mode: lto_harness::bench::Mode,
    /// Boots per kernel (default: 2 deterministic, 3 wall).
    #[arg(long)]
    boots: Option<usize>,
    /// Samples per workload per boot (default: 2 deterministic, 5 wall).
    #[arg(long)]
    samples: Option<usize>,
    /// Only these workloads (comma-separated).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options shared by everything that builds and boots.
#[derive(Args)]
struct CommonArgs {
    /// Where results go.
    #[arg(long, value_name = "DIR", default_value = "lto-harness-results")]
    results: PathBuf,
    /// Kernel tree to build (default: Debian's linux-source-6.12 tarball).
    #[arg(long, value_name = "DIR")]
    kernel_src: Option<PathBuf>,
    /// Cache directory (default: $XDG_CACHE_HOME/lto-harness).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// make LLVM=: `1`, a version suffix such as `-19`, or a prefix dir ending in `/`.
    #[arg(long, default_value = "-19")]
    llvm: String,
    /// make -j (default: the number of CPUs).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// QEMU accelerator.
    #[arg(long, value_enum, default_value = "tcg")]
    accel: Accel,
    /// History store to append to (default: $XDG_DATA_HOME/lto-harness/history.jsonl).
    #[arg(long, value_name = "FILE", env = "LTO_HARNESS_HISTORY")]
    history: Option<PathBuf>,
    /// Put a compiler cache in front of clang (`make CC="ccache clang-19"`);
    /// its hits and misses go in metadata.json. Share it between machines
    /// with the tool's own settings (CCACHE_DIR, SCCACHE_* backends).
    #[arg(long, value_enum, value_name = "TOOL")]
    cc_wrapper: Option<lto_harness::host::toolchain::CcWrapper>,
}

#[derive(Args)]
struct RunArgs {
    /// Cases to run (default: every case not tagged `slow`).
    names: Vec<String>,
    /// Also run cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// Print the exact make and QEMU commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Judge an existing build directory (O=) instead of building.
    #[arg(long, value_name = "DIR", conflicts_with = "kernel_src")]
    kernel_build: Option<PathBuf>,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Rewrite the initcall goldens from what the kernels did (see `bless`).
    #[arg(long)]
    bless: bool,
    /// Boot a kernel again up to N times when its boot or a runtime check
    /// fails or is incomplete; passing on a retry is reported as unstable.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: usize,
    /// Run only shard K of N of the selected cases (see `plan --shards`);
    /// cases that build the same kernel are in the same shard.
    #[arg(long, value_name = "K/N")]
    shard: Option<lto_harness::ci::Shard>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct GateArgs {
    /// The baseline: a results dir or results.json.
    #[arg(long, value_name = "OLD")]
    baseline: PathBuf,
    /// The new run (a results dir or results.json); omitted: run every
    /// case not tagged `slow` now, into --results.
    new: Option<PathBuf>,
    /// With no NEW: boot a failing kernel again up to N times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    retries: usize,
    /// With no NEW: also run cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct SeriesArgs {
    /// Cases to run (default: every case not tagged `slow`).
    names: Vec<String>,
    /// The commit, tag or branch of --kernel-src the series applies to.
    #[arg(long)]
    base: String,
    /// The series: an mbox (as `b4 am` saves it), a directory of
    /// `git format-patch` files, or a quilt `series` file.
    #[arg(long, value_name = "PATH")]
    series: PathBuf,
    /// Build and check at the base and after every patch, not only at the tip.
    #[arg(long)]
    each: bool,
    /// Also run cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    lto_harness::host::proc::install_interrupt_handler();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("LTO_HARNESS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lto-harness: error: {e:#}");
            // An error before any verdict is an infrastructure problem: incomplete.
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<u8> {
    let cases_dir = cli.cases.unwrap_or_else(lto_harness::default_cases_dir);
    match cli.command {
        Command::List => {
            for c in case::load_dir(&cases_dir)? {
                println!("{}", c.summary());
            }
            Ok(0)
        }
        Command::Judge { log } => {
            let bytes =
                std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
            let events = lto_harness::console::parse_log(&bytes);
            for e in &events {
                println!("{:>6} {}", e.line, serde_json::to_string(&e.kind)?);
            }
            let v = checks::console_verdict(&events);
            println!("verdict: {}: {}", v.status, v.message);
            for d in &v.details {
                println!("  {d}");
            }
            Ok(match v.status {
                lto_harness::model::Status::Pass => 0,
                lto_harness::model::Status::Fail => 1,
                _ => 2,
            })
        }
        Command::Run(args) => run(&cases_dir, args),
        Command::Plan {
            names,
            include_slow,
            shards,
        } => {
            if shards == Some(0) {
                anyhow::bail!("plan: --shards must be at least 1");
            }
            let all = case::load_dir(&cases_dir)?;
            let selected = case::select(&all, &names, include_slow).map_err(anyhow::Error::msg)?;
            let plan = lto_harness::ci::plan(&selected, shards);
            println!("{}", serde_json::to_string_pretty(&plan)?);
            Ok(0)
        }
        Command::Merge { results, parts } => merge(&results, &parts),
        Command::Series(args) => series(&cases_dir, args),
        Command::Compare { old, new, json } => {
            let (old, new) = (load_results(&old)?, load_results(&new)?);
            let c = lto_harness::compare::compare(&old, &new);
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                for l in c.report() {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        Command::Gate(args) => {
            let new = match &args.new {
                Some(p) => load_results(p)?,
                None => {
                    let dir = args.common.results.clone();
                    let run_args = RunArgs {
                        names: vec![],
                        include_slow: args.include_slow,
                        dry_run: false,
                        kernel_build: None,
                        timeout: None,
                        bless: false,
                        retries: args.retries,
                        shard: None,
                        common: args.common,
                    };
                    let _ = run(&cases_dir, run_args)?;
                    load_results(&dir)?
                }
            };
            let old = load_results(&args.baseline)?;
            let c = lto_harness::compare::compare(&old, &new);
            for l in c.report() {
                println!("{l}");
            }
            let n = c.regressions().count();
            if n > 0 {
                eprintln!(
                    "gate: {n} regression(s) against {}",
                    args.baseline.display()
                );
                Ok(1)
            } else {
                eprintln!("gate: no regressions against {}", args.baseline.display());
                Ok(0)
            }
        }
        Command::Bless(mut args) => {
            if args.names.is_empty() {
                anyhow::bail!("bless: name the cases whose kernels the goldens come from");
            }
            args.bless = true;
            run(&cases_dir, args)
        }
        Command::Bench(args) => bench(&cases_dir, args),
        Command::Report { html, history } => {
            let history = history.unwrap_or_else(lto_harness::history::default_path);
            let plots = lto_harness::dashboard::render(&history, &html)?;
            println!("{} plots in {}", plots, html.join("index.html").display());
            Ok(0)
        }
    }
}

/// The cache, toolchain and kernel source every build-and-boot command needs.
fn environment(
    c: &CommonArgs,
    kernel_build: Option<&PathBuf>,
    timeout: Option<u64>,
) -> Result<(Environment, RunOptions)> {
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let toolchain = Toolchain::detect(&c.llvm)?;
    let source = match (kernel_build, &c.kernel_src) {
        (Some(_), _) => None,
        (None, Some(dir)) => Some(KernelSource::from_dir(dir)?),
        (None, None) => Some(KernelSource::from_default_tarball(&cache)?),
    };
    let opts = run_options(c, kernel_build, timeout);
    Ok((
        Environment {
            cache,
            source,
            toolchain,
        },
        opts,
    ))
}

fn run_options(c: &CommonArgs, kernel_build: Option<&PathBuf>, timeout: Option<u64>) -> RunOptions {
    RunOptions {
        results_dir: c.results.clone(),
        accel: c.accel,
        jobs: c.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        kernel_build: kernel_build.cloned(),
        timeout: timeout.map(Duration::from_secs),
        bless: false,
        retries: 0,
        cc_wrapper: c.cc_wrapper,
    }
}

fn series(cases_dir: &std::path::Path, args: SeriesArgs) -> Result<u8> {
    use lto_harness::series::{self, SeriesRequest};
    let c = &args.common;
    let tree = c
        .kernel_src
        .clone()
        .context("series: --kernel-src GIT_TREE is required (the tree the series applies to)")?;
    let all = case::load_dir(cases_dir)?;
    let selected: Vec<&Case> =
        case::select(&all, &args.names, args.include_slow).map_err(anyhow::Error::msg)?;
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let toolchain = Toolchain::detect(&c.llvm)?;
    let opts = run_options(c, None, args.timeout);
    let terminal = lto_harness::events::for_stderr();
    let writer = ResultsWriter::new();
    let reporter = Fanout(vec![terminal.as_ref(), &writer]);
    let req = SeriesRequest {
        tree: &tree,
        base: &args.base,
        series: &args.series,
        each: args.each,
    };
    let r = series::validate(&selected, &cache, &toolchain, &opts, &req, &reporter)?;
    writer.finish()?;
    std::fs::create_dir_all(&c.results)?;
    lto_harness::host::cache::write_atomic(
        &c.results.join("series.json"),
        &serde_json::to_vec_pretty(&r)?,
    )?;
    for l in r.report() {
        eprintln!("{l}");
    }
    eprintln!(
        "series results in {}",
        c.results.join("series.json").display()
    );
    Ok(r.exit_code())
}

fn run(cases_dir: &std::path::Path, args: RunArgs) -> Result<u8> {
    let all = case::load_dir(cases_dir)?;
    let mut selected: Vec<&Case> =
        case::select(&all, &args.names, args.include_slow).map_err(anyhow::Error::msg)?;
    if let Some(s) = args.shard {
        selected = lto_harness::ci::shard(&selected, s.k, s.n)?;
        let names: Vec<&str> = selected.iter().map(|c| c.name.as_str()).collect();
        eprintln!("shard {s}: {} case(s): {}", names.len(), names.join(", "));
    }
    let (env, mut opts) = environment(&args.common, args.kernel_build.as_ref(), args.timeout)?;
    opts.bless = args.bless;
    opts.retries = args.retries;
    if args.dry_run {
        print!("{}", run::dry_run(&selected, &env, &opts)?);
        return Ok(0);
    }
    let prepared = run::preflight(&selected, &env, &opts)?;
    if let Some(s) = &env.source {
        eprintln!("source: {} (Linux {})", s.identity.describe(), s.version);
    }
    eprintln!(
        "toolchain: {} (LLVM={})",
        env.toolchain.version, env.toolchain.llvm
    );
    let terminal = lto_harness::events::for_stderr();
    let writer = ResultsWriter::new();
    let reporter = Fanout(vec![terminal.as_ref(), &writer]);
    let mut results = run::run(&selected, &env, &opts, &prepared, &reporter);
    let history = args
        .common
        .history
        .clone()
        .unwrap_or_else(lto_harness::history::default_path);
    if let Err(e) = lto_harness::history::record_run(&mut results, &history) {
        eprintln!(
            "lto-harness: warning: history {} not updated: {e:#}",
            history.display()
        );
    }
    for c in &results.cases {
        for r in &c.regressions {
            eprintln!("PERFORMANCE REGRESSION: {r}");
        }
    }
    for b in &results.blessed {
        eprintln!(
            "bless: golden {} ({}) from {}: {}: {}",
            b.family,
            b.path.display(),
            b.cases.join(", "),
            b.status,
            b.message
        );
        for l in b.diff.iter().take(80) {
            eprintln!("  {l}");
        }
        if b.diff.len() > 80 {
            eprintln!("  ... {} more diff lines", b.diff.len() - 80);
        }
    }
    let refused = results
        .blessed
        .iter()
        .any(|b| b.status == lto_harness::model::results::BlessStatus::Refused);
    reporter.report(&Event::RunFinished {
        results: &results,
        dir: &args.common.results,
    });
    writer.finish()?;
    eprintln!("{}", results.summary_line(&args.common.results));
    Ok(match results.exit_code() {
        0 if refused => 1,
        code => code as u8,
    })
}

/// `merge`: joins the parts' results.json into one run and writes it.
fn merge(out: &std::path::Path, parts: &[PathBuf]) -> Result<u8> {
    let mut loaded = Vec::new();
    for p in parts {
        loaded.push((p.display().to_string(), lto_harness::ci::load_results(p)?));
    }
    let results = lto_harness::ci::merge_named(loaded)?;
    lto_harness::output::write_all(&results, out)?;
    eprintln!("{}", results.summary_line(out));
    Ok(results.exit_code() as u8)
}

fn bench(cases_dir: &std::path::Path, args: BenchArgs) -> Result<u8> {
    use lto_harness::bench::{self, BenchOptions};
    let all = case::load_dir(cases_dir)?;
    let picked = case::select(&all, &[args.case_a.clone(), args.case_b.clone()], true)
        .map_err(anyhow::Error::msg)?;
    let c = &args.common;
    let (env, opts) = environment(c, None, None)?;
    run::preflight(&picked, &env, &opts)?;
    let reporter = lto_harness::events::for_stderr();
    let mut kernels = Vec::new();
    for case in &picked {
        let (step, kernel) = run::build_case(case, &env, &opts, reporter.as_ref());
        match kernel {
            Some(k) => kernels.push(k),
            None => anyhow::bail!("{}: no kernel to benchmark: {}", case.name, step.message),
        }
    }
    let mut bopts = BenchOptions::defaults(args.mode);
    if let Some(b) = args.boots {
        bopts.boots = b.max(1);
    }
    if let Some(s) = args.samples {
        bopts.samples = s.max(1);
    }
    bopts.workloads = args.workloads.clone();
    let kb = kernels.pop().expect("two kernels");
    let ka = kernels.pop().expect("two kernels");
    let mut report = bench::bench(
        (picked[0], ka),
        (picked[1], kb),
        &env,
        &opts,
        &bopts,
        reporter.as_ref(),
    )?;
    let history = c
        .history
        .clone()
        .unwrap_or_else(lto_harness::history::default_path);
    let source_key = env
        .source
        .as_ref()
        .map(|s| s.identity.key())
        .unwrap_or_default();
    match lto_harness::history::record_bench(&report, &source_key, &env.toolchain.version, &history)
    {
        Ok(regs) => report.regressions = regs,
        Err(e) => eprintln!(
            "lto-harness: warning: history {} not updated: {e:#}",
            history.display()
        ),
    }
    print!("{}", report.table());
    std::fs::create_dir_all(&c.results)?;
    let path = c.results.join("bench.json");
    lto_harness::host::cache::write_atomic(&path, &serde_json::to_vec_pretty(&report)?)?;
    eprintln!("bench: {:.0} s; wrote {}", report.seconds, path.display());
    Ok(0)
}
