//! The plain reporter: one line per event on stderr, for CI logs and
//! anything that is not a terminal. Output lines (make, console) are not
//! shown: the logs keep them.

use super::{Event, Reporter};

pub struct PlainReporter;

/// The line an event gives, if any (shared with the terminal reporter,
/// which prints the same lines above its spinners).
pub fn line(event: &Event<'_>) -> Option<String> {
    Some(match event {
        Event::StepStarted { case, step } => format!("[{case}] {step}: started"),
        Event::Phase { case, step, phase } => format!("[{case}] {step}: {phase}"),
        Event::Output { .. } | Event::RunFinished { .. } => return None,
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
