//! The patches of a series: read from an mbox (as `b4 am` or a mail client
//! saves it), a directory of `git format-patch` files, or a quilt `series`
//! file, into [`Patch`]es in order; and, when one does not apply, the
//! [`ApplyFailure`] that names it and the files git named.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

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

/// What a `--series` path holds.
#[derive(Debug, PartialEq, Eq)]
enum Form {
    /// A directory of `*.patch` / `*.diff` files, applied in name order.
    PatchDir,
    /// A quilt `series` file (this one).
    Quilt(PathBuf),
    /// An mbox, with its text.
    Mbox(String),
}

impl Form {
    fn of(path: &Path) -> Result<Form> {
        if path.is_dir() {
            let series = path.join("series");
            return Ok(if series.is_file() {
                Form::Quilt(series)
            } else {
                Form::PatchDir
            });
        }
        let text = crate::host::input::read_bounded(path, SERIES_MAX_BYTES, "a series file")
            .with_context(|| format!("--series {}: cannot read", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        Ok(if looks_like_mail(&text) || text.starts_with("From ") {
            Form::Mbox(text.into_owned())
        } else {
            Form::Quilt(path.to_owned())
        })
    }
}

/// The largest series file, mbox or patch read: 256 MiB.
pub const SERIES_MAX_BYTES: u64 = 256 << 20;

/// Reads a series: a directory of `*.patch` files (or one with a quilt
/// `series` file), a quilt `series` file, or an mbox. Mbox messages are
/// split into `scratch`; cover letters (no diff) are skipped.
pub fn load(path: &Path, scratch: &Path) -> Result<Vec<Patch>> {
    let patches = match Form::of(path)? {
        Form::PatchDir => load_dir(path)?,
        Form::Quilt(series) => load_quilt(&series)?,
        Form::Mbox(text) => split_mbox(&text, scratch)
            .with_context(|| format!("--series {}: not a usable mbox", path.display()))?,
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
    let text = crate::host::input::read_bounded(series, SERIES_MAX_BYTES, "a series file")
        .with_context(|| format!("--series {}: cannot read", series.display()))?;
    let text = String::from_utf8_lossy(&text);
    let dir = series.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}:{}", series.display(), n + 1);
        let mut words = line.split_whitespace();
        let name = words.next().expect("non-empty line");
        let strip = match words.next() {
            None => 1,
            Some(w) => w
                .strip_prefix("-p")
                .and_then(|d| d.parse().ok())
                .with_context(|| format!("{}: expected `PATCH [-pN]`, found `{line}`", at()))?,
        };
        let file = dir.join(name);
        if !file.is_file() {
            bail!("{}: no such patch file {}", at(), file.display());
        }
        out.push(patch_from_file(out.len() + 1, file, strip)?);
    }
    Ok(out)
}

/// The patch in `file` as patch `index` of a series: a mail (applied with
/// `git am`, its subject from the header) or a plain diff (`git apply -pN`,
/// named after the file).
pub fn patch_from_file(index: usize, file: PathBuf, strip: u32) -> Result<Patch> {
    let text = crate::host::input::read_bounded(&file, SERIES_MAX_BYTES, "a patch")
        .with_context(|| format!("cannot read {}", file.display()))?;
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

impl ApplyFailure {
    /// Patch `p` of `total` did not apply; `output` is what git said.
    pub fn new(p: &Patch, total: usize, output: &str) -> ApplyFailure {
        ApplyFailure {
            index: p.index,
            total,
            subject: p.subject.clone(),
            files: failing_files(output),
            output: output.trim().to_owned(),
        }
    }
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
/// not exist in index` / `error: FILE: patch does not apply` lines. Only
/// for the report: whether a patch applied is git's exit status.
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
    fn the_form_of_a_series_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Form::of(dir.path()).unwrap(), Form::PatchDir);
        let series = dir.path().join("series");
        std::fs::write(&series, "a.patch\n").unwrap();
        assert_eq!(Form::of(dir.path()).unwrap(), Form::Quilt(series.clone()));
        assert_eq!(Form::of(&series).unwrap(), Form::Quilt(series));
        let mbox = dir.path().join("s.mbox");
        std::fs::write(&mbox, MAIL).unwrap();
        assert_eq!(Form::of(&mbox).unwrap(), Form::Mbox(MAIL.to_owned()));
        assert!(Form::of(&dir.path().join("missing")).is_err());
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
}
