//! `bisect`: finds the first commit between `--good` and `--bad` of a
//! kernel git tree at which the cases (or one step or check of them) fail,
//! in the harness's own worktree; writes bisect.json (which a stopped
//! bisection resumes from) and, when it finds the commit, summary.md.

use super::common::{self, CommonArgs};
use anyhow::Result;
use clap::Args;
use lto_harness::bisect::{self, BisectRequest, BisectResults, Target};
use lto_harness::case;
use lto_harness::host::cache::Cache;
use std::path::{Path, PathBuf};

/// What `bisect` and `series --bisect` share: what decides good and bad,
/// and what to do with incomplete points and saved state.
#[derive(Args)]
pub struct BisectOptions {
    /// What decides: `build`, `boot`, a check (`initcalls.static`), or by
    /// default each case's overall result.
    #[arg(long, value_name = "STEP|CHECK")]
    pub what: Option<String>,
    /// Builds of an incomplete point before it is skipped (as `git bisect
    /// skip`), after the first.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub point_retries: usize,
    /// Forget a bisection saved in --results (bisect.json) and start again;
    /// without it, the same bisection resumes where it stopped.
    #[arg(long)]
    pub restart: bool,
}

#[derive(Args)]
pub struct BisectArgs {
    /// Cases to run at each point (default: every case not tagged `slow`).
    names: Vec<String>,
    /// A commit where the cases pass (repeat for several).
    #[arg(long, value_name = "REV", required = true)]
    good: Vec<String>,
    /// A commit where they fail.
    #[arg(long, value_name = "REV")]
    bad: String,
    #[command(flatten)]
    bisect: BisectOptions,
    /// Also run cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = super::common::seconds)]
    timeout: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `bisect`: exits 0 when it found the commit (or there is nothing to
/// find), 1 when the good end fails too, 2 when it could not decide.
pub fn bisect(cases_dir: &Path, args: BisectArgs) -> Result<u8> {
    let c = &args.common;
    let tree = common::git_tree(c, "bisect", "the tree to bisect")?;
    let all = case::load_dir(cases_dir)?;
    let selected = common::select(&all, &args.names, args.include_slow)?;
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let toolchain = common::one_toolchain(c, "bisect")?;
    let opts = common::run_options(c, None, args.timeout);
    let reporting = common::Reporting::new(&c.kcidb, &c.results)?;
    let reporter = reporting.fanout();
    let req = BisectRequest {
        tree: &tree,
        good: &args.good,
        bad: &args.bad,
        target: Target::parse(args.bisect.what.as_deref()),
        retries: args.bisect.point_retries,
        restart: args.bisect.restart,
    };
    let r = bisect::bisect(&selected, &cache, &toolchain, &opts, &req, &reporter)?;
    reporting.writer.finish()?;
    print_report(&r, &c.results);
    Ok(r.exit_code())
}

/// The report on stderr, and where the files are.
pub fn print_report(r: &BisectResults, dir: &Path) {
    for l in r.report() {
        eprintln!("{l}");
    }
    let summary: PathBuf = dir.join("summary.md");
    if summary.exists() {
        eprintln!("bot report in {}", summary.display());
    }
    eprintln!("bisection in {}", dir.join("bisect.json").display());
}
