//! The one validation of a results file read back (`compare`, `gate`,
//! `merge`, `plan --from`, `bisect`'s summary): every reader goes through
//! [`parse_results`] (or [`check`] for results already in memory), so
//! `merge` and `gate` can never judge the same file differently.
//!
//! A results file is refused, naming the file and what is wrong, when
//!
//! * it is larger than [`RESULTS_MAX_BYTES`] (the reader stops there),
//! * it lists a case twice, or a check twice within a case: which copy
//!   counts would depend on the reader (and on the order of the copies),
//! * a case's `status` disagrees with what its steps and checks say
//!   ([`CaseResult::derived_status`], the rule a run sets it with), or a
//!   check named `boot` disagrees with the boot step it stands for.
//!
//! A run of the harness writes none of these; they come from files edited,
//! concatenated or damaged after the fact. Such input is the harness's
//! problem, not the kernel's: the errors are [`InputError`]s, which the
//! command line reports as incomplete (exit 2), never as a verdict.

use crate::model::results::{CaseResult, RunResults};
use crate::model::untrusted::visible;
use crate::model::Status;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest results.json read back: 64 MiB. The largest run written
/// here (six defconfig and tinyconfig cases, every check) is about 60 KiB.
pub const RESULTS_MAX_BYTES: u64 = 64 << 20;

/// One thing wrong with a results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A case name listed more than once.
    DuplicateCase { case: String, times: usize },
    /// A check name listed more than once within one case.
    DuplicateCheck {
        case: String,
        check: String,
        times: usize,
    },
    /// The case's `status` is not what its steps and checks say.
    StatusDisagrees {
        case: String,
        recorded: Status,
        derived: Status,
    },
    /// A check named `boot` (which every output shows as the boot step)
    /// with another status than the boot step.
    BootCheckDisagrees {
        case: String,
        check: Status,
        boot: Status,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DuplicateCase { case, times } => {
                write!(f, "case `{}` is listed {times} times", visible(case))
            }
            Problem::DuplicateCheck { case, check, times } => write!(
                f,
                "case `{}` lists check `{}` {times} times",
                visible(case),
                visible(check)
            ),
            Problem::StatusDisagrees {
                case,
                recorded,
                derived,
            } => write!(
                f,
                "case `{}` has status `{recorded}` but its steps and checks say `{derived}`",
                visible(case)
            ),
            Problem::BootCheckDisagrees { case, check, boot } => write!(
                f,
                "case `{}` has a check `boot` with status `{check}` but its boot step says `{boot}`",
                visible(case)
            ),
        }
    }
}

/// A file read back that cannot be used: too large, unreadable, not
/// JSON of the right shape, or inconsistent. Always the input's fault
/// (exit 2), never a verdict on a kernel.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{}: larger than {} ({limit} bytes), the limit for {what}; not read (is it the right file?)",
        shown(path),
        mib(*limit)
    )]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        limit: u64,
    },
    #[error("reading {}: {error}", shown(path))]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a results file: {error}", shown(path))]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error(
        "{}: not a consistent results file: {}",
        shown(path),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("{}:{line}: not a history record: {error}", shown(path))]
    HistoryLine {
        path: PathBuf,
        line: usize,
        error: serde_json::Error,
    },
}

fn shown(p: &Path) -> String {
    visible(&p.display().to_string())
}

/// `64 MiB`, or bytes when not a whole number of MiB.
fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Everything wrong with `r`, in the order of its cases.
pub fn problems(r: &RunResults) -> Vec<Problem> {
    let mut out = Vec::new();
    for (name, times) in repeated(r.cases.iter().map(|c| c.name.as_str())) {
        out.push(Problem::DuplicateCase {
            case: name.to_owned(),
            times,
        });
    }
    for c in &r.cases {
        out.extend(case_problems(c));
    }
    out
}

fn case_problems(c: &CaseResult) -> Vec<Problem> {
    let mut out = Vec::new();
    for (check, times) in repeated(c.checks.iter().map(|k| k.name.as_str())) {
        out.push(Problem::DuplicateCheck {
            case: c.name.clone(),
            check: check.to_owned(),
            times,
        });
    }
    for k in c.checks.iter().filter(|k| k.name == "boot") {
        if k.status != c.boot.status {
            out.push(Problem::BootCheckDisagrees {
                case: c.name.clone(),
                check: k.status,
                boot: c.boot.status,
            });
        }
    }
    let derived = c.derived_status();
    if c.status != derived {
        out.push(Problem::StatusDisagrees {
            case: c.name.clone(),
            recorded: c.status,
            derived,
        });
    }
    out
}

/// Names given more than once, with how often, in order of first sight.
fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order = Vec::new();
    for n in names {
        let e = count.entry(n).or_insert(0);
        if *e == 0 {
            order.push(n);
        }
        *e += 1;
    }
    order
        .into_iter()
        .filter_map(|n| (count[n] > 1).then_some((n, count[n])))
        .collect()
}

/// `r`, read from `path`, is consistent; else an error naming `path` and
/// every problem.
pub fn check(path: &Path, r: &RunResults) -> Result<(), InputError> {
    let problems = problems(r);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InputError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

/// A results file's bytes (read from `path`, at most
/// [`RESULTS_MAX_BYTES`] of them), parsed and [`check`]ed.
pub fn parse_results(path: &Path, bytes: &[u8]) -> Result<RunResults, InputError> {
    if bytes.len() as u64 > RESULTS_MAX_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_owned(),
            what: "a results file",
            limit: RESULTS_MAX_BYTES,
        });
    }
    let r: RunResults = serde_json::from_slice(bytes).map_err(|error| InputError::Parse {
        path: path.to_owned(),
        error,
    })?;
    check(path, &r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, check as chk, fixtures, run, sample};
    use Status::*;

    fn json(r: &RunResults) -> Vec<u8> {
        serde_json::to_vec_pretty(r).unwrap()
    }

    fn err(r: &RunResults) -> String {
        parse_results(Path::new("/r/results.json"), &json(r))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn what_a_run_writes_is_valid() {
        let s = sample();
        assert!(problems(&s).is_empty(), "{:?}", problems(&s));
        parse_results(Path::new("x"), &json(&s)).unwrap();
        for (p, r) in fixtures() {
            assert!(
                problems(&r).is_empty(),
                "{}: {:?}",
                p.display(),
                problems(&r)
            );
        }
    }

    #[test]
    fn a_case_listed_twice_is_refused_whatever_the_order() {
        let failing = case("a", Pass, Fail, vec![]);
        let passing = case("a", Pass, Pass, vec![]);
        for cases in [
            vec![
                failing.clone(),
                passing.clone(),
                case("b", Pass, Pass, vec![]),
            ],
            vec![passing.clone(), failing.clone()],
        ] {
            let e = err(&run(cases));
            assert_eq!(
                e,
                "/r/results.json: not a consistent results file: case `a` is listed 2 times"
            );
        }
    }

    #[test]
    fn a_check_listed_twice_in_a_case_is_refused() {
        let c = case(
            "a",
            Pass,
            Pass,
            vec![
                chk("cfi", Fail, "m"),
                chk("cfi", Pass, "m"),
                chk("orc", Pass, "m"),
            ],
        );
        assert_eq!(
            err(&run(vec![c])),
            "/r/results.json: not a consistent results file: case `a` lists check `cfi` 2 times"
        );
    }

    #[test]
    fn a_status_its_steps_contradict_is_refused_both_ways() {
        let mut hides = case("a", Pass, Fail, vec![chk("cfi", Pass, "m")]);
        hides.status = Pass;
        assert_eq!(
            err(&run(vec![hides])),
            "/r/results.json: not a consistent results file: case `a` has status `pass` \
             but its steps and checks say `fail`"
        );
        let mut invents = case("b", Pass, Pass, vec![chk("cfi", Pass, "m")]);
        invents.status = Fail;
        assert!(err(&run(vec![invents]))
            .ends_with("case `b` has status `fail` but its steps and checks say `pass`"));
        // A failing check alone is enough.
        let mut check_fails = case("c", Pass, Pass, vec![chk("cfi", Fail, "m")]);
        check_fails.status = Pass;
        assert!(err(&run(vec![check_fails])).contains("`c` has status `pass`"));
    }

    #[test]
    fn a_boot_check_that_contradicts_the_boot_step_is_refused() {
        let mut c = case("a", Pass, Pass, vec![chk("boot", Fail, "m")]);
        assert!(err(&run(vec![c.clone()])).contains(
            "case `a` has a check `boot` with status `fail` but its boot step says `pass`"
        ));
        c.checks[0].status = Pass;
        c.compute_status();
        assert!(problems(&run(vec![c])).is_empty());
    }

    #[test]
    fn every_problem_is_named_and_names_are_made_visible() {
        let mut a = case("x\x1b[31m", Pass, Pass, vec![]);
        a.status = Fail;
        let e = err(&run(vec![a.clone(), a]));
        assert!(!e.contains('\x1b'), "{e}");
        assert!(
            e.contains("case `x\\x1b[31m` is listed 2 times;")
                && e.matches("has status `fail`").count() == 2,
            "{e}"
        );
    }

    #[test]
    fn bad_json_and_too_much_of_it_are_errors_naming_the_file() {
        let e = parse_results(Path::new("/r/results.json"), b"{\"cases\": [")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/results.json: not a results file: "),
            "{e}"
        );
        let big = vec![b' '; RESULTS_MAX_BYTES as usize + 1];
        let e = parse_results(Path::new("/r/results.json"), &big).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { .. }));
        assert_eq!(
            e.to_string(),
            "/r/results.json: larger than 64 MiB (67108864 bytes), the limit for a results file; \
             not read (is it the right file?)"
        );
    }
}
