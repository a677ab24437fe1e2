//! The plain reporter: one line per event on stderr, for CI logs and
//! anything that is not a terminal. Output lines (make, console) are not
//! shown: the logs keep them.

use super::{Event, Reporter};

pub struct PlainReporter;

/// How far a step is, said at every tenth of the expected total (or
/// every 1000 steps when there is none), else nothing: a CI log gets a
/// dozen lines per build, not one per compile.
pub fn progress_line(done: usize, total: Option<usize>) -> Option<String> {
    match total {
        Some(t) if t > 0 => {
            let tenth = |d: usize| d * 10 / t;
            (done > 0 && done <= t && tenth(done) != tenth(done - 1)).then(|| {
                format!(
                    "{}, about {} % of the last build's {t} steps",
                    steps(done),
                    done * 100 / t
                )
            })
        }
        _ => (done > 0 && done.is_multiple_of(1000)).then(|| steps(done)),
    }
}

/// `1234 kbuild steps`.
pub fn steps(done: usize) -> String {
    format!("{done} kbuild steps")
}

/// The line an event gives, if any (shared with the terminal reporter,
/// which prints the same lines above its spinners).
pub fn line(event: &Event<'_>) -> Option<String> {
    Some(match event {
        Event::StepStarted { case, step } => format!("[{case}] {step}: started"),
        Event::Phase { case, step, phase } => format!("[{case}] {step}: {phase}"),
        Event::Output { .. } | Event::RunFinished { .. } => return None,
        Event::Progress {
            case,
            step,
            done,
            total,
        } => format!("[{case}] {step}: {}", progress_line(*done, *total)?),
        Event::StepFinished {
            case,
            step,
            status,
            seconds,
            message,
        } => format!("[{case}] {step}: {status} in {seconds:.1} s: {message}"),
        Event::Warning { case, message } => format!("[{case}] warning: {message}"),
        Event::CaseFinished { case, status } => {
            format!("[{case}] => {}", status.name().to_uppercase())
        }
        Event::BenchRound {
            round,
            rounds,
            plan,
        } => format!("bench: round {round}/{rounds}: {plan}"),
        Event::BenchSample {
            round,
            rounds,
            sample,
            samples,
            workload,
        } => format!("bench: round {round}/{rounds}, sample {sample}/{samples}: {workload}"),
        Event::SeriesPoint { label, title } => format!("series: {label}: {title}"),
        Event::MutantPoint { label, title } => format!("mutate: {label}: {title}"),
        Event::BisectPoint { commit, title, why } => {
            format!("bisect: {commit} ({why}): {title}")
        }
        Event::BisectVerdict {
            commit,
            verdict,
            reason,
        } => format!("bisect: {commit} is {verdict}: {reason}"),
        Event::MutantVerdict {
            mutant,
            case,
            verdict,
            detail,
        } => match *detail {
            "" => format!("mutate: {mutant} on {case}: {verdict}"),
            d => format!("mutate: {mutant} on {case}: {verdict} ({d})"),
        },
    })
}

impl Reporter for PlainReporter {
    fn report(&self, event: &Event<'_>) {
        if let Some(l) = line(event) {
            eprintln!("{l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Step;
    use crate::model::Status;

    #[test]
    fn progress_is_said_at_each_tenth_only() {
        let said: Vec<usize> = (0..=120)
            .filter(|d| progress_line(*d, Some(100)).is_some())
            .collect();
        assert_eq!(said, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(
            progress_line(50, Some(100)).unwrap(),
            "50 kbuild steps, about 50 % of the last build's 100 steps"
        );
        // A total of 3: each step is a tenth or more.
        assert_eq!(
            (1..=3)
                .filter(|d| progress_line(*d, Some(3)).is_some())
                .count(),
            3
        );
        assert_eq!(progress_line(999, None), None);
        assert_eq!(progress_line(2000, None).unwrap(), "2000 kbuild steps");
        assert_eq!(progress_line(0, Some(0)), None);
        let e = Event::Progress {
            case: "c",
            step: Step::Build,
            done: 30,
            total: Some(100),
        };
        assert_eq!(
            line(&e).unwrap(),
            "[c] build: 30 kbuild steps, about 30 % of the last build's 100 steps"
        );
    }

    #[test]
    fn lines_keep_the_format_ci_logs_have_always_had() {
        assert_eq!(
            line(&Event::StepFinished {
                case: "c",
                step: Step::Check("initcalls.static"),
                status: Status::Fail,
                seconds: 0.0,
                message: "m"
            })
            .unwrap(),
            "[c] check:initcalls.static: fail in 0.0 s: m"
        );
        assert_eq!(
            line(&Event::CaseFinished {
                case: "c",
                status: Status::Pass
            })
            .unwrap(),
            "[c] => PASS"
        );
        assert_eq!(
            line(&Event::MutantVerdict {
                mutant: "m",
                case: "c",
                verdict: crate::model::mutation::Verdict::Killed,
                detail: "initcalls.static: level 6: x out of place"
            })
            .unwrap(),
            "mutate: m on c: killed (initcalls.static: level 6: x out of place)"
        );
        assert_eq!(
            line(&Event::MutantVerdict {
                mutant: "m",
                case: "c",
                verdict: crate::model::mutation::Verdict::ControlOk,
                detail: ""
            })
            .unwrap(),
            "mutate: m on c: control_ok"
        );
        assert!(line(&Event::Output {
            case: "c",
            step: Step::Build,
            line: "CC x.o"
        })
        .is_none());
    }
}
