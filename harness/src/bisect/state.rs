//! `bisect.json`: what was asked ([`Request`], with the commits resolved),
//! every commit tested and its verdict ([`TestedPoint`]), and how it ended
//! ([`Outcome`]). It is written after every point, so a bisection that is
//! stopped resumes from it: the same request in the same results directory
//! keeps its points; another request there is refused unless restarted.

use super::search::Verdict;
use super::verdict::Target;
use crate::series::CaseAtPoint;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What is bisected, with every commit as a full hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub tree: PathBuf,
    pub good: Vec<String>,
    pub bad: String,
    pub cases: Vec<String>,
    pub target: Target,
    /// The toolchain's label (`clang-19`): a resumed bisection must build
    /// with the same one.
    pub toolchain: String,
}

/// One commit built and checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestedPoint {
    pub commit: String,
    pub subject: String,
    pub verdict: Verdict,
    pub reason: String,
    /// Builds of it: more than one when an incomplete run was retried.
    pub attempts: usize,
    pub seconds: f64,
    pub results_dir: PathBuf,
    pub cases: Vec<CaseAtPoint>,
}

/// How a bisection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// The first bad commit.
    Found { commit: String, subject: String },
    /// Only skipped commits lie between the last good and the first bad:
    /// one of these (hash, subject) is the first bad one.
    Ambiguous { commits: Vec<(String, String)> },
    /// The bad end passes: there is no break to find.
    BadPasses { commit: String },
    /// The bad end could not be judged (incomplete after its retries).
    BadUntestable { commit: String },
    /// A good end fails too: the break is older than the range.
    GoodFails { commit: String },
}

/// The whole bisection, as written to bisect.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BisectResults {
    pub request: Request,
    /// Commits that could be the first bad one at the start (the bad end
    /// included), and the builds the search promises for them.
    pub range: usize,
    pub expected_builds: usize,
    /// Every commit tested, in order.
    pub points: Vec<TestedPoint>,
    /// How many of `points` came from an earlier, interrupted run.
    #[serde(default)]
    pub resumed: usize,
    pub outcome: Option<Outcome>,
}

impl BisectResults {
    pub fn new(request: Request) -> BisectResults {
        BisectResults {
            request,
            range: 0,
            expected_builds: 0,
            points: vec![],
            resumed: 0,
            outcome: None,
        }
    }

    /// The verdicts the search starts from: the good ends (taken as good
    /// until a build says otherwise), then every tested commit's.
    pub fn verdicts(&self) -> Vec<(String, Verdict)> {
        let tested = |c: &String| self.points.iter().any(|p| p.commit == *c);
        self.request
            .good
            .iter()
            .filter(|g| !tested(g))
            .map(|g| (g.clone(), Verdict::Good))
            .chain(self.points.iter().map(|p| (p.commit.clone(), p.verdict)))
            .collect()
    }

    /// Builds made (retries counted), and their wall time.
    pub fn builds(&self) -> (usize, f64) {
        (
            self.points.iter().map(|p| p.attempts).sum(),
            self.points.iter().map(|p| p.seconds).sum(),
        )
    }

    /// Lines for a human: the outcome, then every tested commit.
    pub fn report(&self) -> Vec<String> {
        let short = |c: &str| c.get(..12).unwrap_or(c).to_owned();
        let mut out = vec![match &self.outcome {
            None => "bisect: not finished".to_owned(),
            Some(Outcome::Found { commit, subject }) => {
                format!("bisect: first bad commit: {} \"{subject}\"", short(commit))
            }
            Some(Outcome::Ambiguous { commits }) => format!(
                "bisect: the first bad commit is one of {} (the others could not be judged)",
                commits
                    .iter()
                    .map(|(c, s)| format!("{} \"{s}\"", short(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(Outcome::BadPasses { commit }) => format!(
                "bisect: nothing to find: {} passes at the bad end {}",
                self.request.target,
                short(commit)
            ),
            Some(Outcome::BadUntestable { commit }) => {
                format!("bisect: the bad end {} could not be judged", short(commit))
            }
            Some(Outcome::GoodFails { commit }) => format!(
                "bisect: the good end {} fails too: the break is older than the range",
                short(commit)
            ),
        }];
        let (builds, seconds) = self.builds();
        out.push(format!(
            "  {builds} builds in {:.0} s for {} candidate commits (at most {} expected){}",
            seconds,
            self.range,
            self.expected_builds,
            if self.resumed > 0 {
                format!("; {} points from an earlier run", self.resumed)
            } else {
                String::new()
            }
        ));
        for p in &self.points {
            out.push(format!(
                "  {} {:<4} {}: {}",
                short(&p.commit),
                p.verdict.to_string(),
                p.subject,
                p.reason
            ));
        }
        out
    }

    /// 0: found (or nothing to find); 1: a good end fails; 2: could not
    /// be decided (ambiguous, untestable, or unfinished).
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            Some(Outcome::Found { .. } | Outcome::BadPasses { .. }) => 0,
            Some(Outcome::GoodFails { .. }) => 1,
            _ => 2,
        }
    }
}

/// The saved bisection in `path` when it is of `request`, else a new one.
/// A saved bisection of another request is refused unless `restart`.
pub fn load_or_start(path: &Path, request: Request, restart: bool) -> Result<BisectResults> {
    if restart || !path.exists() {
        return Ok(BisectResults::new(request));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let saved: BisectResults = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => bail!(
            "{}: not a bisection this harness wrote ({e}); give another --results or --restart",
            path.display()
        ),
    };
    if saved.request != request {
        bail!(
            "{} holds a bisection of something else (good {:?}, bad {}, cases {:?}, {}); \
             give another --results, or --restart to forget it",
            path.display(),
            saved.request.good,
            saved.request.bad,
            saved.request.cases,
            saved.request.toolchain
        );
    }
    let resumed = saved.points.len();
    Ok(BisectResults {
        resumed,
        outcome: None,
        ..saved
    })
}

/// Writes the bisection to `path`, atomically.
pub fn save(path: &Path, results: &BisectResults) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::host::cache::write_atomic(path, &serde_json::to_vec_pretty(results)?)
}
