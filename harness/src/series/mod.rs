//! Series: validate a patch series. The series (an mbox as `b4 am` or a
//! mail client saves it, a directory of `git format-patch` files, or a
//! quilt `series` file) is applied with `git am` in the harness's own
//! worktree of the user's kernel tree, never in the user's checkout. The
//! selected cases are then built and checked at the tip, or with `--each`
//! at the base and after every patch, and the result says which patch
//! broke (or fixed) which check.
//!
//! The worktree lives at a fixed path per kernel tree under the cache, so
//! the builds after each patch are incremental makes in one `O=` dir (see
//! [`crate::model::source::SourceIdentity::work_key`]).

use crate::host::cache::Cache;
use crate::model::results::RunResults;
use crate::model::Status;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One patch of a series, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patch {
    /// 1-based position in the series.
    pub index: usize,
    pub subject: String,
    /// The patch as a file git can read.
    pub file: PathBuf,
    /// A mail (`From:`/`Subject:` headers): applied with `git am`; else a
    /// plain diff applied with `git apply` and committed under its name.
    pub mail: bool,
    /// `-pN` for plain diffs from a quilt series.
    pub strip: u32,
}

/// Reads a series: a directory of `*.patch` files (or one with a quilt
/// `series` file), a quilt `series` file, or an mbox. Mbox messages are
/// split into `scratch`; cover letters (no diff) are skipped.
pub fn load(path: &Path, scratch: &Path) -> Result<Vec<Patch>> {
    let patches = if path.is_dir() {
        if path.join("series").is_file() {
            load_quilt(&path.join("series"))?
        } else {
            load_dir(path)?
        }
    } else {
        let text = std::fs::read(path)
            .with_context(|| format!("--series {}: cannot read", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        if looks_like_mail(&text) || text.starts_with("From ") {
            split_mbox(&text, scratch)
                .with_context(|| format!("--series {}: not a usable mbox", path.display()))?
        } else {
            load_quilt(path)?
        }
    };
    if patches.is_empty() {
        bail!("--series {}: no patches found", path.display());
    }
    Ok(patches)
}

fn load_dir(dir: &Path) -> Result<Vec<Patch>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--series {}: cannot read", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch" || x == "diff"))
        .collect();
    files.sort();
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| patch_from_file(i + 1, f, 1))
        .collect()
}

/// A quilt `series` file: one patch path per line (relative to the file's
/// directory), optionally followed by `-pN`; `#` starts a comment.
fn load_quilt(series: &Path) -> Result<Vec<Patch>> {
    let text = std::fs::read_to_string(series)
        .with_context(|| format!("--series {}: cannot read", series.display()))?;
    let dir = series.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().expect("non-empty line");
        let strip = match words.next() {
            None => 1,
            Some(w) => w
                .strip_prefix("-p")
                .and_then(|d| d.parse().ok())
                .with_context(|| {
                    format!(
                        "{}:{}: expected `PATCH [-pN]`, found `{line}`",
                        series.display(),
                        n + 1
                    )
                })?,
        };
        let file = dir.join(name);
        if !file.is_file() {
            bail!(
                "{}:{}: no such patch file {}",
                series.display(),
                n + 1,
                file.display()
            );
        }
        out.push(patch_from_file(out.len() + 1, file, strip)?);
    }
    Ok(out)
}

fn patch_from_file(index: usize, file: PathBuf, strip: u32) -> Result<Patch> {
    let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8_lossy(&text);
    let mail = looks_like_mail(&text);
    let subject = subject_of(&text).unwrap_or_else(|| {
        file.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    });
    Ok(Patch {
        index,
        subject,
        file,
        mail,
        strip,
    })
}

/// A mail header block with `From:` and `Subject:` before the first blank line.
fn looks_like_mail(text: &str) -> bool {
    let head: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with("From "))
        .take_while(|l| !l.is_empty())
        .collect();
    head.iter().any(|l| l.starts_with("From:")) && head.iter().any(|l| l.starts_with("Subject:"))
}

/// The `Subject:` header, unfolded.
fn subject_of(text: &str) -> Option<String> {
    let mut lines = text.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(l) = lines.next() {
        if let Some(s) = l.strip_prefix("Subject:") {
            let mut subject = s.trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) {
                    subject.push(' ');
                    subject.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(subject);
        }
    }
    None
}

fn has_diff(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("diff --git ") || l.starts_with("+++ "))
}

/// Splits an mbox at its `From ` separator lines into one file per patch.
fn split_mbox(text: &str, scratch: &Path) -> Result<Vec<Patch>> {
    std::fs::create_dir_all(scratch)?;
    let mut messages: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") || messages.is_empty() {
            messages.push(String::new());
        }
        messages.last_mut().expect("pushed").push_str(line);
    }
    let mut out = Vec::new();
    for m in messages.into_iter().filter(|m| has_diff(m)) {
        let index = out.len() + 1;
        let file = scratch.join(format!("{index:04}.patch"));
        std::fs::write(&file, &m)?;
        out.push(Patch {
            index,
            subject: subject_of(&m).unwrap_or_else(|| format!("patch {index}")),
            file,
            mail: true,
            strip: 1,
        });
    }
    Ok(out)
}

/// Why a series stopped applying.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyFailure {
    pub index: usize,
    pub total: usize,
    pub subject: String,
    /// The files git named in its error.
    pub files: Vec<String>,
    pub output: String,
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "patch {}/{} \"{}\" does not apply",
            self.index, self.total, self.subject
        )?;
        if !self.files.is_empty() {
            write!(f, " (failed: {})", self.files.join(", "))?;
        }
        Ok(())
    }
}

/// The files in git's `error: patch failed: FILE:LINE` / `error: FILE: does
/// not exist in index` / `error: FILE: patch does not apply` lines.
pub fn failing_files(output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in output.lines() {
        let Some(rest) = l.strip_prefix("error: ") else {
            continue;
        };
        let file = if let Some(r) = rest.strip_prefix("patch failed: ") {
            r.rsplit_once(':').map_or(r, |x| x.0)
        } else if let Some((f, _)) = rest.split_once(": ") {
            f
        } else {
            continue;
        };
        if !file.contains(' ') && !out.iter().any(|x| x == file) {
            out.push(file.to_owned());
        }
    }
    out
}

/// The harness's worktree of a kernel tree; removed when dropped.
pub struct Worktree {
    tree: PathBuf,
    pub path: PathBuf,
    /// Held while the worktree exists: a second series on the same tree waits.
    _lock: crate::host::cache::Lock,
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=lto-harness",
            "-c",
            "user.email=lto-harness@localhost",
        ])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running git: install the Debian package `git`")
}

fn git_ok(dir: &Path, args: &[&str]) -> Result<String> {
    let out = git(dir, args)?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Worktree {
    /// A detached worktree of `tree` at `base`, at this tree's fixed path in
    /// the cache (a stale one from an interrupted run is removed first).
    pub fn create(cache: &Cache, tree: &Path, base: &str) -> Result<Worktree> {
        let tree = tree
            .canonicalize()
            .with_context(|| format!("--kernel-src {}: no such directory", tree.display()))?;
        git_ok(&tree, &["rev-parse", "--git-dir"])
            .with_context(|| format!("--kernel-src {} is not a git tree", tree.display()))?;
        let base_commit = git_ok(
            &tree,
            &["rev-parse", "--verify", &format!("{base}^{{commit}}")],
        )
        .with_context(|| format!("--base {base}: not a commit in {}", tree.display()))?;
        let id = crate::host::cache::hash_parts([("tree", tree.to_string_lossy().as_bytes())]);
        let path = cache.root().join("series").join(&id[..16]).join("linux");
        let lock = cache.lock(&format!("series-{}", &id[..16]))?;
        if path.exists() {
            let _ = git(
                &tree,
                &["worktree", "remove", "--force", path.to_str().unwrap_or("")],
            );
            let _ = std::fs::remove_dir_all(&path);
        }
        let _ = git(&tree, &["worktree", "prune"]);
        std::fs::create_dir_all(path.parent().expect("has parent"))?;
        git_ok(
            &tree,
            &[
                "worktree",
                "add",
                "--detach",
                path.to_str().context("non-UTF-8 cache path")?,
                &base_commit,
            ],
        )?;
        Ok(Worktree {
            tree,
            path,
            _lock: lock,
        })
    }

    pub fn head(&self) -> Result<String> {
        git_ok(&self.path, &["rev-parse", "HEAD"])
    }

    pub fn checkout(&self, commit: &str) -> Result<()> {
        git_ok(&self.path, &["checkout", "--quiet", "--detach", commit]).map(|_| ())
    }

    /// Applies one patch as a commit; on failure the worktree is left as it
    /// was before the patch (`git am --abort`).
    pub fn apply(
        &self,
        p: &Patch,
        total: usize,
    ) -> Result<std::result::Result<String, ApplyFailure>> {
        let file = p.file.canonicalize().unwrap_or_else(|_| p.file.clone());
        let file = file.to_str().context("non-UTF-8 patch path")?;
        // Deterministic commits (the committer is fixed, its date is the
        // author's): the same series on the same base gives the same
        // commits, so a rerun finds its kernels in the cache.
        let out = if p.mail {
            git(
                &self.path,
                &["am", "--quiet", "--committer-date-is-author-date", file],
            )?
        } else {
            let strip = format!("-p{}", p.strip);
            let out = git(&self.path, &["apply", "--index", &strip, file])?;
            if out.status.success() {
                let date = git_ok(&self.path, &["log", "-1", "--format=%cI"])?;
                Command::new("git")
                    .arg("-C")
                    .arg(&self.path)
                    .args([
                        "-c",
                        "user.name=lto-harness",
                        "-c",
                        "user.email=lto-harness@localhost",
                    ])
                    .args(["commit", "--quiet", "--date", &date, "-m", &p.subject])
                    .env("GIT_COMMITTER_DATE", &date)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .context("running git commit")?
            } else {
                out
            }
        };
        if out.status.success() {
            return Ok(Ok(self.head()?));
        }
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if p.mail {
            let _ = git(&self.path, &["am", "--abort"]);
        } else {
            let _ = git(&self.path, &["reset", "--hard", "--quiet"]);
        }
        Ok(Err(ApplyFailure {
            index: p.index,
            total,
            subject: p.subject.clone(),
            files: failing_files(&output),
            output: output.trim().to_owned(),
        }))
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if let Some(p) = self.path.to_str() {
            let _ = git(&self.tree, &["worktree", "remove", "--force", p]);
        }
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = git(&self.tree, &["worktree", "prune"]);
    }
}

/// One point of the series that was built and checked.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// 0: the base; i: after patch i.
    pub after: usize,
    pub commit: String,
    pub results_dir: PathBuf,
    /// Per case: its status and the checks (or steps) that did not pass.
    pub cases: Vec<CaseAtPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseAtPoint {
    pub case: String,
    pub status: Status,
    /// `build`, `boot`, `check:<name>` that failed or were incomplete.
    pub failing: Vec<String>,
}

impl CaseAtPoint {
    pub fn from_results(r: &RunResults) -> Vec<CaseAtPoint> {
        r.cases
            .iter()
            .map(|c| {
                let failing = c
                    .tests()
                    .iter()
                    .filter(|t| matches!(t.status, Status::Fail | Status::Incomplete))
                    .map(|t| t.id())
                    .collect();
                CaseAtPoint {
                    case: c.name.clone(),
                    status: c.status,
                    failing,
                }
            })
            .collect()
    }
}

/// What happened to one case (or check) along the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub case: String,
    /// `build`, `boot`, `check:<name>`, or `case` for the whole case.
    pub what: String,
    /// `broken` (passed before the patch, fails after) or `fixed`.
    pub change: String,
    pub patch: usize,
    pub subject: String,
}

/// Every pass→fail and fail→pass between consecutive points, per case and
/// per failing step/check.
pub fn changes(points: &[Point], patches: &[Patch]) -> Vec<Change> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let (before, after) = (&w[0], &w[1]);
        let subject = patches
            .iter()
            .find(|p| p.index == after.after)
            .map_or_else(String::new, |p| p.subject.clone());
        for a in &after.cases {
            let Some(b) = before.cases.iter().find(|b| b.case == a.case) else {
                continue;
            };
            let mut push = |what: &str, change: &str| {
                out.push(Change {
                    case: a.case.clone(),
                    what: what.to_owned(),
                    change: change.to_owned(),
                    patch: after.after,
                    subject: subject.clone(),
                })
            };
            for f in &a.failing {
                if !b.failing.contains(f) {
                    push(f, "broken");
                }
            }
            for f in &b.failing {
                if !a.failing.contains(f) {
                    push(f, "fixed");
                }
            }
        }
    }
    out
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
        let mut out = Vec::new();
        if let Some(f) = &self.not_applied {
            out.push(format!("series: {f}"));
            for l in f.output.lines().take(12) {
                out.push(format!("  {l}"));
            }
            return out;
        }
        let Some(tip) = self.points.last() else {
            return out;
        };
        for c in &tip.cases {
            let mine: Vec<&Change> = self.changes.iter().filter(|x| x.case == c.case).collect();
            out.push(format!(
                "{}: {} at the tip{}",
                c.case,
                c.status,
                if c.failing.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.failing.join(", "))
                }
            ));
            for x in mine {
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
                let trail: Vec<String> = self
                    .points
                    .iter()
                    .map(|p| {
                        let s = p
                            .cases
                            .iter()
                            .find(|x| x.case == c.case)
                            .map_or("-".to_string(), |x| x.status.to_string());
                        if p.after == 0 {
                            format!("base {s}")
                        } else {
                            format!("{} {s}", p.after)
                        }
                    })
                    .collect();
                out.push(format!("  by patch: {}", trail.join(", ")));
            }
        }
        out
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

/// What to validate.
pub struct SeriesRequest<'a> {
    pub tree: &'a Path,
    pub base: &'a str,
    pub series: &'a Path,
    /// Build and check at the base and after every patch, not only the tip.
    pub each: bool,
}

/// Applies the series in the harness's worktree, then runs the cases at
/// the tip (or at every point with `each`). Results of each point go under
/// `opts.results_dir/<point>/`; the worktree is removed at the end.
pub fn validate(
    cases: &[&crate::case::Case],
    cache: &Cache,
    toolchain: &crate::host::toolchain::Toolchain,
    opts: &crate::run::RunOptions,
    req: &SeriesRequest,
    reporter: &dyn crate::events::Reporter,
) -> Result<SeriesResults> {
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
    // The whole series must apply before anything is built.
    let mut commits = vec![(0, base_commit)];
    for p in &patches {
        match wt.apply(p, patches.len())? {
            Ok(commit) => commits.push((p.index, commit)),
            Err(failure) => {
                results.not_applied = Some(failure);
                return Ok(results);
            }
        }
    }
    let points: Vec<(usize, String)> = if req.each {
        commits
    } else {
        commits.last().cloned().into_iter().collect()
    };
    let mut prepared = None;
    for (after, commit) in points {
        wt.checkout(&commit)?;
        let env = crate::run::Environment {
            cache: cache.clone(),
            source: Some(crate::stages::source::KernelSource::from_dir(&wt.path)?),
            toolchain: toolchain.clone(),
        };
        let label = if after == 0 {
            "base".to_string()
        } else {
            format!("patch-{after:03}")
        };
        let title = patches.iter().find(|p| p.index == after).map_or_else(
            || format!("{} ({})", req.base, &commit[..12]),
            |p| p.subject.clone(),
        );
        reporter.report(&crate::events::Event::SeriesPoint {
            label: &label,
            title: &title,
        });
        let point_opts = crate::run::RunOptions {
            results_dir: opts.results_dir.join(&label),
            ..opts.clone()
        };
        if prepared.is_none() {
            prepared = Some(crate::run::preflight(cases, &env, &point_opts)?);
        }
        let r = crate::run::run(
            cases,
            &env,
            &point_opts,
            prepared.as_ref().expect("set above"),
            reporter,
        );
        // The result writer among the reporters writes the point's files.
        reporter.report(&crate::events::Event::RunFinished {
            results: &r,
            dir: &point_opts.results_dir,
        });
        results.points.push(Point {
            after,
            commit,
            results_dir: point_opts.results_dir.clone(),
            cases: CaseAtPoint::from_results(&r),
        });
    }
    results.changes = changes(&results.points, &patches);
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\n\
From: A Dev <a@example.org>\n\
Date: Tue, 1 Jan 2026 00:00:00 +0000\n\
Subject: [PATCH 1/2] init: move\n the thing\n\
\n\
Body.\n---\n a.c | 2 +-\n\n\
diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-x\n+y\n-- \n2.47.3\n\n";

    #[test]
    fn mbox_splits_skips_the_cover_letter_and_unfolds_subjects() {
        let cover = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
From: A Dev <a@example.org>\nSubject: [PATCH 0/2] a series\n\nCover.\n\n";
        let second = MAIL
            .replace("[PATCH 1/2] init: move\n the thing", "[PATCH 2/2] second")
            .replace("1111111111", "2222222222");
        let mbox = format!("{cover}{MAIL}{second}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.mbox");
        std::fs::write(&f, mbox).unwrap();
        let p = load(&f, &dir.path().join("split")).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].subject, "[PATCH 1/2] init: move the thing");
        assert_eq!(p[1].subject, "[PATCH 2/2] second");
        assert!(p.iter().all(|x| x.mail));
        assert!(std::fs::read_to_string(&p[1].file)
            .unwrap()
            .contains("Subject: [PATCH 2/2] second"));
    }

    #[test]
    fn quilt_series_and_patch_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.patch"), MAIL).unwrap();
        std::fs::write(
            dir.path().join("a.diff"),
            "--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-x\n+y\n",
        )
        .unwrap();
        let p = load(dir.path(), &dir.path().join("s")).unwrap();
        assert_eq!(p.iter().map(|x| x.index).collect::<Vec<_>>(), vec![1, 2]);
        assert!(!p[0].mail && p[1].mail, "sorted by name: a.diff, b.patch");
        std::fs::write(dir.path().join("series"), "# quilt\nb.patch\na.diff -p0\n").unwrap();
        let p = load(dir.path(), &dir.path().join("s")).unwrap();
        assert_eq!(p[0].subject, "[PATCH 1/2] init: move the thing");
        assert_eq!((p[1].subject.as_str(), p[1].strip), ("a.diff", 0));
        std::fs::write(dir.path().join("series"), "b.patch\nmissing.patch\n").unwrap();
        let e = load(dir.path(), &dir.path().join("s"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("series:2: no such patch file"), "{e}");
        std::fs::write(dir.path().join("series"), "b.patch -x\n").unwrap();
        let e = load(dir.path(), &dir.path().join("s"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("series:1: expected `PATCH [-pN]`"), "{e}");
    }

    fn sh(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn worktree_applies_deterministically_reports_failures_and_cleans_up() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.c"), "int a;\nint b;\n").unwrap();
        sh(&repo, &["add", "a.c"]);
        sh(&repo, &["commit", "-q", "-m", "base"]);
        // A mail patch from format-patch, and a plain diff.
        sh(&repo, &["checkout", "-q", "-b", "topic"]);
        std::fs::write(repo.join("a.c"), "int a;\nint c;\n").unwrap();
        sh(&repo, &["commit", "-q", "-am", "a: b becomes c"]);
        let mail = tmp.path().join("0001.patch");
        std::fs::write(&mail, sh(&repo, &["format-patch", "-1", "--stdout"]) + "\n").unwrap();
        sh(&repo, &["checkout", "-q", "main"]);
        let plain = tmp.path().join("x.diff");
        std::fs::write(
            &plain,
            "--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n-int a;\n+int x;\n int c;\n",
        )
        .unwrap();
        let patches = [
            patch_from_file(1, mail.clone(), 1).unwrap(),
            patch_from_file(2, plain.clone(), 1).unwrap(),
        ];
        assert!(patches[0].mail && !patches[1].mail);
        let cache = Cache::open(Some(&tmp.path().join("cache"))).unwrap();
        let run = || {
            let wt = Worktree::create(&cache, &repo, "main").unwrap();
            let commits: Vec<String> = patches
                .iter()
                .map(|p| wt.apply(p, 2).unwrap().expect("applies"))
                .collect();
            assert_eq!(
                std::fs::read_to_string(wt.path.join("a.c")).unwrap(),
                "int x;\nint c;\n"
            );
            let path = wt.path.clone();
            drop(wt);
            assert!(!path.exists(), "worktree removed");
            commits
        };
        // The same series twice: the same commits (so cached kernels are found).
        assert_eq!(run(), run());
        assert_eq!(sh(&repo, &["worktree", "list"]).lines().count(), 1);
        assert_eq!(sh(&repo, &["status", "--porcelain"]), "");
        // A patch that does not apply: named, with its file, and rolled back.
        let wt = Worktree::create(&cache, &repo, "main").unwrap();
        let head = wt.head().unwrap();
        wt.apply(&patches[0], 2).unwrap().unwrap();
        let f = wt.apply(&patches[0], 2).unwrap().unwrap_err();
        assert_eq!((f.index, f.total), (1, 2));
        assert_eq!(f.files, vec!["a.c"]);
        assert!(
            f.to_string()
                .contains("patch 1/2 \"[PATCH] a: b becomes c\" does not apply (failed: a.c)"),
            "{f}"
        );
        assert_ne!(wt.head().unwrap(), head);
        assert_eq!(
            sh(&wt.path, &["status", "--porcelain"]),
            "",
            "no half-applied patch"
        );
    }

    #[test]
    fn git_error_lines_name_the_files() {
        let out = "Applying: x\nerror: patch failed: arch/x86/kernel/setup.c:1234\n\
error: arch/x86/kernel/setup.c: patch does not apply\nerror: lib/nope.c: does not exist in index\n\
Patch failed at 0002 x\n";
        assert_eq!(
            failing_files(out),
            vec!["arch/x86/kernel/setup.c", "lib/nope.c"]
        );
    }

    fn point(after: usize, failing: &[&str]) -> Point {
        Point {
            after,
            commit: format!("c{after}"),
            results_dir: PathBuf::new(),
            cases: vec![CaseAtPoint {
                case: "k".into(),
                status: if failing.is_empty() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                failing: failing.iter().map(|s| s.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn changes_name_the_breaking_and_the_fixing_patch() {
        let patches: Vec<Patch> = (1..=3)
            .map(|i| Patch {
                index: i,
                subject: format!("p{i}"),
                file: PathBuf::new(),
                mail: true,
                strip: 1,
            })
            .collect();
        let pts = vec![
            point(0, &[]),
            point(1, &[]),
            point(2, &["check:initcalls.static"]),
            point(3, &[]),
        ];
        let c = changes(&pts, &patches);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].patch, c[0].change.as_str()), (2, "broken"));
        assert_eq!(c[0].what, "check:initcalls.static");
        assert_eq!(
            (c[1].patch, c[1].change.as_str(), c[1].subject.as_str()),
            (3, "fixed", "p3")
        );
    }
}
