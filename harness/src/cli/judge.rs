//! `judge`: parses a saved console log, prints its events and the boot
//! verdict, and exits 0 on pass, 1 on fail, 2 otherwise.

use anyhow::{Context, Result};
use clap::Args;
use lto_harness::checks;
use lto_harness::model::Status;
use std::path::PathBuf;

#[derive(Args)]
pub struct JudgeArgs {
    /// A console log saved by `run` (or any serial capture).
    log: PathBuf,
}

/// `judge`: the console events of `args.log`, then its verdict.
pub fn judge(args: JudgeArgs) -> Result<u8> {
    let log = &args.log;
    let bytes = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let events = lto_harness::console::parse_log(&bytes);
    for e in &events {
        println!("{:>6} {}", e.line, serde_json::to_string(&e.kind)?);
    }
    let v = checks::console_verdict(&events);
    println!("verdict: {}: {}", v.status, v.message);
    for d in &v.details {
        println!("  {d}");
    }
    Ok(exit_code(v.status))
}

/// Pass is 0, fail is 1, anything else (incomplete, skipped) is 2.
fn exit_code(status: Status) -> u8 {
    match status {
        Status::Pass => 0,
        Status::Fail => 1,
        _ => 2,
    }
}
