//! Bisection's vocabulary: what a tested commit turned out to be, as a
//! [`Verdict`], and the commit a bisection found ([`Bisected`]). `bisect`
//! decides them; the events, `bisect.json` and the bot report show them.

use serde::{Deserialize, Serialize};

/// What a tested commit turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Before the break: what is bisected passes.
    Good,
    /// After the break: what is bisected fails.
    Bad,
    /// Cannot say (incomplete after its retries, or the target was not
    /// reached): neither good nor bad, as `git bisect skip`.
    Skip,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        })
    }
}

/// The first bad commit a bisection found, as the bot report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bisected {
    pub commit: String,
    pub subject: String,
    /// The good end(s) and the bad end the search started from.
    pub good: Vec<String>,
    pub bad: String,
    /// Builds the bisection made (retries counted).
    pub builds: usize,
    /// Where this commit's results are, relative to the report.
    pub results_dir: String,
}
