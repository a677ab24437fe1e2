//! What a tested commit is, from its run: [`Target`] names what is
//! bisected (the cases' results, or one step or check of them), and
//! [`judge`] turns a run's results into good, bad or skip, with the reason
//! and whether a retry could change it.

use super::search::Verdict;
use crate::model::results::RunResults;
use crate::model::Status;
use serde::{Deserialize, Serialize};

/// What decides good and bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Each case's overall result: bad when any case fails.
    Cases,
    /// One step or check of each case: `build`, `boot`, or a check's name
    /// (`initcalls.static`, or `check:initcalls.static` as results name it).
    Test(String),
}

impl Target {
    /// `--what`: `build`, `boot`, a check name, or `check:<name>`; `None`
    /// bisects the cases' results.
    pub fn parse(what: Option<&str>) -> Target {
        match what.map(str::trim) {
            None | Some("") => Target::Cases,
            Some(w) => Target::Test(w.strip_prefix("check:").unwrap_or(w).to_owned()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Cases => f.write_str("the cases' results"),
            Target::Test(t) => write!(f, "`{t}`"),
        }
    }
}

/// A tested commit's verdict, why, and whether another attempt could
/// change it (an incomplete run could; a build failure that hides the
/// bisected check could not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub retry: bool,
}

/// The verdict on one commit from its run: bad when any case is bad, good
/// when every case is good, else skip.
pub fn judge(results: &RunResults, target: &Target) -> Judgement {
    let mut per_case = vec![];
    for c in &results.cases {
        let (status, what) = match target {
            Target::Cases => (c.status, "result".to_owned()),
            Target::Test(t) => match c.tests().iter().find(|x| x.name == t.as_str()) {
                Some(x) => (x.status, x.id()),
                None => (Status::Skipped, format!("check:{t}")),
            },
        };
        per_case.push((c.name.as_str(), status, what));
    }
    if per_case.is_empty() {
        return Judgement {
            verdict: Verdict::Skip,
            reason: "no case ran".into(),
            retry: true,
        };
    }
    let say = |want: Status| {
        per_case
            .iter()
            .filter(|(_, s, _)| *s == want)
            .map(|(c, s, w)| format!("{c} {w} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if per_case.iter().any(|(_, s, _)| *s == Status::Fail) {
        return Judgement {
            verdict: Verdict::Bad,
            reason: say(Status::Fail),
            retry: false,
        };
    }
    if per_case.iter().all(|(_, s, _)| *s == Status::Pass) {
        return Judgement {
            verdict: Verdict::Good,
            reason: say(Status::Pass),
            retry: false,
        };
    }
    let incomplete = per_case.iter().any(|(_, s, _)| *s == Status::Incomplete);
    let mut reason = [say(Status::Incomplete), say(Status::Skipped)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    // A test that was skipped because its step failed: say which.
    if let Target::Test(_) = target {
        let broken: Vec<String> = results
            .cases
            .iter()
            .flat_map(|c| {
                c.tests()
                    .into_iter()
                    .filter(|x| x.kind != crate::model::results::TestKind::Check)
                    .filter(|x| x.status == Status::Fail)
                    .map(|x| format!("{} {} failed", c.name, x.name))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !broken.is_empty() {
            reason = format!("{reason} ({})", broken.join(", "));
        }
    }
    Judgement {
        verdict: Verdict::Skip,
        reason,
        retry: incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::results::CaseResult;
    use crate::model::testdata;

    fn results(cases: Vec<CaseResult>) -> RunResults {
        testdata::run(cases)
    }

    /// A case whose build ended as given; when it passed, it booted and
    /// its one check ended as `check` says.
    fn case(name: &str, build: Status, check: Option<Status>) -> CaseResult {
        let boot = if build == Status::Pass {
            Status::Pass
        } else {
            Status::Skipped
        };
        let checks = check
            .map(|s| vec![testdata::check("initcalls.static", s, "m")])
            .unwrap_or_default();
        testdata::case(name, build, boot, checks)
    }

    #[test]
    fn cases_decide_by_their_worst_result() {
        let t = Target::parse(None);
        let j = judge(
            &results(vec![case("a", Status::Pass, Some(Status::Pass))]),
            &t,
        );
        assert_eq!(j.verdict, Verdict::Good);
        let j = judge(
            &results(vec![
                case("a", Status::Pass, Some(Status::Pass)),
                case("b", Status::Pass, Some(Status::Fail)),
            ]),
            &t,
        );
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Bad, "b result fail")
        );
        let j = judge(&results(vec![case("a", Status::Incomplete, None)]), &t);
        assert_eq!((j.verdict, j.retry), (Verdict::Skip, true));
        let j = judge(&results(vec![]), &t);
        assert_eq!(j.verdict, Verdict::Skip);
    }

    #[test]
    fn a_named_check_decides_alone_and_a_failed_build_hides_it() {
        let t = Target::parse(Some("check:initcalls.static"));
        assert_eq!(t, Target::Test("initcalls.static".into()));
        // The check passes though another one (here: none) would fail.
        let j = judge(
            &results(vec![case("a", Status::Pass, Some(Status::Pass))]),
            &t,
        );
        assert_eq!(j.verdict, Verdict::Good);
        let j = judge(
            &results(vec![case("a", Status::Pass, Some(Status::Fail))]),
            &t,
        );
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Bad, "a check:initcalls.static fail")
        );
        // The build failed: the check never ran, so the commit is skipped,
        // and no retry will change that.
        let j = judge(&results(vec![case("a", Status::Fail, None)]), &t);
        assert_eq!(j.verdict, Verdict::Skip);
        assert!(!j.retry);
        assert!(j.reason.contains("a build failed"), "{}", j.reason);
        // The build step itself can be bisected.
        let j = judge(
            &results(vec![case("a", Status::Fail, None)]),
            &Target::parse(Some("build")),
        );
        assert_eq!(j.verdict, Verdict::Bad);
    }
}
