//! Events: one typed stream of what happens while the harness works, in
//! the order it happens. `run`, `bench`, `series`, `bisect` and `mutate` emit it; the
//! terminal and plain reporters ([`terminal`], [`plain`]) show it to a
//! person, and the result writer (`crate::output::ResultsWriter`) writes
//! the result files when a run finishes. Emitters never print; sinks never
//! decide.

pub mod plain;
pub mod terminal;

use crate::model::mutation::Verdict;
use crate::model::perf::HowFar;
use crate::model::results::RunResults;
use crate::model::Status;
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;

/// A step of a case: what a progress line or spinner is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Build,
    Boot,
    /// A check, by its name (`initcalls.static`, `cfi.CFI_FORWARD_PROTO`).
    Check(&'a str),
    /// A benchmark's boots and samples of one kernel pair.
    Bench,
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Build => f.write_str("build"),
            Step::Boot => f.write_str("boot"),
            Step::Check(name) => write!(f, "check:{name}"),
            Step::Bench => f.write_str("bench"),
        }
    }
}

/// What happens, in the order it happens.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    StepStarted {
        case: &'a str,
        step: Step<'a>,
    },
    /// A step moved on to a new phase (`config`, `make`, `qemu`, `retry 1/2`).
    Phase {
        case: &'a str,
        step: Step<'a>,
        phase: &'a str,
    },
    /// How far a step is: a build's kbuild steps so far against the last
    /// build of the same config, its phase and an estimate of what is
    /// left. Sent at each kbuild step and every few seconds in between
    /// (a silent LTO link included); reporters choose what to show.
    Progress {
        case: &'a str,
        step: Step<'a>,
        how_far: HowFar<'a>,
    },
    /// A line a step's process printed: make's output, the guest console.
    Output {
        case: &'a str,
        step: Step<'a>,
        line: &'a str,
    },
    StepFinished {
        case: &'a str,
        step: Step<'a>,
        status: Status,
        seconds: f64,
        message: &'a str,
    },
    CaseFinished {
        case: &'a str,
        status: Status,
    },
    /// Something the user should know that changes no verdict (a damaged
    /// cache entry rebuilt).
    Warning {
        case: &'a str,
        message: &'a str,
    },
    /// What a run found out beside its verdicts, once its cases are
    /// judged: how busy the cores were, a performance regression the
    /// history found, what bless did to a golden. One line each.
    Note {
        message: &'a str,
    },
    /// A benchmark round began (`round` counts from 1).
    BenchRound {
        round: usize,
        rounds: usize,
        /// What the round does, in words.
        plan: &'a str,
    },
    /// A wall-clock benchmark sample began (`sample` counts from 1).
    BenchSample {
        round: usize,
        rounds: usize,
        sample: usize,
        samples: usize,
        workload: &'a str,
    },
    /// A series moved to a point: `base` or `patch-NNN`, and its title.
    SeriesPoint {
        label: &'a str,
        title: &'a str,
    },
    /// `mutate` moved to a point: `base`, or a mutant's name; and its title.
    MutantPoint {
        label: &'a str,
        title: &'a str,
    },
    /// A mutant's verdict on one case, and what failed (`check: message`).
    MutantVerdict {
        mutant: &'a str,
        case: &'a str,
        verdict: Verdict,
        detail: &'a str,
    },
    /// `bisect` moved to a commit: its short hash, subject, and why it
    /// is tested (`the bad end`, `9 commits left`).
    BisectPoint {
        commit: &'a str,
        title: &'a str,
        why: &'a str,
    },
    /// What a bisected commit turned out to be, and why.
    BisectVerdict {
        commit: &'a str,
        verdict: crate::model::bisection::Verdict,
        reason: &'a str,
    },
    /// A run's results are complete and belong in `dir`.
    RunFinished {
        results: &'a RunResults,
        dir: &'a Path,
    },
}

/// A consumer of the event stream.
pub trait Reporter: Sync {
    fn report(&self, event: &Event<'_>);
}

/// Hands every event to each of several reporters, in order.
pub struct Fanout<'a>(pub Vec<&'a dyn Reporter>);

impl Reporter for Fanout<'_> {
    fn report(&self, event: &Event<'_>) {
        for r in &self.0 {
            r.report(event);
        }
    }
}

/// Ignores every event (tests, and callers that only want the results).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: &Event<'_>) {}
}

/// Picks the terminal or the plain reporter from stderr: spinners with
/// live progress on a terminal, one plain line per event in CI logs.
pub fn for_stderr() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(terminal::TerminalReporter::new())
    } else {
        Box::new(plain::PlainReporter::default())
    }
}
