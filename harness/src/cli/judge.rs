//! `judge`: parses a saved console log and prints its verdict, the first
//! failure and how many events of each kind it has (`--json`: every event,
//! then the verdict, as JSON lines); exits 0 on pass, 1 on fail, 2 when
//! there is nothing to judge.

use super::stdout::{out, outln};
use anyhow::{Context, Result};
use clap::Args;
use lto_harness::checks;
use lto_harness::console::Event;
use lto_harness::model::Status;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct JudgeArgs {
    /// A console log saved by `run` (or any serial capture).
    log: PathBuf,
    /// Print every console event, then the verdict, as JSON lines.
    #[arg(long)]
    json: bool,
}

/// `judge`: the verdict of `args.log`, for a person or (`--json`) a program.
pub fn judge(args: JudgeArgs) -> Result<u8> {
    let log = &args.log;
    let bytes = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let events = lto_harness::console::parse_log(&bytes);
    let v = checks::log_verdict(&events);
    if args.json {
        for e in &events {
            outln!("{}", serde_json::to_string(e)?)?;
        }
        outln!("{}", serde_json::to_string(&v)?)?;
    } else {
        out!("{}", summary(&v, &events))?;
    }
    Ok(exit_code(v.status))
}

/// The verdict and its reason, the failures behind it (the first is the
/// cause to read first), and the events counted by kind.
fn summary(v: &lto_harness::model::CheckResult, events: &[Event]) -> String {
    let mut out = format!("{}: {}\n", v.status, v.message);
    for d in &v.details {
        out.push_str(&format!("  {d}\n"));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let kind = serde_json::to_value(&e.kind)
            .ok()
            .and_then(|k| k["type"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "event".into());
        *counts.entry(kind).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    out.push_str(&format!(
        "events: {}\n",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        }
    ));
    out
}

/// Pass is 0, fail is 1, anything else (incomplete, skipped) is 2.
fn exit_code(status: Status) -> u8 {
    match status {
        Status::Pass => 0,
        Status::Fail => 1,
        _ => 2,
    }
}
