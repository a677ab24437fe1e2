//! `plan`: prints the CI matrix as JSON (for GitHub Actions' `fromJSON`):
//! one entry per selected case, or per shard with `--shards`.

use super::common;
use anyhow::Result;
use clap::Args;
use lto_harness::case;
use std::path::Path;

#[derive(Args)]
pub struct PlanArgs {
    /// Cases to plan (default: every case not tagged `slow`).
    names: Vec<String>,
    /// Also plan cases tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// Split the cases into N shards (for `run --shard K/N`), cases
    /// that build the same kernel kept together.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    #[command(flatten)]
    toolchains: common::ToolchainArgs,
}

/// `plan`: the matrix of the selected cases, pretty-printed JSON on stdout.
pub fn plan(cases_dir: &Path, args: PlanArgs) -> Result<u8> {
    if args.shards == Some(0) {
        anyhow::bail!("plan: --shards must be at least 1");
    }
    let all = case::load_dir(cases_dir)?;
    let named = common::select(&all, &args.names, args.include_slow)?;
    let matrix = case::matrix(&named, &common::matrix_labels(&args.toolchains.llvm)?);
    let selected: Vec<&case::Case> = matrix.iter().collect();
    let plan = lto_harness::ci::plan(&selected, args.shards);
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(0)
}
