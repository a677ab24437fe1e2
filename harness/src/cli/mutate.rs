//! `mutate`: applies each selected mutant (a small patch that breaks one
//! LTO mechanism, `<cases>/mutants/*.yaml`) in the harness's worktree of a
//! kernel git tree, builds and checks its cases and controls on it and at
//! the unmutated base, and says per case whether the checks caught it.
//! Writes mutate.json and mutate.md and prints the table.

use super::common::{self, CommonArgs};
use super::stdout::{out, outln};
use anyhow::{Context, Result};
use clap::Args;
use lto_harness::case;
use lto_harness::host::cache::Cache;
use lto_harness::mutate::{self, MutateRequest, MutateResults};
use lto_harness::stages::source;
use std::path::Path;

#[derive(Args)]
pub struct MutateArgs {
    /// Mutants to run, by name (default: every mutant not tagged `slow`).
    names: Vec<String>,
    /// Also run mutants tagged `slow`.
    #[arg(long)]
    include_slow: bool,
    /// The commit, tag or branch of the tree the mutants apply to
    /// (default: HEAD of --kernel-src, or the default tree's one commit).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// Only apply each mutant's patch (the one for the tree's kernel
    /// series) to the base and say which applied, building nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = super::common::seconds)]
    timeout: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `mutate`: runs the mutants; exits as [`MutateResults::exit_code`] says.
pub fn mutate(cases_dir: &Path, args: MutateArgs) -> Result<u8> {
    let c = &args.common;
    let all = case::load_dir(cases_dir)?;
    let known: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    let mutants_dir = cases_dir.join("mutants");
    let mutants = mutate::load_dir(&mutants_dir, &known)?;
    let selected =
        mutate::select(&mutants, &args.names, args.include_slow).map_err(anyhow::Error::msg)?;
    if selected.is_empty() {
        anyhow::bail!(
            "mutate: no mutants selected in {} (slow ones need --include-slow or their name)",
            mutants_dir.display()
        );
    }
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let toolchain = common::one_toolchain(c, "mutate")?;
    // A git tree: --kernel-src, else the default source committed once.
    // A tarball or a plain directory is committed once, in the cache.
    let (tree, base) = match &c.kernel_src {
        Some(t) => match source::git_tree_for(&cache, t)
            .with_context(|| format!("mutate: making a git tree of {}", t.display()))?
        {
            Some(g) => (g.path, args.base.unwrap_or(g.commit)),
            None => (t.clone(), args.base.unwrap_or_else(|| "HEAD".into())),
        },
        None => {
            let g = source::default_git_tree(&cache)
                .context("mutate: making the default source's git tree")?;
            (g.path, args.base.unwrap_or(g.commit))
        }
    };
    let names: Vec<&str> = selected.iter().map(|m| m.name.as_str()).collect();
    eprintln!(
        "mutate: {} mutant(s) ({}) on {} at {base}",
        names.len(),
        names.join(", "),
        tree.display()
    );
    if args.dry_run {
        let req = MutateRequest {
            tree: &tree,
            base: &base,
            mutants: &selected,
        };
        let (version, applied) = mutate::check_patches(&cache, &req)?;
        let version = version.map_or_else(
            || "no version in its Makefile".into(),
            |v| format!("Linux {v}"),
        );
        outln!("mutate --dry-run: every patch applies to {base} ({version}):")?;
        for a in &applied {
            outln!("{}\t{}\t{}", a.name, a.patch.display(), a.commit)?;
        }
        return Ok(0);
    }
    let opts = common::run_options(c, None, args.timeout);
    let reporting = common::Reporting::new(&c.kcidb, &c.results)?;
    let reporter = reporting.fanout();
    let req = MutateRequest {
        tree: &tree,
        base: &base,
        mutants: &selected,
    };
    // run emits RunFinished for the base and each mutant; the writer writes them.
    let r = mutate::run(&all, &cache, &toolchain, &opts, &req, &reporter)?;
    reporting.writer.finish()?;
    write_report(&r, &c.results)?;
    Ok(r.exit_code())
}

/// Writes mutate.json and mutate.md into `dir` and prints the table.
fn write_report(r: &MutateResults, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join("mutate.json");
    lto_harness::host::cache::write_atomic(&json, &serde_json::to_vec_pretty(r)?)?;
    let md = dir.join("mutate.md");
    lto_harness::host::cache::write_atomic(&md, r.markdown().as_bytes())?;
    out!("{}", r.table())?;
    eprintln!("mutate results in {} and {}", json.display(), md.display());
    Ok(())
}
