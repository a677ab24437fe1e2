//! What moved along a series: the [`Point`]s that were built and checked
//! (the base, and after each patch with `--each`), what each case did at
//! each, and the [`Change`]s between consecutive points: which patch broke
//! or fixed which step or check of which case.

use super::patches::Patch;
use crate::model::results::RunResults;
use crate::model::Status;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One point of the series that was built and checked.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// 0: the base; i: after patch i.
    pub after: usize,
    pub commit: String,
    pub results_dir: PathBuf,
    /// Per case: its status and the checks (or steps) that did not pass.
    pub cases: Vec<CaseAtPoint>,
}

impl Point {
    /// The point's name: `base`, or `patch-NNN` (its results directory).
    pub fn label(after: usize) -> String {
        if after == 0 {
            "base".to_string()
        } else {
            format!("patch-{after:03}")
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseAtPoint {
    pub case: String,
    pub status: Status,
    /// `build`, `boot`, `check:<name>` that failed or were incomplete.
    pub failing: Vec<String>,
}

impl CaseAtPoint {
    pub fn from_results(r: &RunResults) -> Vec<CaseAtPoint> {
        r.cases
            .iter()
            .map(|c| {
                let failing = c
                    .tests()
                    .iter()
                    .filter(|t| matches!(t.status, Status::Fail | Status::Incomplete))
                    .map(|t| t.id())
                    .collect();
                CaseAtPoint {
                    case: c.name.clone(),
                    status: c.status,
                    failing,
                }
            })
            .collect()
    }
}

/// Which way a step or check moved at a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Passed before the patch, fails (or is incomplete) after it.
    Broken,
    /// Failed (or was incomplete) before the patch, passes after it.
    Fixed,
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChangeKind::Broken => "broken",
            ChangeKind::Fixed => "fixed",
        })
    }
}

/// What happened to one step or check of a case at one patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub case: String,
    /// `build`, `boot` or `check:<name>`.
    pub what: String,
    pub change: ChangeKind,
    pub patch: usize,
    pub subject: String,
}

/// Every pass→fail and fail→pass between consecutive points, per case and
/// per failing step/check.
pub fn changes(points: &[Point], patches: &[Patch]) -> Vec<Change> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let (before, after) = (&w[0], &w[1]);
        let subject = patches
            .iter()
            .find(|p| p.index == after.after)
            .map_or_else(String::new, |p| p.subject.clone());
        for a in &after.cases {
            let Some(b) = before.cases.iter().find(|b| b.case == a.case) else {
                continue;
            };
            let mut push = |what: &String, change: ChangeKind| {
                out.push(Change {
                    case: a.case.clone(),
                    what: what.clone(),
                    change,
                    patch: after.after,
                    subject: subject.clone(),
                })
            };
            for f in a.failing.iter().filter(|f| !b.failing.contains(f)) {
                push(f, ChangeKind::Broken);
            }
            for f in b.failing.iter().filter(|f| !a.failing.contains(f)) {
                push(f, ChangeKind::Fixed);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(after: usize, failing: &[&str]) -> Point {
        Point {
            after,
            commit: format!("c{after}"),
            results_dir: PathBuf::new(),
            cases: vec![CaseAtPoint {
                case: "k".into(),
                status: if failing.is_empty() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                failing: failing.iter().map(|s| s.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn changes_name_the_breaking_and_the_fixing_patch() {
        let patches: Vec<Patch> = (1..=3)
            .map(|i| Patch {
                index: i,
                subject: format!("p{i}"),
                file: PathBuf::new(),
                mail: true,
                strip: 1,
            })
            .collect();
        let pts = vec![
            point(0, &[]),
            point(1, &[]),
            point(2, &["check:initcalls.static"]),
            point(3, &[]),
        ];
        let c = changes(&pts, &patches);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].patch, c[0].change), (2, ChangeKind::Broken));
        assert_eq!(c[0].what, "check:initcalls.static");
        assert_eq!(
            (c[1].patch, c[1].change, c[1].subject.as_str()),
            (3, ChangeKind::Fixed, "p3")
        );
    }

    #[test]
    fn change_kinds_read_as_before() {
        let words = [ChangeKind::Broken, ChangeKind::Fixed].map(|k| {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            json
        });
        assert_eq!(words, ["\"broken\"", "\"fixed\""]);
    }

    #[test]
    fn points_are_labelled_base_then_by_patch() {
        assert_eq!(Point::label(0), "base");
        assert_eq!(Point::label(7), "patch-007");
        assert_eq!(Point::label(123), "patch-123");
    }
}
