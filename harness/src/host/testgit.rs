//! Test support: `git` with a fixed identity, fixed dates and no user or
//! system config, so the repositories tests make are the same on every
//! machine (the same commit hashes) and never read the developer's config.

use std::path::Path;
use std::process::Command;

/// Runs `git -C dir args…` and returns its stdout, trimmed. Panics with
/// git's stderr when git fails: a test's setup step that fails is a bug in
/// the test.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap_or_else(|e| panic!("git {args:?} did not start: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
