//! The checks' view of a boot's console: its lines read back from the
//! saved log, its events, and the windows of `/init`'s steps between their
//! STEP and RESULT markers (see [`crate::guest::protocol`]).

use crate::console::{Event, EventKind};
use crate::guest::protocol::{rc_arg, Marker};
use crate::stages::boot::BootOutcome;

/// A boot's console, as lines and as events (`lines[e.line - 1]` is the
/// line of event `e`).
pub struct Console<'a> {
    pub outcome: &'a BootOutcome,
    pub lines: Vec<String>,
}

impl<'a> Console<'a> {
    /// Reads the saved console log back (events already came while booting).
    pub fn read(outcome: &'a BootOutcome) -> Console<'a> {
        let lines = std::fs::read(&outcome.log)
            .map(|b| crate::console::split_lines(&b))
            .unwrap_or_default();
        Console { outcome, lines }
    }

    pub fn events(&self) -> &[Event] {
        &self.outcome.events
    }

    /// Console line `n` (1-based).
    pub fn line(&self, n: usize) -> &str {
        n.checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .map_or("", String::as_str)
    }

    /// The console lines strictly between init step `name`'s STEP and
    /// RESULT markers, with its rc; `None` if the step never started.
    pub fn step(&self, name: &str) -> Option<Step> {
        let start = marker_line(self.events(), Marker::Step, name)?;
        let result = self.events().iter().find_map(|e| match &e.kind {
            EventKind::Marker { kind, args }
                if Marker::Result.is(kind)
                    && args.first().map(String::as_str) == Some(name)
                    && e.line > start =>
            {
                let rc = args.get(1).and_then(|a| rc_arg(a));
                Some((e.line, rc))
            }
            _ => None,
        });
        let end = result.map_or(self.lines.len() + 1, |r| r.0);
        Some(Step {
            first: start + 1,
            end,
            rc: result.and_then(|r| r.1),
            finished: result.is_some(),
        })
    }

    /// Lines `first..end` as `(number, text)`.
    pub fn window(&self, step: &Step) -> impl Iterator<Item = (usize, &str)> {
        (step.first..step.end).map(|n| (n, self.line(n)))
    }

    /// The FACT markers of one kind, in order: their console line and
    /// arguments after the kind (`@@LTOH FACT note vmlinux 0400…` gives
    /// `["vmlinux", "0400…"]`).
    pub fn facts(&self, kind: &str) -> Vec<(usize, Vec<String>)> {
        self.events()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Marker { kind: k, args }
                    if Marker::Fact.is(k) && args.first().map(String::as_str) == Some(kind) =>
                {
                    Some((e.line, args[1..].to_vec()))
                }
                _ => None,
            })
            .collect()
    }

    /// The first FACT of `kind` about `subject` (`note vmlinux …`).
    pub fn fact(&self, kind: &str, subject: &str) -> Option<(usize, Vec<String>)> {
        self.facts(kind)
            .into_iter()
            .find(|(_, a)| a.first().map(String::as_str) == Some(subject))
            .map(|(n, a)| (n, a[1..].to_vec()))
    }

    /// Events inside a step's window.
    pub fn events_in(&self, step: &Step) -> impl Iterator<Item = &Event> {
        let (a, b) = (step.first, step.end);
        self.events()
            .iter()
            .filter(move |e| e.line >= a && e.line < b)
    }
}

/// Where an init step's output lies on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// First console line after the STEP marker.
    pub first: usize,
    /// The RESULT marker's line (or one past the end when it never came).
    pub end: usize,
    pub rc: Option<i32>,
    pub finished: bool,
}

fn marker_line(events: &[Event], kind: Marker, name: &str) -> Option<usize> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind: k, args }
            if kind.is(k) && args.first().map(String::as_str) == Some(name) =>
        {
            Some(e.line)
        }
        _ => None,
    })
}
