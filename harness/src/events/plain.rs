//! The plain reporter: one line per event on stderr, for CI logs and
//! anything that is not a terminal. Output lines (make, console) are not
//! shown: the logs keep them.

use super::{Event, Reporter};
use crate::model::perf::HowFar;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One line per event; progress lines paced per case and step ([`due`]).
#[derive(Default)]
pub struct PlainReporter {
    pacing: Mutex<HashMap<String, Said>>,
}

/// The last progress line said of a case's step.
#[derive(Debug, Clone)]
struct Said {
    at: Instant,
    tenth: Option<usize>,
    phase: String,
}

/// Every how many seconds a running build gets a progress line in a CI
/// log, however silent its make (the LTO link prints nothing for minutes).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Whether to say `how_far` now, after `last` (None: nothing said yet):
/// on the first step, when the phase changes, at each new tenth of the
/// last build's steps (at most every 10 s), and at least every
/// [`PROGRESS_EVERY`].
fn due(last: Option<&Said>, how_far: &HowFar, now: Instant) -> bool {
    let Some(last) = last else {
        return how_far.done > 0;
    };
    let since = now.saturating_duration_since(last.at);
    since >= PROGRESS_EVERY
        || last.phase != how_far.phase
        || (tenth(how_far) != last.tenth && since >= Duration::from_secs(10))
}

fn tenth(h: &HowFar) -> Option<usize> {
    h.total
        .filter(|t| *t > 0)
        .map(|t| (h.done * 10 / t).min(10))
}

/// `1234 kbuild steps`.
pub fn steps(done: usize) -> String {
    format!("{done} kbuild steps")
}

/// `4 min 10 s`, `35 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// How far a build is, in words: `link vmlinux.o, 1900 kbuild steps
/// (95 % of the last build's 2000), 12 min 5 s in, about 3 min left`.
pub fn progress_line(h: &HowFar) -> String {
    let share = match h.total {
        Some(t) if t > 0 => format!(
            " ({} % of the last build's {t})",
            (h.done * 100 / t).min(100)
        ),
        _ => String::new(),
    };
    let eta = match h.eta {
        Some(e) => format!(", about {} left", duration(e)),
        None => String::new(),
    };
    format!(
        "{}, {}{share}, {} in{eta}",
        h.phase,
        steps(h.done),
        duration(h.elapsed)
    )
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
            how_far,
        } => format!("[{case}] {step}: {}", progress_line(how_far)),
        Event::StepFinished {
            case,
            step,
            status,
            seconds,
            message,
        } => format!("[{case}] {step}: {status} in {seconds:.1} s: {message}"),
        Event::Warning { case, message } => format!("[{case}] warning: {message}"),
        Event::Note { message } => (*message).to_owned(),
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
        if let Event::Progress {
            case,
            step,
            how_far,
        } = event
        {
            let key = format!("{case}/{step}");
            let mut pacing = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if !due(pacing.get(&key), how_far, now) {
                return;
            }
            pacing.insert(
                key,
                Said {
                    at: now,
                    tenth: tenth(how_far),
                    phase: how_far.phase.to_owned(),
                },
            );
        }
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

    fn how_far(done: usize, total: Option<usize>, phase: &str) -> HowFar<'_> {
        HowFar {
            done,
            total,
            phase,
            elapsed: 125.0,
            eta: Some(250.4),
        }
    }

    #[test]
    fn progress_is_paced_by_time_tenths_and_phases() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let said = |secs: u64, done: usize, phase: &str| Said {
            at: at(secs),
            tenth: Some(done * 10 / 100),
            phase: phase.into(),
        };
        // The first step is said; nothing before it.
        assert!(!due(None, &how_far(0, Some(100), "compile"), t0));
        assert!(due(None, &how_far(1, Some(100), "compile"), t0));
        let last = said(0, 1, "compile");
        // Same tenth, 29 s later: quiet; 30 s: said, however silent.
        assert!(!due(Some(&last), &how_far(5, Some(100), "compile"), at(29)));
        assert!(due(Some(&last), &how_far(5, Some(100), "compile"), at(30)));
        // A new tenth: said once 10 s have gone.
        assert!(!due(Some(&last), &how_far(10, Some(100), "compile"), at(9)));
        assert!(due(Some(&last), &how_far(10, Some(100), "compile"), at(10)));
        // A new phase: said at once.
        assert!(due(
            Some(&last),
            &how_far(5, Some(100), "link vmlinux.o"),
            at(1)
        ));
        // No earlier build: by time and phase only.
        let none = Said {
            at: t0,
            tenth: None,
            phase: "compile".into(),
        };
        assert!(!due(Some(&none), &how_far(900, None, "compile"), at(20)));
        assert!(due(Some(&none), &how_far(900, None, "compile"), at(31)));
    }

    #[test]
    fn a_progress_line_has_the_phase_share_time_and_estimate() {
        let e = Event::Progress {
            case: "c",
            step: Step::Build,
            how_far: how_far(30, Some(100), "compile"),
        };
        assert_eq!(
            line(&e).unwrap(),
            "[c] build: compile, 30 kbuild steps (30 % of the last build's 100), 2 min 5 s in, about 4 min 10 s left"
        );
        let first = HowFar {
            eta: None,
            ..how_far(2000, None, "link vmlinux.o")
        };
        assert_eq!(
            progress_line(&first),
            "link vmlinux.o, 2000 kbuild steps, 2 min 5 s in"
        );
        assert_eq!(duration(59.6), "1 min");
        assert_eq!(duration(3.0), "3 s");
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
