//! Series: validate a patch series. The series (an mbox as `b4 am` or a
//! mail client saves it, a directory of `git format-patch` files, or a
//! quilt `series` file) is applied with `git am` in the harness's own
//! worktree of the user's kernel tree, never in the user's checkout. The
//! selected cases are then built and checked at the tip, or with `--each`
//! at the base and after every patch, and the result says which patch
//! broke (or fixed) which check.
//!
//! The worktree lives at a fixed path per kernel tree under the cache and
//! is kept between runs, so the builds after each patch (and the next
//! run's) are incremental makes in one `O=` dir (see
//! [`crate::model::source::SourceIdentity::work_key`]). [`Checker`] runs
//! cases at one commit after another; `mutate` uses it too.
//!
//! * [`patches`]: reading the series into [`Patch`]es; why one did not apply;
//! * [`worktree`]: the git worktree: create (or reset the kept one), apply,
//!   checkout, lock;
//! * [`changes`](mod@changes): the points checked and what changed between them.

pub mod changes;
pub mod patches;
pub mod worktree;

pub use changes::{changes, CaseAtPoint, Change, ChangeKind, Point};
pub use patches::{failing_files, load, patch_from_file, ApplyFailure, Patch};
pub use worktree::Worktree;

use crate::case::Case;
use crate::events::{Event, Reporter};
use crate::host::cache::Cache;
use crate::host::toolchain::Toolchain;
use crate::model::results::RunResults;
use crate::model::Status;
use crate::run::{Environment, Prepared, RunOptions};
use crate::stages::source::KernelSource;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to validate.
pub struct SeriesRequest<'a> {
    pub tree: &'a Path,
    pub base: &'a str,
    pub series: &'a Path,
    /// Build and check at the base and after every patch, not only the tip.
    pub each: bool,
}

/// The whole run, as written to series.json.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesResults {
    pub tree: PathBuf,
    pub base: String,
    pub base_commit: String,
    pub series: PathBuf,
    pub patches: Vec<Patch>,
    /// Set when the series did not apply; nothing was built then.
    pub not_applied: Option<ApplyFailure>,
    pub each: bool,
    pub points: Vec<Point>,
    pub changes: Vec<Change>,
}

impl SeriesResults {
    /// Lines for a human: per case, which patch broke or fixed what, and
    /// the status at the tip.
    pub fn report(&self) -> Vec<String> {
        if let Some(f) = &self.not_applied {
            let mut out = vec![format!("series: {f}")];
            out.extend(f.output.lines().take(12).map(|l| format!("  {l}")));
            return out;
        }
        let Some(tip) = self.points.last() else {
            return vec![];
        };
        tip.cases.iter().flat_map(|c| self.case_report(c)).collect()
    }

    /// One case: its status at the tip, its changes, and (with `each`) its
    /// status at every point.
    fn case_report(&self, c: &CaseAtPoint) -> Vec<String> {
        let failing = if c.failing.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.failing.join(", "))
        };
        let mut out = vec![format!("{}: {} at the tip{failing}", c.case, c.status)];
        for x in self.changes.iter().filter(|x| x.case == c.case) {
            out.push(format!(
                "  {} {} by patch {}/{} \"{}\"",
                x.what,
                x.change,
                x.patch,
                self.patches.len(),
                x.subject
            ));
        }
        if self.each {
            out.push(format!("  by patch: {}", self.trail(&c.case).join(", ")));
        }
        out
    }

    /// `base pass`, `1 pass`, `2 fail`, …: the case's status at each point.
    fn trail(&self, case: &str) -> Vec<String> {
        self.points
            .iter()
            .map(|p| {
                let s = p
                    .cases
                    .iter()
                    .find(|x| x.case == case)
                    .map_or("-".to_string(), |x| x.status.to_string());
                if p.after == 0 {
                    format!("base {s}")
                } else {
                    format!("{} {s}", p.after)
                }
            })
            .collect()
    }

    /// 0 when every case passes at the tip, 1 when something fails (or the
    /// series does not apply), 2 when only incomplete.
    pub fn exit_code(&self) -> u8 {
        if self.not_applied.is_some() {
            return 1;
        }
        let Some(tip) = self.points.last() else {
            return 2;
        };
        match Status::worst(tip.cases.iter().map(|c| c.status)) {
            Status::Pass => 0,
            Status::Fail => 1,
            _ => 2,
        }
    }
}

/// Applies every patch in order: the commit at the base and after each
/// patch, or the first patch that does not apply.
fn apply_all(
    wt: &Worktree,
    patches: &[Patch],
    base_commit: String,
) -> Result<Result<Vec<(usize, String)>, ApplyFailure>> {
    let mut commits = vec![(0, base_commit)];
    for p in patches {
        match wt.apply(p, patches.len())? {
            Ok(commit) => commits.push((p.index, commit)),
            Err(failure) => return Ok(Err(failure)),
        }
    }
    Ok(Ok(commits))
}

/// Builds and checks cases at one commit of the harness's worktree after
/// another (`series` at each point, `mutate` at the base and each mutant).
/// The preflight is done once, before the first point.
pub struct Checker<'a> {
    cache: &'a Cache,
    toolchain: &'a Toolchain,
    opts: &'a RunOptions,
    reporter: &'a dyn Reporter,
    prepared: Option<Prepared>,
}

impl<'a> Checker<'a> {
    pub fn new(
        cache: &'a Cache,
        toolchain: &'a Toolchain,
        opts: &'a RunOptions,
        reporter: &'a dyn Reporter,
    ) -> Checker<'a> {
        Checker {
            cache,
            toolchain,
            opts,
            reporter,
            prepared: None,
        }
    }

    /// The environment that builds the worktree as it is checked out now.
    fn environment(&self, wt: &Worktree) -> Result<Environment> {
        Environment::new(
            self.cache.clone(),
            Some(KernelSource::from_dir(&wt.path)?),
            self.toolchain.clone(),
        )
        .pooled(self.opts)
        .context("making the job pool")
    }

    /// The preflight of `cases` (goldens, tools, lkdtm's expectations from
    /// the worktree), before anything is built; at the first point when
    /// not called.
    pub fn prepare(&mut self, wt: &Worktree, cases: &[&Case]) -> Result<()> {
        let env = self.environment(wt)?;
        self.prepared = Some(crate::run::preflight(cases, &env, self.opts)?);
        Ok(())
    }

    /// Checks out `commit` and runs `cases` there; the results go to
    /// `results_dir/<label>/` (written by the results writer among the
    /// reporters, on `RunFinished`).
    pub fn run_at(
        &mut self,
        wt: &Worktree,
        commit: &str,
        label: &str,
        cases: &[&Case],
    ) -> Result<(RunResults, PathBuf)> {
        wt.checkout(commit)?;
        if self.prepared.is_none() {
            self.prepare(wt, cases)?;
        }
        let env = self.environment(wt)?;
        let opts = RunOptions {
            results_dir: crate::case::join_name(&self.opts.results_dir, label)?,
            ..self.opts.clone()
        };
        let prepared = self.prepared.as_ref().context("preflight")?;
        let watch = crate::run::after::watch();
        let mut r = crate::run::run(cases, &env, &opts, prepared, self.reporter);
        // A point of a series is not the kernel's performance history.
        watch.finish(&mut r, &opts.results_dir, None, self.reporter);
        self.reporter.report(&Event::RunFinished {
            results: &r,
            dir: &opts.results_dir,
        });
        Ok((r, opts.results_dir))
    }

    /// One point of a series: its event, then its run.
    fn point(
        &mut self,
        wt: &Worktree,
        cases: &[&Case],
        after: usize,
        commit: String,
        title: &str,
    ) -> Result<Point> {
        let label = Point::label(after);
        self.reporter.report(&Event::SeriesPoint {
            label: &label,
            title,
        });
        let (r, results_dir) = self.run_at(wt, &commit, &label, cases)?;
        Ok(Point {
            after,
            commit,
            results_dir,
            cases: CaseAtPoint::from_results(&r),
        })
    }
}

/// A series applied in the harness's worktree: the worktree (locked), the
/// results so far (nothing built), and the commit at the base and after
/// each patch; `commits` is empty when the series did not apply
/// (`results.not_applied` says why).
pub struct Applied {
    pub wt: Worktree,
    pub results: SeriesResults,
    pub commits: Vec<(usize, String)>,
}

/// Reads the series and applies all of it in the harness's worktree of
/// the tree, before anything is built.
pub fn apply_series(cache: &Cache, req: &SeriesRequest) -> Result<Applied> {
    let scratch = cache.temp_dir("series")?;
    let patches = load(req.series, scratch.path())?;
    let wt = Worktree::create(cache, req.tree, req.base)?;
    let base_commit = wt.head()?;
    let mut results = SeriesResults {
        tree: req.tree.to_owned(),
        base: req.base.to_owned(),
        base_commit: base_commit.clone(),
        series: req.series.to_owned(),
        patches: patches.clone(),
        not_applied: None,
        each: req.each,
        points: vec![],
        changes: vec![],
    };
    let commits = match apply_all(&wt, &patches, base_commit)? {
        Ok(commits) => commits,
        Err(failure) => {
            results.not_applied = Some(failure);
            vec![]
        }
    };
    Ok(Applied {
        wt,
        results,
        commits,
    })
}

/// Applies the series in the harness's worktree, then runs the cases at
/// the tip (or at every point with `each`). Results of each point go under
/// `opts.results_dir/<point>/`; the worktree is kept for the next run.
pub fn validate(
    cases: &[&Case],
    cache: &Cache,
    toolchain: &Toolchain,
    opts: &RunOptions,
    req: &SeriesRequest,
    reporter: &dyn Reporter,
) -> Result<SeriesResults> {
    let Applied {
        wt,
        mut results,
        mut commits,
    } = apply_series(cache, req)?;
    // The whole series must apply before anything is built.
    if results.not_applied.is_some() {
        return Ok(results);
    }
    if !req.each {
        // Only the tip.
        commits.drain(..commits.len() - 1);
    }
    let mut checker = Checker::new(cache, toolchain, opts, reporter);
    for (after, commit) in commits {
        let title = results
            .patches
            .iter()
            .find(|p| p.index == after)
            .map_or_else(
                || format!("{} ({})", req.base, commit.get(..12).unwrap_or(&commit)),
                |p| p.subject.clone(),
            );
        results
            .points
            .push(checker.point(&wt, cases, after, commit, &title)?);
    }
    results.changes = changes(&results.points, &results.patches);
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SeriesResults {
        let patches: Vec<Patch> = (1..=2)
            .map(|i| Patch {
                index: i,
                subject: format!("p{i}"),
                file: PathBuf::from(format!("/s/{i}.patch")),
                mail: i == 1,
                strip: 1,
            })
            .collect();
        let pt = |after: usize, status: Status, failing: &[&str]| Point {
            after,
            commit: format!("c{after}"),
            results_dir: PathBuf::from(format!("/r/{after}")),
            cases: vec![CaseAtPoint {
                case: "k".into(),
                status,
                failing: failing.iter().map(|s| s.to_string()).collect(),
            }],
        };
        let points = vec![
            pt(0, Status::Pass, &[]),
            pt(1, Status::Fail, &["boot"]),
            pt(2, Status::Pass, &[]),
        ];
        SeriesResults {
            tree: "/t".into(),
            base: "v6.1".into(),
            base_commit: "abc".into(),
            series: "/s".into(),
            changes: changes(&points, &patches),
            patches,
            not_applied: Some(ApplyFailure {
                index: 2,
                total: 2,
                subject: "p2".into(),
                files: vec!["a.c".into()],
                output: "error: a.c: patch does not apply".into(),
            }),
            each: true,
            points,
        }
    }

    /// series.json, byte for byte as before changes became typed.
    const SERIES_JSON: &str = r#"{
  "tree": "/t",
  "base": "v6.1",
  "base_commit": "abc",
  "series": "/s",
  "patches": [
    {
      "index": 1,
      "subject": "p1",
      "file": "/s/1.patch",
      "mail": true,
      "strip": 1
    },
    {
      "index": 2,
      "subject": "p2",
      "file": "/s/2.patch",
      "mail": false,
      "strip": 1
    }
  ],
  "not_applied": {
    "index": 2,
    "total": 2,
    "subject": "p2",
    "files": [
      "a.c"
    ],
    "output": "error: a.c: patch does not apply"
  },
  "each": true,
  "points": [
    {
      "after": 0,
      "commit": "c0",
      "results_dir": "/r/0",
      "cases": [
        {
          "case": "k",
          "status": "pass",
          "failing": []
        }
      ]
    },
    {
      "after": 1,
      "commit": "c1",
      "results_dir": "/r/1",
      "cases": [
        {
          "case": "k",
          "status": "fail",
          "failing": [
            "boot"
          ]
        }
      ]
    },
    {
      "after": 2,
      "commit": "c2",
      "results_dir": "/r/2",
      "cases": [
        {
          "case": "k",
          "status": "pass",
          "failing": []
        }
      ]
    }
  ],
  "changes": [
    {
      "case": "k",
      "what": "boot",
      "change": "broken",
      "patch": 1,
      "subject": "p1"
    },
    {
      "case": "k",
      "what": "boot",
      "change": "fixed",
      "patch": 2,
      "subject": "p2"
    }
  ]
}"#;

    #[test]
    fn series_json_and_the_report_read_as_before() {
        let r = sample();
        assert_eq!(serde_json::to_string_pretty(&r).unwrap(), SERIES_JSON);
        assert_eq!(r.report().join("\n"), "series: patch 2/2 \"p2\" does not apply (failed: a.c)\n  error: a.c: patch does not apply");
        assert_eq!(r.exit_code(), 1);
        let r = SeriesResults {
            not_applied: None,
            ..r
        };
        assert_eq!(r.report().join("\n"), "k: pass at the tip\n  boot broken by patch 1/2 \"p1\"\n  boot fixed by patch 2/2 \"p2\"\n  by patch: base pass, 1 fail, 2 pass");
        assert_eq!(r.exit_code(), 0);
    }
}
