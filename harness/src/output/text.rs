//! Little text helpers the output formats share (libtest's JSON lines and
//! `summary.md` both name a retried test's attempts the same way).

use crate::model::Status;

/// A retried test's attempts, first to last: `fail, pass`.
pub(super) fn attempts_text(attempts: &[Status]) -> String {
    attempts
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}
