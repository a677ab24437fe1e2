//! Mutation testing's vocabulary: what one mutant (a small patch that
//! breaks one LTO mechanism) did to one case, as a [`Verdict`], and
//! whether the case was one the mutant must be caught on or a control
//! ([`Role`]). `mutate` decides them; the events and the report show them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a mutant did to one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A check (or the build or the boot) failed on the mutant, among
    /// them one the mutant file expects (or it expects none in particular).
    Killed,
    /// Something failed on the mutant, but none of the checks the mutant
    /// file names: caught, though not where expected.
    KilledElsewhere,
    /// Every check passed on the mutant: the checks cannot see this break.
    Survived,
    /// A control case passed with the mutant applied, as it must.
    ControlOk,
    /// A control case failed with the mutant applied: the mutant is not
    /// specific to what it claims to break.
    ControlFailed,
    /// Nothing can be said: a build, boot or check was incomplete (the
    /// harness or the machine failed), on the mutant or at the base.
    Incomplete,
    /// The unmutated kernel already fails this case: nothing can be said.
    BaseFailed,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Killed => "killed",
            Verdict::KilledElsewhere => "killed_elsewhere",
            Verdict::Survived => "survived",
            Verdict::ControlOk => "control_ok",
            Verdict::ControlFailed => "control_failed",
            Verdict::Incomplete => "incomplete",
            Verdict::BaseFailed => "base_failed",
        }
    }

    /// A verdict that fails the run: a mutant that survived, a control
    /// that failed, a base that failed.
    pub fn fails_the_run(self) -> bool {
        matches!(
            self,
            Verdict::Survived | Verdict::ControlFailed | Verdict::BaseFailed
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a case is run with a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The mutant must be caught here: some check must fail.
    Case,
    /// The mutant must not matter here: every check must still pass.
    Control,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Case => "case",
            Role::Control => "control",
        })
    }
}
