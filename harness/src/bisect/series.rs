//! `series --bisect`: the patch that breaks a series, found by bisecting
//! the commits the series makes in the harness's worktree (base good, tip
//! bad) instead of building after every patch: about ⌈log2 n⌉ + 1 builds
//! for n patches, not n + 1. The tip is built first; when it passes there
//! is nothing to bisect. Each point's results go where `--each` puts them
//! (`base`, `patch-NNN`), and `series.json` lists the points built and the
//! changes between neighbours among them.

use super::state::{self, Request};
use super::{Driver, Outcome, Target, Tester};
use crate::case::Case;
use crate::events::Reporter;
use crate::host::cache::Cache;
use crate::host::toolchain::Toolchain;
use crate::model::results::RunResults;
use crate::run::RunOptions;
use crate::series::{
    self, changes, Applied, Checker, Point, SeriesRequest, SeriesResults, Worktree,
};
use anyhow::Result;
use std::path::PathBuf;

/// The series' tester: results under the point's label.
struct SeriesTester<'a, 'b> {
    wt: &'a Worktree,
    checker: Checker<'b>,
    cases: &'a [&'a Case],
    commits: &'a [(usize, String)],
    results: &'a SeriesResults,
}

impl SeriesTester<'_, '_> {
    fn after(&self, commit: &str) -> usize {
        self.commits
            .iter()
            .find(|(_, c)| c == commit)
            .map_or(0, |(a, _)| *a)
    }
}

impl Tester for SeriesTester<'_, '_> {
    fn test(&mut self, commit: &str, _label: &str) -> Result<(RunResults, PathBuf)> {
        let label = Point::label(self.after(commit));
        self.checker.run_at(self.wt, commit, &label, self.cases)
    }
    fn subject(&self, commit: &str) -> String {
        let after = self.after(commit);
        match self.results.patches.iter().find(|p| p.index == after) {
            Some(p) => {
                // `[PATCH 2/3] x86: …` → `x86: …`: the number is said once.
                let subject = match p.subject.strip_prefix('[').and_then(|s| s.split_once("] ")) {
                    Some((_, rest)) => rest,
                    None => p.subject.as_str(),
                };
                format!("patch {after}/{}: {subject}", self.results.patches.len())
            }
            None => format!("base {}", self.results.base),
        }
    }
}

/// The series and its bisection: what `series --bisect` writes.
pub struct SeriesBisection {
    pub series: SeriesResults,
    /// `None` when the series did not apply.
    pub bisection: Option<super::BisectResults>,
}

impl SeriesBisection {
    pub fn report(&self) -> Vec<String> {
        let mut out = self.series.report();
        if let Some(b) = &self.bisection {
            out.extend(b.report());
        }
        out
    }

    /// The series' exit code (fails when the tip fails); 2 when the
    /// bisection could not decide which patch.
    pub fn exit_code(&self) -> u8 {
        let code = self.series.exit_code();
        match &self.bisection {
            Some(b) if code == 1 && b.exit_code() == 2 => 2,
            _ => code,
        }
    }

    /// The patch the bisection names, with its subject.
    pub fn culprit(&self) -> Option<(usize, String)> {
        let Some(Outcome::Found { commit, .. }) = self.bisection.as_ref()?.outcome.as_ref() else {
            return None;
        };
        let p = self.series.points.iter().find(|p| p.commit == *commit)?;
        let patch = self.series.patches.iter().find(|x| x.index == p.after)?;
        Some((patch.index, patch.subject.clone()))
    }
}

/// Applies the series and bisects it: the tip first, then the points the
/// search asks for. The state is saved in `bisect.json` of the results
/// directory, so an interrupted run resumes.
#[allow(clippy::too_many_arguments)]
pub fn bisect_series(
    cases: &[&Case],
    cache: &Cache,
    toolchain: &Toolchain,
    opts: &RunOptions,
    req: &SeriesRequest,
    target: Target,
    retries: usize,
    restart: bool,
    reporter: &dyn Reporter,
) -> Result<SeriesBisection> {
    let Applied {
        wt,
        mut results,
        commits,
    } = series::apply_series(cache, req)?;
    let (Some((_, base)), Some((_, tip))) = (commits.first(), commits.last()) else {
        return Ok(SeriesBisection {
            series: results,
            bisection: None,
        });
    };
    let request = Request {
        tree: req
            .tree
            .canonicalize()
            .unwrap_or_else(|_| req.tree.to_owned()),
        good: vec![base.clone()],
        bad: tip.clone(),
        cases: cases.iter().map(|c| c.name.clone()).collect(),
        target,
        toolchain: toolchain.label(),
    };
    let path = opts.results_dir.join("bisect.json");
    let mut bisection = state::load_or_start(&path, request, restart)?;
    let snapshot = results.clone();
    let tester = SeriesTester {
        wt: &wt,
        checker: Checker::new(cache, toolchain, opts, reporter),
        cases,
        commits: &commits,
        results: &snapshot,
    };
    let mut driver = Driver {
        history: &wt,
        tester,
        retries,
        reporter,
        path: &path,
    };
    driver.run(&mut bisection)?;
    super::write_summary(&bisection, &opts.results_dir)?;
    // The points built, in series order, and what changed between
    // neighbours among them (only there is a change a patch's own).
    let mut points: Vec<Point> = bisection
        .points
        .iter()
        .map(|p| Point {
            after: commits
                .iter()
                .find(|(_, c)| *c == p.commit)
                .map_or(0, |(a, _)| *a),
            commit: p.commit.clone(),
            results_dir: p.results_dir.clone(),
            cases: p.cases.clone(),
        })
        .collect();
    points.sort_by_key(|p| p.after);
    results.changes = points
        .windows(2)
        .filter(|w| w[1].after == w[0].after + 1)
        .flat_map(|w| changes(w, &results.patches))
        .collect();
    // The tip is the last point, as `series` reports it.
    results.points = points;
    Ok(SeriesBisection {
        series: results,
        bisection: Some(bisection),
    })
}
