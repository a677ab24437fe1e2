//! `checks`: the check registry as a table, as JSON, or as the Markdown
//! reference docs/checks.md carries (between its `generated` markers),
//! with the shipped mutants each check was seen to kill.

use super::stdout::{out, outln};
use anyhow::Result;
use clap::Args;
use lto_harness::checks::registry::{self, Family, FAMILIES};
use lto_harness::{case, mutate};
use serde::Serialize;
use std::path::Path;

#[derive(Args)]
pub struct ChecksArgs {
    /// Print the registry as JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the Markdown reference of docs/checks.md.
    #[arg(long)]
    markdown: bool,
}

/// Which shipped mutants name each check in `killed_by`, by check name.
fn killers(cases_dir: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let dir = cases_dir.join("mutants");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let cases = case::load_dir(cases_dir)?;
    let known: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let mutants = mutate::file::load_dir(&dir, &known)?;
    Ok(mutants.into_iter().map(|m| (m.name, m.killed_by)).collect())
}

#[derive(Serialize)]
struct FamilyJson<'a> {
    family: &'static str,
    #[serde(flatten)]
    info: &'a Family,
    killed_by_mutants: Vec<(&'static str, Vec<String>)>,
}

/// `checks`.
pub fn checks(cases_dir: &Path, args: ChecksArgs) -> Result<u8> {
    let killers = killers(cases_dir)?;
    if args.markdown {
        out!("{}", registry::markdown(&killers))?;
    } else if args.json {
        let all: Vec<FamilyJson> = FAMILIES
            .iter()
            .map(|f| FamilyJson {
                family: f.kind.name(),
                info: f,
                killed_by_mutants: f
                    .checks
                    .iter()
                    .map(|c| (c.name, registry::killed_by(&killers, c.name)))
                    .collect(),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        outln!(
            "{:<38} {:<16} {:<14} {}",
            "CHECK",
            "FAMILY",
            "WHEN",
            "MUTANTS (killed_by)"
        )?;
        for f in FAMILIES {
            for c in f.checks {
                let m = registry::killed_by(&killers, c.name);
                outln!(
                    "{:<38} {:<16} {:<14} {}",
                    c.name,
                    f.kind.name(),
                    c.when.name(),
                    if m.is_empty() {
                        "-".into()
                    } else {
                        m.join(",")
                    }
                )?;
            }
        }
    }
    Ok(0)
}
