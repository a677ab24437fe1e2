//! `merge`: joins the results of sharded runs into one run and writes it
//! (results.json, junit.xml, ...); exits as that run would have.

use super::common::{self, KcidbArgs};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// Where the merged results go.
    #[arg(long, value_name = "DIR")]
    results: PathBuf,
    /// The parts: results directories (or their results.json files).
    #[arg(value_name = "PART", required = true)]
    parts: Vec<PathBuf>,
    #[command(flatten)]
    kcidb: KcidbArgs,
}

/// `merge`: joins the parts' results.json into one run and writes it.
pub fn merge(args: MergeArgs) -> Result<u8> {
    let out = &args.results;
    let kcidb = common::kcidb_options(&args.kcidb, out)?;
    // The one writer of `out` until the merged files are in.
    let _lock = lto_harness::output::lock::ResultsLock::take(out)?;
    let mut loaded = Vec::new();
    for p in &args.parts {
        loaded.push((p.display().to_string(), lto_harness::ci::load_results(p)?));
    }
    let results = lto_harness::ci::merge_named(loaded)?;
    lto_harness::output::write_all(&results, out, &kcidb)?;
    eprintln!("{}", results.summary_line(out));
    Ok(results.exit_code() as u8)
}
