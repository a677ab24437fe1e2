//! `series`: applies a patch series to a kernel git tree (in the harness's
//! own worktree), builds and checks the cases at the tip (or at every patch
//! with `--each`), names the patch that broke what (with `--bisect`, by
//! bisecting the series), and writes series.json.

use super::common::{self, CommonArgs};
use anyhow::Result;
use clap::Args;
use lto_harness::case;
use lto_harness::host::cache::Cache;
use lto_harness::series::{self, SeriesRequest, SeriesResults};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct SeriesArgs {
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
    #[arg(long, conflicts_with = "bisect")]
    each: bool,
    /// When the tip fails, find the patch that broke it by bisection:
    /// about log2(patches) + 1 builds instead of one per patch.
    #[arg(long)]
    bisect: bool,
    #[command(flatten)]
    bisect_options: super::bisect::BisectOptions,
    /// Also run cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = super::common::seconds)]
    timeout: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `series`: validates the series; exits as its report says.
pub fn series(cases_dir: &Path, args: SeriesArgs) -> Result<u8> {
    let c = &args.common;
    let tree = common::git_tree(c, "series", "the tree the series applies to")?;
    let all = case::load_dir(cases_dir)?;
    let selected = common::select(&all, &args.names, args.include_slow)?;
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let toolchain = common::one_toolchain(c, "series")?;
    let opts = common::run_options(c, None, args.timeout);
    let reporting = common::Reporting::new(&c.kcidb, &c.results)?;
    let reporter = reporting.fanout();
    let req = SeriesRequest {
        tree: &tree,
        base: &args.base,
        series: &args.series,
        each: args.each,
    };
    if args.bisect {
        let b = &args.bisect_options;
        let r = lto_harness::bisect::series::bisect_series(
            &selected,
            &cache,
            &toolchain,
            &opts,
            &req,
            lto_harness::bisect::Target::parse(b.what.as_deref()),
            b.point_retries,
            b.restart,
            &reporter,
        )?;
        reporting.writer.finish()?;
        write_report(&r.series, &c.results)?;
        if let Some(b) = &r.bisection {
            super::bisect::print_report(b, &c.results);
        }
        return Ok(r.exit_code());
    }
    // validate emits RunFinished for each run it makes; the writer writes them.
    let r = series::validate(&selected, &cache, &toolchain, &opts, &req, &reporter)?;
    reporting.writer.finish()?;
    write_report(&r, &c.results)?;
    Ok(r.exit_code())
}

/// Writes series.json into `dir` and prints the report on stderr.
fn write_report(r: &SeriesResults, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("series.json");
    lto_harness::host::cache::write_atomic(&path, &serde_json::to_vec_pretty(r)?)?;
    for l in r.report() {
        eprintln!("{l}");
    }
    eprintln!("series results in {}", path.display());
    Ok(())
}
