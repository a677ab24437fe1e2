//! The command line's shape: the [`Cli`] arguments, the [`Command`]
//! subcommands, and [`dispatch`], which hands each subcommand to its own
//! file (`list`, `checks`, `run` and `bless`, `series`, `bisect`, `mutate`, `compare` and `gate`,
//! `bench`, `report`, `judge`, `plan`, `merge`). The help text is the doc
//! comments on the arguments. Standard output is written through
//! [`stdout`]'s `out!` and `outln!`, never `print!` (which panics when
//! stdout is closed or full); clippy holds every file here to it.
#![deny(clippy::print_stdout)]

mod bench;
mod bisect;
mod checks;
mod common;
mod compare;
mod judge;
mod list;
mod merge;
mod mutate;
mod plan;
mod report;
mod run;
mod series;
mod stdout;

use clap::{Parser, Subcommand};
use common::RunArgs;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lto-harness",
    version,
    about = "Build, boot and judge Clang LTO/CFI Linux kernels under QEMU"
)]
pub struct Cli {
    /// Directory of case files.
    #[arg(long, global = true, value_name = "DIR")]
    cases: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the cases: name, arch, lto, cfi, base, tags.
    List,
    /// List every check: family, when it is judged, what it proves, the
    /// config it needs and the shipped mutants it kills (--json, --markdown).
    Checks(checks::ChecksArgs),
    /// Build, boot and check cases (all but `slow` ones by default).
    Run(RunArgs),
    /// Rewrite the initcall goldens of the named cases from what their
    /// kernels did (build and boot them first), and say what changed.
    Bless(RunArgs),
    /// Apply a patch series to a kernel git tree (in the harness's own
    /// worktree), build and check the cases, and name the patch that broke what.
    Series(series::SeriesArgs),
    /// Find the first commit between --good and --bad of a kernel git
    /// tree at which the cases (or one step or check) fail, in the
    /// harness's own worktree; resumable.
    Bisect(bisect::BisectArgs),
    /// Apply each mutant (a patch that breaks one LTO mechanism, in
    /// `<cases>/mutants/`) in the harness's worktree of a kernel git tree,
    /// build and check its cases and controls, and say whether the checks
    /// caught it.
    Mutate(mutate::MutateArgs),
    /// Classify every step and check of two runs: regression, fixed, new,
    /// missing, persistent failure, unstable.
    Compare(compare::CompareArgs),
    /// Like `compare`, but exit 1 only on regressions (known failures may
    /// persist). Without NEW, runs the cases first (with `--retries 1`
    /// unless told otherwise) and compares that run. Runs of another
    /// kernel series, toolchain or source tree are refused (exit 2) unless
    /// `--allow-different-kernels`.
    Gate(compare::GateArgs),
    /// Benchmark kernel B against kernel A: build cost, sizes, boot, in-guest workloads.
    Bench(bench::BenchArgs),
    /// Render the performance dashboard (static HTML + SVG) from the history.
    Report(report::ReportArgs),
    /// Parse a saved console log: print its events and the boot verdict.
    Judge(judge::JudgeArgs),
    /// Print the CI matrix (JSON, for GitHub Actions' `fromJSON`): one
    /// entry per selected case, or per shard with --shards.
    Plan(plan::PlanArgs),
    /// Join the results of sharded runs into one: results.json, junit.xml, ...
    Merge(merge::MergeArgs),
}

/// Runs the subcommand `cli` names; its exit code, or an error (which
/// `main` reports as incomplete, 2).
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let cases_dir = cli.cases.unwrap_or_else(lto_harness::default_cases_dir);
    let cases = cases_dir.as_path();
    match cli.command {
        Command::List => list::list(cases),
        Command::Checks(args) => checks::checks(cases, args),
        Command::Run(args) => run::run(cases, args),
        Command::Bless(args) => run::bless(cases, args),
        Command::Series(args) => series::series(cases, args),
        Command::Bisect(args) => bisect::bisect(cases, args),
        Command::Mutate(args) => mutate::mutate(cases, args),
        Command::Compare(args) => compare::compare(args),
        Command::Gate(args) => compare::gate(cases, args),
        Command::Bench(args) => bench::bench(cases, args),
        Command::Report(args) => report::report(args),
        Command::Judge(args) => judge::judge(args),
        Command::Plan(args) => plan::plan(cases, args),
        Command::Merge(args) => merge::merge(args),
    }
}
