//! Bisection: the first commit at which the selected cases (or one step or
//! check of them) go from pass to fail, in about ⌈log2 n⌉ + 1 builds, in
//! the harness's own worktree of the user's tree (see
//! [`crate::series::Worktree`]: the user's checkout is untouched, and every
//! point is an incremental make in one `O=` dir per case).
//!
//! The bad end is built first (it must fail, or there is nothing to find);
//! then git ranks the commits left ([`search`]) and the best untested one
//! is built. An incomplete point is built again (`retries` times), then
//! skipped as `git bisect skip` does, never taken as good or bad. The
//! good end is taken on trust while some tested commit is good; when the
//! answer rests on it alone, it is built too, so a wrong `--good` is said,
//! not bisected into a wrong answer.
//!
//! Every verdict is saved in `bisect.json` as soon as it is known, and the
//! search is a function of the verdicts: an interrupted bisection started
//! again with the same request goes on where it stopped.
//!
//! * [`search`]: what to test next, from git's ranking and the verdicts;
//! * [`verdict`]: good, bad or skip, from a point's run;
//! * [`state`]: `bisect.json`, the request, the points and the outcome;
//! * [`series`](mod@series): `series --bisect`, the same search over the
//!   commits a patch series makes.

pub mod search;
pub mod series;
pub mod state;
pub mod verdict;

pub use search::{History, Next, Verdict};
pub use state::{BisectResults, Outcome, Request, TestedPoint};
pub use verdict::Target;

use crate::case::Case;
use crate::events::{Event, Reporter};
use crate::host::cache::Cache;
use crate::host::toolchain::Toolchain;
use crate::model::results::RunResults;
use crate::run::RunOptions;
use crate::series::{CaseAtPoint, Checker, Worktree};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Builds and checks the cases at one commit.
pub trait Tester {
    /// The run at `commit`, with its results under the label's directory.
    fn test(&mut self, commit: &str, label: &str) -> Result<(RunResults, PathBuf)>;
    /// A commit's subject line.
    fn subject(&self, commit: &str) -> String;
}

/// The real tester: the series machinery's [`Checker`] in the worktree.
struct WorktreeTester<'a, 'b> {
    wt: &'a Worktree,
    checker: Checker<'b>,
    cases: &'a [&'a Case],
}

impl Tester for WorktreeTester<'_, '_> {
    fn test(&mut self, commit: &str, label: &str) -> Result<(RunResults, PathBuf)> {
        self.checker.run_at(self.wt, commit, label, self.cases)
    }
    fn subject(&self, commit: &str) -> String {
        self.wt.subject(commit)
    }
}

/// What to bisect, as the user said it.
pub struct BisectRequest<'a> {
    pub tree: &'a Path,
    pub good: &'a [String],
    pub bad: &'a str,
    pub target: Target,
    /// Builds of an incomplete point before it is skipped, after the first.
    pub retries: usize,
    /// Forget a saved bisection in the results directory and start again.
    pub restart: bool,
}

/// `bisect`: finds the first bad commit between `good` and `bad` of a
/// kernel git tree. Results of each point go under
/// `opts.results_dir/<commit>/`, the bisection to `bisect.json` there.
pub fn bisect(
    cases: &[&Case],
    cache: &Cache,
    toolchain: &Toolchain,
    opts: &RunOptions,
    req: &BisectRequest,
    reporter: &dyn Reporter,
) -> Result<BisectResults> {
    if req.good.is_empty() {
        bail!("bisect: give at least one --good commit");
    }
    let wt = Worktree::create(cache, req.tree, req.bad)?;
    let bad = wt.commit_of(req.bad)?;
    let mut goods = vec![];
    for g in req.good {
        let c = wt.commit_of(g)?;
        if !wt.is_ancestor(&c, &bad)? {
            bail!("bisect: --good {g} is not an ancestor of --bad {}", req.bad);
        }
        if c == bad {
            bail!(
                "bisect: --good {g} and --bad {} are the same commit",
                req.bad
            );
        }
        goods.push(c);
    }
    let request = Request {
        tree: req
            .tree
            .canonicalize()
            .unwrap_or_else(|_| req.tree.to_owned()),
        good: goods,
        bad,
        cases: cases.iter().map(|c| c.name.clone()).collect(),
        target: req.target.clone(),
        toolchain: toolchain.label(),
    };
    let path = opts.results_dir.join("bisect.json");
    let mut results = state::load_or_start(&path, request, req.restart)?;
    let tester = WorktreeTester {
        wt: &wt,
        checker: Checker::new(cache, toolchain, opts, reporter),
        cases,
    };
    let mut driver = Driver {
        history: &wt,
        tester,
        retries: req.retries,
        reporter,
        path: &path,
    };
    driver.run(&mut results)?;
    write_summary(&results, &opts.results_dir)?;
    Ok(results)
}

/// When a first bad commit was found: `summary.md` in `dir`, the bot
/// report of that commit's run with the bisection's line in it. Nothing
/// when there is no such commit or its run left no results.json.
pub fn write_summary(results: &BisectResults, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(Outcome::Found { commit, subject }) = &results.outcome else {
        return Ok(None);
    };
    let Some(point) = results.points.iter().find(|p| p.commit == *commit) else {
        return Ok(None);
    };
    // Read and checked as every results file read back is.
    let mut run: RunResults = match crate::ci::load_results(&point.results_dir) {
        Ok(run) => run,
        Err(crate::model::validate::InputError::Read { error, .. })
            if error.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    };
    run.bisected = Some(crate::model::bisection::Bisected {
        commit: commit.clone(),
        subject: subject.clone(),
        good: results.request.good.clone(),
        bad: results.request.bad.clone(),
        builds: results.builds().0,
        results_dir: point
            .results_dir
            .strip_prefix(dir)
            .unwrap_or(&point.results_dir)
            .to_string_lossy()
            .into_owned(),
    });
    let path = dir.join("summary.md");
    crate::host::cache::write_atomic(
        &path,
        crate::output::markdown::markdown_summary(&run).as_bytes(),
    )?;
    Ok(Some(path))
}

/// Runs a bisection from its saved state to its outcome.
pub struct Driver<'a, T: Tester> {
    pub history: &'a dyn History,
    pub tester: T,
    pub retries: usize,
    pub reporter: &'a dyn Reporter,
    /// Where the state is saved after every point.
    pub path: &'a Path,
}

impl<T: Tester> Driver<'_, T> {
    /// Tests the bad end, then what the search asks for, until the outcome.
    pub fn run(&mut self, results: &mut BisectResults) -> Result<()> {
        results.outcome = None;
        if results.range == 0 {
            let goods = results.request.good.clone();
            results.range = self.history.ranked(&results.request.bad, &goods)?.len();
            results.expected_builds = search::expected_builds(results.range);
        }
        // The bad end must fail, or there is nothing to find.
        let bad = results.request.bad.clone();
        match self.verdict_of(results, &bad, "the bad end")? {
            Verdict::Bad => {}
            Verdict::Good => {
                return self.finish(results, Outcome::BadPasses { commit: bad });
            }
            Verdict::Skip => {
                return self.finish(results, Outcome::BadUntestable { commit: bad });
            }
        }
        loop {
            let verdicts = results.verdicts();
            match search::next(self.history, &verdicts)? {
                None => bail!("bisect: no bad commit to search from"),
                Some(Next::Test { commit, left }) => {
                    let what = format!("{left} commits left");
                    self.verdict_of(results, &commit, &what)?;
                }
                Some(Next::Found(commit)) => {
                    // Rests on a good end no build has shown good: build it.
                    if !results.points.iter().any(|p| p.verdict == Verdict::Good) {
                        for g in results.request.good.clone() {
                            if self.verdict_of(results, &g, "the good end")? == Verdict::Bad {
                                return self.finish(results, Outcome::GoodFails { commit: g });
                            }
                        }
                    }
                    let subject = self.tester.subject(&commit);
                    return self.finish(results, Outcome::Found { commit, subject });
                }
                Some(Next::Ambiguous(commits)) => {
                    let commits = commits
                        .into_iter()
                        .map(|c| {
                            let s = self.tester.subject(&c);
                            (c, s)
                        })
                        .collect();
                    return self.finish(results, Outcome::Ambiguous { commits });
                }
            }
        }
    }

    /// The verdict on `commit`: the saved one, or a new test of it (built
    /// again while incomplete, up to `retries` times).
    fn verdict_of(
        &mut self,
        results: &mut BisectResults,
        commit: &str,
        why: &str,
    ) -> Result<Verdict> {
        if let Some(p) = results.points.iter().find(|p| p.commit == commit) {
            return Ok(p.verdict);
        }
        let subject = self.tester.subject(commit);
        let label = commit.get(..12).unwrap_or(commit).to_owned();
        self.reporter.report(&Event::BisectPoint {
            commit: &label,
            title: &subject,
            why,
        });
        let started = Instant::now();
        let mut attempts = 0;
        let (run, dir, judged) = loop {
            attempts += 1;
            let (run, dir) = self.tester.test(commit, &label)?;
            let judged = verdict::judge(&run, &results.request.target);
            if judged.verdict != Verdict::Skip || !judged.retry || attempts > self.retries {
                break (run, dir, judged);
            }
            self.reporter.report(&Event::Warning {
                case: &label,
                message: &format!("bisect: incomplete ({}), trying again", judged.reason),
            });
        };
        self.reporter.report(&Event::BisectVerdict {
            commit: &label,
            verdict: judged.verdict,
            reason: &judged.reason,
        });
        results.points.push(TestedPoint {
            commit: commit.to_owned(),
            subject,
            verdict: judged.verdict,
            reason: judged.reason,
            attempts,
            seconds: started.elapsed().as_secs_f64(),
            results_dir: dir,
            cases: CaseAtPoint::from_results(&run),
        });
        state::save(self.path, results)?;
        Ok(judged.verdict)
    }

    fn finish(&mut self, results: &mut BisectResults, outcome: Outcome) -> Result<()> {
        results.outcome = Some(outcome);
        state::save(self.path, results)
    }
}

#[cfg(test)]
mod tests;
