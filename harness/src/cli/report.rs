//! `report`: renders the performance dashboard (static HTML + SVG plots)
//! from the history store into a directory, index.html first.

use super::stdout::outln;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// Output directory for index.html.
    #[arg(long, value_name = "DIR")]
    html: PathBuf,
    /// History store (default: $XDG_DATA_HOME/lto-harness/history.jsonl).
    #[arg(long, value_name = "FILE", env = "LTO_HARNESS_HISTORY")]
    history: Option<PathBuf>,
}

/// `report`: the dashboard of `args.history` in `args.html`.
pub fn report(args: ReportArgs) -> Result<u8> {
    let history = args
        .history
        .unwrap_or_else(lto_harness::history::default_path);
    let html = &args.html;
    let plots = lto_harness::dashboard::render(&history, html)?;
    outln!("{} plots in {}", plots, html.join("index.html").display())?;
    Ok(0)
}
