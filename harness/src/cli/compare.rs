//! `compare`: classifies every step and check of two runs (regression,
//! fixed, new, missing, persistent failure, unstable). `gate`: the same
//! report, then the gate's verdict (`lto_harness::compare::gate`): 1 on a
//! regression, 2 when the new run lost or could not judge a case or item
//! of the baseline, else 0; without NEW it runs the cases first and
//! compares that run. Both read results files through
//! `lto_harness::ci::load_results` (size limit, duplicates, statuses), so a
//! bad file is an error (exit 2); gate refuses runs of another kernel
//! series, toolchain or source tree unless `--allow-different-kernels`.

use super::common::{CommonArgs, RunArgs};
use super::stdout::outln;
use anyhow::Result;
use clap::Args;
use lto_harness::ci::load_results;
use lto_harness::model::results::RunResults;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CompareArgs {
    /// The baseline: a results dir or results.json.
    old: PathBuf,
    /// The new run: a results dir or results.json.
    new: PathBuf,
    /// Print the classification as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GateArgs {
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
    /// With no NEW: override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = super::common::seconds)]
    timeout: Option<u64>,
    /// A baseline case NEW may lack (e.g. one run by another shard);
    /// repeatable. Any other missing case makes the gate exit 2.
    #[arg(long, value_name = "CASE")]
    allow_missing: Vec<String>,
    /// Gate runs made of different inputs: another kernel series
    /// (major.minor, e.g. 6.12 against 7.1), another toolchain or another
    /// source tree. Without it such runs are not gated (exit 2), since a
    /// change between them says nothing about one kernel tree.
    #[arg(long)]
    allow_different_kernels: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// `compare`: the classification, as lines or (`--json`) as JSON; exits 0.
pub fn compare(args: CompareArgs) -> Result<u8> {
    let (old, new) = (load_results(&args.old)?, load_results(&args.new)?);
    let c = lto_harness::compare::compare(&old, &new);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&c)?)?;
    } else {
        for l in c.report() {
            outln!("{l}")?;
        }
    }
    Ok(0)
}

/// `gate`: compares NEW (or a run made now) with the baseline; 1 on a
/// regression, 2 on anything missing or incomplete, 0 only when neither.
pub fn gate(cases_dir: &Path, args: GateArgs) -> Result<u8> {
    let baseline = args.baseline.clone();
    let allow = args.allow_missing.clone();
    let allow_different = args.allow_different_kernels;
    // The baseline is read first: a bad one fails before a run is made.
    let old = load_results(&baseline)?;
    let new_path = args.new.clone();
    let new = match &new_path {
        Some(p) => load_results(p)?,
        None => run_now(cases_dir, args)?,
    };
    let c = lto_harness::compare::compare(&old, &new);
    let new_name = new_path
        .as_ref()
        .map_or_else(|| "(run now)".to_string(), |p| p.display().to_string());
    lto_harness::compare::gate::same_inputs(
        &c,
        allow_different,
        &baseline.display().to_string(),
        &new_name,
    )?;
    for l in c.report() {
        outln!("{l}")?;
    }
    if !c.inputs_differ.is_empty() {
        eprintln!("gate: gating runs made of different inputs, as --allow-different-kernels says");
    }
    let v = lto_harness::compare::gate::verdict(&c, &new, &allow);
    for l in v.report() {
        eprintln!("gate: {l}");
    }
    let code = v.exit_code();
    let against = baseline.display();
    match code {
        0 => eprintln!("gate: pass: no regressions against {against}, nothing missing or incomplete"),
        1 => eprintln!("gate: fail: {} regression(s) against {against}", v.regressions.len()),
        _ => eprintln!(
            "gate: incomplete: {} missing case(s), {} missing item(s), {} incomplete against {against}; not green",
            v.missing_cases.len(),
            v.missing_items.len(),
            v.incomplete.len()
        ),
    }
    Ok(code)
}

/// `gate` without NEW: runs the cases into --results (its exit code does
/// not count, the comparison does) and loads what it wrote.
fn run_now(cases_dir: &Path, args: GateArgs) -> Result<RunResults> {
    let dir = args.common.results.clone();
    let run_args = RunArgs {
        names: vec![],
        include_slow: args.include_slow,
        dry_run: false,
        fail_fast: false,
        kernel_build: None,
        timeout: args.timeout,
        bless: false,
        retries: args.retries,
        shard: None,
        boot: super::common::Boot::Qemu,
        lava_log: None,
        common: args.common,
    };
    let _ = super::run::run(cases_dir, run_args)?;
    Ok(load_results(&dir)?)
}
