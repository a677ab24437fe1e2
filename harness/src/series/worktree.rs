//! The harness's own git worktree of the user's kernel tree: detached at
//! the base, at a fixed path per tree under the cache, locked while in use,
//! the patches applied in it as deterministic commits. It is kept between
//! runs, so that the make in its `O=` dirs stays incremental: git rewrites
//! only the files that differ between two commits, and make rebuilds what
//! depends on them (a new worktree has every file new, and every kernel is
//! built whole once more). The user's checkout is never touched.

use super::patches::{ApplyFailure, Patch};
use crate::host::cache::Cache;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The harness's worktree of a kernel tree, locked while this value lives.
pub struct Worktree {
    pub path: PathBuf,
    /// Held while the worktree is in use: a second run on the same tree waits.
    _lock: crate::host::cache::Lock,
}

/// Runs git in `dir` as the harness's fixed identity, with `env` set.
fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
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
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .context("running git: install the Debian package `git`")
}

fn git(dir: &Path, args: &[&str]) -> Result<Output> {
    git_env(dir, args, &[])
}

/// Runs git; its trimmed stdout, or an error with its stderr.
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

/// Removes the worktree at `path` (if git still knows it) and its files.
fn remove(tree: &Path, path: &Path) {
    if let Some(p) = path.to_str() {
        let _ = git(tree, &["worktree", "remove", "--force", p]);
    }
    let _ = std::fs::remove_dir_all(path);
    let _ = git(tree, &["worktree", "prune"]);
}

/// The repository's common git directory, canonical.
fn common_dir(dir: &Path) -> Option<PathBuf> {
    let d = git_ok(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .ok()?;
    Path::new(&d).canonicalize().ok()
}

/// Brings the kept worktree at `path` back to `commit`, clean: an
/// interrupted `git am` aborted, every tracked file as the commit has it,
/// nothing untracked. `Err` when it is not a worktree of `tree` or git
/// cannot; the caller then makes a new one.
fn reset(tree: &Path, path: &Path, commit: &str) -> Result<()> {
    let ours = common_dir(tree).context("the tree's git directory")?;
    if common_dir(path).as_ref() != Some(&ours) {
        bail!("{} is not a worktree of {}", path.display(), tree.display());
    }
    let am = git_ok(
        path,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "rebase-apply",
        ],
    )?;
    if Path::new(&am).exists() {
        git_ok(path, &["am", "--abort"])?;
    }
    git_ok(
        path,
        &["checkout", "--quiet", "--force", "--detach", commit],
    )?;
    git_ok(path, &["clean", "--quiet", "-ffdx"])?;
    Ok(())
}

impl Worktree {
    /// The worktree of `tree` at this tree's fixed path in the cache,
    /// detached at `base`: the one kept from an earlier run, reset and
    /// cleaned, or a new one when there is none (or it cannot be reset).
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
        let kept = path.exists() && reset(&tree, &path, &base_commit).is_ok();
        if !kept {
            if path.exists() {
                remove(&tree, &path);
            } else {
                let _ = git(&tree, &["worktree", "prune"]);
            }
            std::fs::create_dir_all(path.parent().expect("has parent"))?;
            let dest = path.to_str().context("non-UTF-8 cache path")?;
            git_ok(&tree, &["worktree", "add", "--detach", dest, &base_commit])?;
        }
        Ok(Worktree { path, _lock: lock })
    }

    pub fn head(&self) -> Result<String> {
        git_ok(&self.path, &["rev-parse", "HEAD"])
    }

    /// Runs a read-only git command in the worktree (`rev-list`,
    /// `rev-parse`, `log`): its trimmed stdout, or an error with git's
    /// stderr.
    pub fn query(&self, args: &[&str]) -> Result<String> {
        git_ok(&self.path, args)
    }

    /// The full hash of a commit-ish, or an error naming what was asked.
    pub fn commit_of(&self, rev: &str) -> Result<String> {
        git_ok(
            &self.path,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .with_context(|| format!("`{rev}` is not a commit of the tree"))
    }

    /// A commit's subject line (empty when git cannot say).
    pub fn subject(&self, commit: &str) -> String {
        git_ok(&self.path, &["log", "-1", "--format=%s", commit]).unwrap_or_default()
    }

    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool> {
        let out = git(
            &self.path,
            &["merge-base", "--is-ancestor", ancestor, commit],
        )?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!(
                "git merge-base --is-ancestor {ancestor} {commit}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }

    pub fn checkout(&self, commit: &str) -> Result<()> {
        git_ok(&self.path, &["checkout", "--quiet", "--detach", commit]).map(|_| ())
    }

    /// Applies one patch as a commit; on failure the worktree is left as it
    /// was before the patch (`git am --abort`).
    pub fn apply(&self, p: &Patch, total: usize) -> Result<Result<String, ApplyFailure>> {
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
            self.apply_diff(p, file)?
        };
        if out.status.success() {
            return Ok(Ok(self.head()?));
        }
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = if p.mail {
            git(&self.path, &["am", "--abort"])
        } else {
            git(&self.path, &["reset", "--hard", "--quiet"])
        };
        Ok(Err(ApplyFailure::new(p, total, &output)))
    }

    /// `git apply` of a plain diff, committed under the patch's subject
    /// with the date of the commit before it.
    fn apply_diff(&self, p: &Patch, file: &str) -> Result<Output> {
        let strip = format!("-p{}", p.strip);
        let out = git(&self.path, &["apply", "--index", &strip, file])?;
        if !out.status.success() {
            return Ok(out);
        }
        let date = git_ok(&self.path, &["log", "-1", "--format=%cI"])?;
        git_env(
            &self.path,
            &["commit", "--quiet", "--date", &date, "-m", &p.subject],
            &[("GIT_COMMITTER_DATE", &date)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::patches::patch_from_file;
    use super::*;

    use crate::host::testgit::git as sh;

    fn mtime(p: &Path) -> std::time::SystemTime {
        std::fs::metadata(p).unwrap().modified().unwrap()
    }

    #[test]
    fn worktree_applies_deterministically_reports_failures_and_is_kept() {
        crate::skip_unless!(
            "worktree_applies_deterministically_reports_failures_and_is_kept",
            crate::host::needs::Need::Tool {
                tool: "git",
                package: "git"
            }
        );
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.c"), "int a;\nint b;\n").unwrap();
        std::fs::write(repo.join("untouched.c"), "int u;\n").unwrap();
        sh(&repo, &["add", "a.c", "untouched.c"]);
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
            assert_eq!(
                std::fs::read_to_string(wt.path.join("a.c")).unwrap(),
                "int a;\nint b;\n",
                "at the base"
            );
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
            assert!(path.is_dir(), "worktree kept for the next run");
            (commits, mtime(&path.join("untouched.c")), path)
        };
        // The same series twice: the same commits (so cached kernels are
        // found), in the same worktree, whose untouched files keep their
        // time (so make in its O= dirs rebuilds nothing for them).
        let (first, untouched, path) = run();
        let (second, untouched_again, path_again) = run();
        assert_eq!(first, second);
        assert_eq!(path, path_again);
        assert_eq!(untouched, untouched_again, "untouched.c was not rewritten");
        assert_eq!(sh(&repo, &["worktree", "list"]).lines().count(), 2);
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
    fn a_kept_worktree_is_reset_a_foreign_one_replaced_and_a_bad_base_named() {
        crate::skip_unless!(
            "a_kept_worktree_is_reset_a_foreign_one_replaced_and_a_bad_base_named",
            crate::host::needs::Need::Tool {
                tool: "git",
                package: "git"
            }
        );
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.c"), "int a;\n").unwrap();
        sh(&repo, &["add", "a.c"]);
        sh(&repo, &["commit", "-q", "-m", "base"]);
        let cache = Cache::open(Some(&tmp.path().join("cache"))).unwrap();
        let path = Worktree::create(&cache, &repo, "main")
            .unwrap()
            .path
            .clone();
        // An interrupted run: a file edited, an untracked one, and a `git
        // am` stopped halfway.
        std::fs::write(path.join("a.c"), "dirty\n").unwrap();
        std::fs::write(path.join("junk.o"), "").unwrap();
        let conflict = tmp.path().join("c.patch");
        std::fs::write(
            &conflict,
            "From: A <a@example.org>\nSubject: [PATCH] c\n\n---\n\
             diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-int z;\n+int y;\n",
        )
        .unwrap();
        assert!(!Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["am", conflict.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success());
        let wt = Worktree::create(&cache, &repo, "main").unwrap();
        assert_eq!(wt.path, path);
        assert_eq!(sh(&wt.path, &["status", "--porcelain"]), "");
        assert_eq!(
            std::fs::read_to_string(path.join("a.c")).unwrap(),
            "int a;\n"
        );
        assert!(!path.join("junk.o").exists());
        drop(wt);
        // Something else at its path (the worktree was deleted and the
        // path reused): replaced by a worktree of the tree.
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::create_dir_all(&path).unwrap();
        sh(&path, &["init", "-q", "-b", "other"]);
        let wt = Worktree::create(&cache, &repo, "main").unwrap();
        assert_eq!(
            std::fs::read_to_string(wt.path.join("a.c")).unwrap(),
            "int a;\n"
        );
        drop(wt);
        assert_eq!(sh(&repo, &["worktree", "list"]).lines().count(), 2);
        assert!(Worktree::create(&cache, &repo, "nope").is_err());
    }
}
