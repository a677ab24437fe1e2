//! Performance vocabulary shared by `run`, `bench`, the history and the
//! dashboard: how a figure was obtained, which way is better, and a
//! figure that got worse.

use serde::{Deserialize, Serialize};

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Guest instructions under -icount (deterministic).
    Icount,
    /// Host-ish time from plain TCG (noisy).
    Wall,
    /// Exact from the artefacts (sizes).
    Exact,
    /// One build of each kernel: no interval.
    BuildOnce,
}

/// Which direction is good for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// A metric that got worse beyond its noise band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub case: String,
    pub metric: String,
    pub previous: f64,
    pub current: f64,
    pub delta_pct: f64,
    pub band_pct: f64,
    pub previous_date: String,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} -> {} ({:+.2}%, noise band ±{:.2}%, previous {})",
            self.case,
            self.metric,
            self.previous,
            self.current,
            self.delta_pct,
            self.band_pct,
            self.previous_date
        )
    }
}
