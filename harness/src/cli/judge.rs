//! `judge`: parses a saved console log and prints its verdict, the first
//! failure and how many events of each kind it has (`--json`: every event,
//! then the verdict, as JSON lines); exits 0 on pass, 1 on fail, 2 when
//! there is nothing to judge. The log is streamed: memory stays flat in
//! its size.

use super::stdout::{out, outln};
use anyhow::{Context, Result};
use clap::Args;
use lto_harness::checks::boot::ConsoleVerdict;
use lto_harness::console::{ConsoleStream, Event, Line};
use lto_harness::model::Status;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

#[derive(Args)]
pub struct JudgeArgs {
    /// A console log saved by `run` (or any serial capture).
    log: PathBuf,
    /// Print every console event, then the verdict, as JSON lines.
    #[arg(long)]
    json: bool,
    /// LOG is a LAVA job's log (lava-run's output or a lab's output.yaml):
    /// its console is judged, and a job LAVA ended without a boot is
    /// incomplete, in LAVA's words. `run CASE --lava-log LOG` judges every
    /// check of the case the same way.
    #[arg(long)]
    lava: bool,
}

/// `judge`: the verdict of `args.log`, for a person or (`--json`) a program.
pub fn judge(args: JudgeArgs) -> Result<u8> {
    // A LAVA log's console, read out into a scratch file first.
    let mut lava_end = None;
    let scratch = tempfile::NamedTempFile::new()?;
    let log = if args.lava {
        let read = lto_harness::stages::lava::log::read_file(&args.log, scratch.path())
            .with_context(|| format!("reading {}", args.log.display()))?;
        lava_end = Some(read.boot_end(0));
        scratch.path().to_path_buf()
    } else {
        args.log.clone()
    };
    let log = &log;
    let mut file =
        std::fs::File::open(log).with_context(|| format!("reading {}", log.display()))?;
    let mut stream = ConsoleStream::new();
    let mut verdict = ConsoleVerdict::new();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut printed: Result<()> = Ok(());
    let mut take = |_: &Line, events: &[Event]| {
        for e in events {
            verdict.push(e);
            *counts.entry(e.kind.name()).or_default() += 1;
            if args.json && printed.is_ok() {
                printed = serde_json::to_string(e)
                    .map_err(anyhow::Error::from)
                    .and_then(|j| outln!("{j}").map_err(anyhow::Error::from));
            }
        }
    };
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", log.display())),
        };
        stream.push(&buf[..n], &mut take);
    }
    stream.finish(&mut take);
    printed?;
    let mut v = verdict.finish_log();
    if let Some(lto_harness::model::results::BootEnd::Lab { error }) = lava_end {
        if v.status != Status::Fail {
            v = lto_harness::model::CheckResult::new(
                "boot",
                Status::Incomplete,
                format!("the lab gave no boot to judge: {error}"),
            );
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string(&v)?)?;
    } else {
        out!("{}", summary(&v, &counts))?;
    }
    Ok(exit_code(v.status))
}

/// The verdict and its reason, the failures behind it (the first is the
/// cause to read first), and the events counted by kind.
fn summary(v: &lto_harness::model::CheckResult, counts: &BTreeMap<&'static str, usize>) -> String {
    let mut out = format!("{}: {}\n", v.status, v.message);
    for d in &v.details {
        out.push_str(&format!("  {d}\n"));
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
