//! Statuses and faults: how every step and check ends, and whose fault a
//! stage's failure is. Control flow decides fail versus incomplete from a
//! [`Fault`], never from an error's text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a step or check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Skipped,
    Incomplete,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::Incomplete => "incomplete",
            Status::Fail => "fail",
        }
    }

    /// The overall status of several: fail beats incomplete beats pass;
    /// skipped counts only when nothing else is there.
    pub fn worst(all: impl IntoIterator<Item = Status>) -> Status {
        all.into_iter()
            .filter(|s| *s != Status::Skipped)
            .max()
            .unwrap_or(Status::Skipped)
    }

    /// Failed or incomplete: not a pass and not a skip.
    pub fn is_bad(self) -> bool {
        matches!(self, Status::Fail | Status::Incomplete)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Unstable: it passes now, after attempts that failed or were incomplete.
pub fn passed_on_retry(status: Status, attempts: &[Status]) -> bool {
    status == Status::Pass && attempts.iter().any(|s| s.is_bad())
}

/// Whose fault a stage's failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The kernel (its source, config or build) did something wrong: `fail`.
    Kernel,
    /// The harness or the machine failed (a missing tool, an I/O error, a
    /// timeout): `incomplete`; nothing can be said about the kernel.
    Harness,
}

impl Fault {
    /// The status a failure of this kind gives its step.
    pub fn status(self) -> Status {
        match self {
            Fault::Kernel => Status::Fail,
            Fault::Harness => Status::Incomplete,
        }
    }
}
