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

/// The first `n` characters of a hash (all of it when shorter).
fn short(s: &str, n: usize) -> &str {
    s.get(..n).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

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
