//! What identifies a kernel source tree: a tarball by content, a git
//! checkout by commit (and its diff when dirty), a plain tree by a
//! fingerprint. It goes into every cache key and every result.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What identifies a kernel source tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceIdentity {
    /// A release tarball, by content.
    Tarball { path: PathBuf, sha256: String },
    /// A git checkout: HEAD, and whether (and how) the work tree differs.
    Git {
        path: PathBuf,
        commit: String,
        dirty: bool,
        /// SHA-256 of `git diff HEAD` plus untracked file names, when dirty.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff_sha256: Option<String>,
    },
    /// A plain directory: a fingerprint of every file's path, size and mtime.
    Tree { path: PathBuf, fingerprint: String },
}

impl SourceIdentity {
    /// A short stable string for cache keys.
    pub fn key(&self) -> String {
        match self {
            SourceIdentity::Tarball { sha256, .. } => format!("tarball:{sha256}"),
            SourceIdentity::Git {
                commit,
                diff_sha256,
                ..
            } => match diff_sha256 {
                Some(d) => format!("git:{commit}+dirty:{d}"),
                None => format!("git:{commit}"),
            },
            SourceIdentity::Tree { fingerprint, .. } => format!("tree:{fingerprint}"),
        }
    }

    /// What names the build's `O=` work directory. A git tree's is its
    /// path, not its commit, so that building the next commit (a patch
    /// series, a bisection) is an incremental make in the same directory;
    /// the cached artefacts are still keyed by [`key`](Self::key).
    pub fn work_key(&self) -> String {
        match self {
            SourceIdentity::Git { path, .. } => format!("git-tree:{}", path.display()),
            other => other.key(),
        }
    }

    /// For humans: `tarball sha256:abcd1234…`, `git 1234abcd (dirty)`.
    pub fn describe(&self) -> String {
        match self {
            SourceIdentity::Tarball { path, sha256 } => {
                format!("{} (sha256 {})", path.display(), short(sha256, 16))
            }
            SourceIdentity::Git {
                path,
                commit,
                dirty,
                ..
            } => format!(
                "git {} at {}{}",
                short(commit, 12),
                path.display(),
                if *dirty { " (dirty)" } else { "" }
            ),
            SourceIdentity::Tree { path, fingerprint } => {
                format!(
                    "tree {} (fingerprint {})",
                    path.display(),
                    short(fingerprint, 16)
                )
            }
        }
    }
}

/// Where a git tree's content came from: its root commit holds exactly
/// the files of another source (the default git tree is the Debian
/// tarball committed as it is), so a build of that commit, clean, is the
/// same build as one of the other source and shares its cache entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentOrigin {
    /// The commit whose tree is the other source's files.
    pub commit: String,
    /// The other source's [`SourceIdentity::key`].
    pub key: String,
}

/// The key a build of `identity` is cached under: the origin's key when
/// the checkout is the origin commit, clean; else the identity's own.
pub fn content_key(identity: &SourceIdentity, origin: Option<&ContentOrigin>) -> String {
    match (identity, origin) {
        (
            SourceIdentity::Git {
                commit,
                diff_sha256: None,
                ..
            },
            Some(o),
        ) if *commit == o.commit => o.key.clone(),
        _ => identity.key(),
    }
}

/// The first `n` characters of a hash (all of it when shorter).
fn short(s: &str, n: usize) -> &str {
    s.get(..n).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_commit_clean_shares_the_origin_key() {
        let origin = ContentOrigin {
            commit: "c".repeat(40),
            key: "tarball:abc".into(),
        };
        let at = |commit: &str, diff: Option<&str>| SourceIdentity::Git {
            path: "/t".into(),
            commit: commit.into(),
            dirty: diff.is_some(),
            diff_sha256: diff.map(str::to_owned),
        };
        let clean = at(&origin.commit, None);
        assert_eq!(content_key(&clean, Some(&origin)), "tarball:abc");
        assert_eq!(content_key(&clean, None), clean.key());
        let dirty = at(&origin.commit, Some("d"));
        assert_eq!(content_key(&dirty, Some(&origin)), dirty.key());
        let other = at(&"e".repeat(40), None);
        assert_eq!(content_key(&other, Some(&origin)), other.key());
    }

    #[test]
    fn describe_never_panics_on_short_hashes() {
        let t = SourceIdentity::Tree {
            path: "/t".into(),
            fingerprint: "ab".into(),
        };
        assert_eq!(t.describe(), "tree /t (fingerprint ab)");
        let g = SourceIdentity::Git {
            path: "/g".into(),
            commit: "0123456789abcdef".into(),
            dirty: true,
            diff_sha256: Some("d".into()),
        };
        assert_eq!(g.describe(), "git 0123456789ab at /g (dirty)");
        assert_eq!(g.key(), "git:0123456789abcdef+dirty:d");
    }
}
