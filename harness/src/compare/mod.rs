//! Compare: classify every step and check of two runs (results.json), the
//! way a nightly job needs to read them: what regressed, what got fixed,
//! what is new or missing, what keeps failing, and what is unstable (failed,
//! then passed when the same kernel was booted again). [`gate`] fails on
//! regressions, so known failures can persist without blocking, and is
//! never green when the new run lost or could not judge what the baseline
//! had.

pub mod gate;

use crate::model::results::RunResults;
use crate::model::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How one step or check moved between the baseline and the new run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Passed before, fails now (after its retries).
    Regression,
    /// Failed at first and passed on a retry of the same kernel.
    Unstable,
    /// Fails in both runs.
    PersistentFailure,
    /// Failed before, passes now.
    Fixed,
    /// Only in the new run.
    New,
    /// Only in the baseline.
    Missing,
    /// The new run could not say (incomplete, or skipped where the
    /// baseline had a verdict).
    Incomplete,
    /// Skipped in both runs (a check that does not apply).
    Skipped,
    /// Passes in both.
    Pass,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Regression => "regression",
            Class::Unstable => "unstable",
            Class::PersistentFailure => "persistent failure",
            Class::Fixed => "fixed",
            Class::New => "new",
            Class::Missing => "missing",
            Class::Incomplete => "incomplete",
            Class::Skipped => "skipped",
            Class::Pass => "pass",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One step or check of one case, as a run recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub attempts: Vec<Status>,
    pub message: String,
}

impl Outcome {
    fn unstable(&self) -> bool {
        crate::model::status::passed_on_retry(self.status, &self.attempts)
    }
}

/// `(case, item)` → outcome, where item is `build`, `boot` or `check:<name>`.
pub fn outcomes(r: &RunResults) -> BTreeMap<(String, String), Outcome> {
    r.cases
        .iter()
        .flat_map(|c| {
            c.tests().into_iter().map(|t| {
                let outcome = Outcome {
                    status: t.status,
                    attempts: t.attempts.to_vec(),
                    message: t.message.to_owned(),
                };
                ((c.name.clone(), t.id()), outcome)
            })
        })
        .collect()
}

/// One classified item.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub case: String,
    pub item: String,
    pub class: Class,
    pub old: Option<Status>,
    pub new: Option<Status>,
    /// The new run's attempts, when it retried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Status>,
    pub message: String,
}

pub fn classify(old: Option<&Outcome>, new: Option<&Outcome>) -> Class {
    let failed = |s: Status| s == Status::Fail;
    match (old, new) {
        (None, None) => Class::Missing,
        (Some(_), None) => Class::Missing,
        (None, Some(n)) if n.unstable() => Class::Unstable,
        (None, Some(_)) => Class::New,
        (Some(_), Some(n)) if n.unstable() => Class::Unstable,
        (Some(o), Some(n)) if n.status == Status::Skipped && o.status == Status::Skipped => {
            Class::Skipped
        }
        (Some(_), Some(n)) if matches!(n.status, Status::Incomplete | Status::Skipped) => {
            Class::Incomplete
        }
        (Some(o), Some(n)) => match (failed(o.status), failed(n.status)) {
            (false, false) => Class::Pass,
            (false, true) if o.status == Status::Pass => Class::Regression,
            // Incomplete or skipped before: nothing was known to pass.
            (false, true) => Class::New,
            (true, true) => Class::PersistentFailure,
            (true, false) => Class::Fixed,
        },
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunComparison {
    pub entries: Vec<Entry>,
    pub counts: BTreeMap<String, usize>,
}

impl RunComparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.class == Class::Regression)
    }

    /// Lines for humans: every item that is not a plain pass (or a skip in
    /// both runs), grouped by
    /// class, most urgent first, then the counts.
    pub fn report(&self) -> Vec<String> {
        let mut entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !matches!(e.class, Class::Pass | Class::Skipped))
            .collect();
        entries.sort_by(|a, b| (a.class, &a.case, &a.item).cmp(&(b.class, &b.case, &b.item)));
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| {
                let st = |s: Option<Status>| s.map_or("-".to_string(), |s| s.to_string());
                let attempts = if e.attempts.is_empty() {
                    String::new()
                } else {
                    let a: Vec<&str> = e.attempts.iter().map(|s| s.name()).collect();
                    format!(" (attempts: {})", a.join(" → "))
                };
                format!(
                    "{:<18} {} {}: {} → {}{attempts}: {}",
                    e.class.name(),
                    e.case,
                    e.item,
                    st(e.old),
                    st(e.new),
                    e.message.lines().next().unwrap_or("")
                )
            })
            .collect();
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        out.push(counts.join(", "));
        out
    }
}

pub fn compare(old: &RunResults, new: &RunResults) -> RunComparison {
    let (o, n) = (outcomes(old), outcomes(new));
    let mut keys: Vec<&(String, String)> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut entries = Vec::new();
    let mut counts = BTreeMap::new();
    for k in keys {
        let (old, new) = (o.get(k), n.get(k));
        let class = classify(old, new);
        *counts.entry(class.name().to_string()).or_insert(0) += 1;
        entries.push(Entry {
            case: k.0.clone(),
            item: k.1.clone(),
            class,
            old: old.map(|x| x.status),
            new: new.map(|x| x.status),
            attempts: new.map(|x| x.attempts.clone()).unwrap_or_default(),
            message: new.or(old).map(|x| x.message.clone()).unwrap_or_default(),
        });
    }
    RunComparison { entries, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(status: Status, attempts: &[Status]) -> Outcome {
        Outcome {
            status,
            attempts: attempts.to_vec(),
            message: String::new(),
        }
    }

    #[test]
    fn every_class() {
        use Status::*;
        let c = |a: Option<Outcome>, b: Option<Outcome>| classify(a.as_ref(), b.as_ref());
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Fail, &[Fail, Fail]))),
            Class::Regression
        );
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Pass, &[Fail, Pass]))),
            Class::Unstable
        );
        assert_eq!(
            c(Some(o(Fail, &[])), Some(o(Pass, &[Incomplete, Pass]))),
            Class::Unstable
        );
        assert_eq!(
            c(Some(o(Fail, &[])), Some(o(Fail, &[]))),
            Class::PersistentFailure
        );
        assert_eq!(c(Some(o(Fail, &[])), Some(o(Pass, &[]))), Class::Fixed);
        assert_eq!(c(None, Some(o(Fail, &[]))), Class::New);
        assert_eq!(c(Some(o(Pass, &[])), None), Class::Missing);
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Incomplete, &[]))),
            Class::Incomplete
        );
        assert_eq!(c(Some(o(Incomplete, &[])), Some(o(Fail, &[]))), Class::New);
        assert_eq!(
            c(Some(o(Pass, &[])), Some(o(Skipped, &[]))),
            Class::Incomplete
        );
        assert_eq!(
            c(Some(o(Skipped, &[])), Some(o(Skipped, &[]))),
            Class::Skipped
        );
        assert_eq!(c(Some(o(Pass, &[])), Some(o(Pass, &[]))), Class::Pass);
    }
}
