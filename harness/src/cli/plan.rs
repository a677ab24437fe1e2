//! `plan`: prints the CI matrix as JSON (for GitHub Actions' `fromJSON`):
//! one entry per selected case, or per shard with `--shards`. With
//! `--simulate`, instead what a run's builds would take on other core
//! counts, sequentially and in the job pool (`ci::simulate`).

use super::common;
use super::stdout::outln;
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
    #[arg(long, value_name = "N", value_parser = common::count)]
    shards: Option<usize>,
    #[command(flatten)]
    toolchains: common::ToolchainArgs,
    /// Replay the builds of the run in `--from` on these core counts
    /// (e.g. `2,16`) and print a table instead of the matrix.
    #[arg(long, value_name = "CORES", value_delimiter = ',', requires = "from",
          value_parser = common::count)]
    simulate: Vec<usize>,
    /// The results dir (or results.json) of a sequential run whose build
    /// profiles `--simulate` replays.
    #[arg(long, value_name = "RESULTS")]
    from: Option<std::path::PathBuf>,
    /// How many boots ran at once in the sequential order (`run`'s default).
    #[arg(long, default_value_t = 2, value_parser = common::count)]
    boot_jobs: usize,
}

/// `plan`: the matrix of the selected cases, pretty-printed JSON on stdout.
pub fn plan(cases_dir: &Path, args: PlanArgs) -> Result<u8> {
    if let Some(from) = &args.from {
        return simulate(from, &args.simulate, args.boot_jobs);
    }
    let all = case::load_dir(cases_dir)?;
    let named = common::select(&all, &args.names, args.include_slow)?;
    let matrix = case::matrix(&named, &common::matrix_labels(&args.toolchains.llvm)?);
    let selected: Vec<&case::Case> = matrix.iter().collect();
    let plan = lto_harness::ci::plan(&selected, args.shards);
    outln!("{}", serde_json::to_string_pretty(&plan)?)?;
    Ok(0)
}

/// `plan --simulate N,M --from RESULTS`: a markdown table of the walls.
fn simulate(from: &Path, cores: &[usize], boot_jobs: usize) -> Result<u8> {
    use lto_harness::ci::simulate::{jobs_of, simulate, Schedule};
    if cores.is_empty() || cores.contains(&0) {
        anyhow::bail!("plan --from: give --simulate a list of core counts, each at least 1 (e.g. `--simulate 2,16`)");
    }
    let results = lto_harness::ci::load_results(from)?;
    let (jobs, missing, shared) = jobs_of(&results);
    if !shared.is_empty() {
        eprintln!(
            "plan: left out {} (built in a job pool: their profiles show a share of the machine, \
             not what the build does alone; simulate from a sequential run)",
            shared.join(", ")
        );
    }
    if !missing.is_empty() {
        eprintln!(
            "plan: left out {} (no build profile recorded)",
            missing.join(", ")
        );
    }
    if jobs.is_empty() {
        anyhow::bail!(
            "plan: no build in {} has a profile to replay",
            from.display()
        );
    }
    let measured_at = jobs.iter().map(|j| j.profile.jobs).max().unwrap_or(0);
    outln!(
        "{} build(s) and boot(s) from {} (profiles measured at -j{measured_at}; that run took {:.0} s)",
        jobs.len(),
        from.display(),
        results.seconds
    )?;
    outln!()?;
    outln!(
        "| cores | sequential (s) | pool (s) | model floor (s) | sequential / floor | pool / floor |"
    )?;
    outln!("| ---: | ---: | ---: | ---: | ---: | ---: |")?;
    for &n in cores {
        let seq = simulate(&jobs, n, Schedule::Sequential { boot_jobs });
        let pool = simulate(&jobs, n, Schedule::Pool);
        outln!(
            "| {n} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            seq.wall,
            pool.wall,
            seq.floor,
            seq.wall / seq.floor.max(1e-9),
            pool.wall / pool.floor.max(1e-9)
        )?;
    }
    Ok(0)
}
