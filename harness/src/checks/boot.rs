//! The boot verdict: what the console says (a panic, Oops, BUG, WARNING or
//! CFI failure outside an lkdtm probe fails; init must run from its BEGIN
//! to its END marker), refined by how QEMU ended (a timeout or QEMU that
//! never started is incomplete, not the kernel's fault).

use crate::console::{Event, EventKind};
use crate::guest::protocol::{is_probe_step, Marker};
use crate::model::results::BootEnd;
use crate::model::{CheckResult, Status};
use crate::stages::boot::BootOutcome;

/// The events that mean the kernel went wrong.
fn is_bad(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Panic { .. }
            | EventKind::Oops { .. }
            | EventKind::Bug { .. }
            | EventKind::Warning { .. }
            | EventKind::CfiFailure { .. }
    )
}

pub fn describe(e: &Event) -> String {
    let what = match &e.kind {
        EventKind::Panic { text } => format!("Kernel panic - not syncing: {text}"),
        // The parser keeps these lines whole (without the timestamp).
        EventKind::Oops { text }
        | EventKind::Bug { text }
        | EventKind::Warning { text }
        | EventKind::CfiFailure { text, .. }
        | EventKind::ModuleError { text, .. } => text.clone(),
        other => format!("{other:?}"),
    };
    format!("console line {}: {what}", e.line)
}

fn marker(events: &[Event], kind: Marker) -> Option<(&Event, &[String])> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { kind: k, args } if kind.is(k) => Some((e, args.as_slice())),
        _ => None,
    })
}

/// Console line ranges `[first, end)` of finished probes (lkdtm CFI and
/// mechanism tests, the flipped-CRC module): an Oops, WARNING or CFI
/// failure there is the probe's business (judged by its check), not a
/// boot failure. A panic never is: a trap must kill the probe, not the kernel.
pub fn probe_windows(events: &[Event]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let EventKind::Marker { kind, args } = &e.kind else {
            continue;
        };
        let Some(name) = args.first() else { continue };
        if !Marker::Step.is(kind) || !is_probe_step(name) {
            continue;
        }
        let end = events[i + 1..].iter().find_map(|r| match &r.kind {
            EventKind::Marker { kind, args }
                if Marker::Result.is(kind) && args.first() == Some(name) =>
            {
                Some(r.line)
            }
            _ => None,
        });
        if let Some(end) = end {
            out.push((e.line + 1, end));
        }
    }
    out
}

/// What the console alone says (for `judge LOG`, where QEMU's exit is unknown,
/// and as the core of [`boot_verdict`]).
pub fn console_verdict(events: &[Event]) -> CheckResult {
    let windows = probe_windows(events);
    let in_probe = |e: &Event| {
        !matches!(e.kind, EventKind::Panic { .. })
            && windows.iter().any(|(a, b)| e.line >= *a && e.line < *b)
    };
    let bad: Vec<&Event> = events
        .iter()
        .filter(|e| is_bad(&e.kind) && !in_probe(e))
        .collect();
    if !bad.is_empty() {
        let first = describe(bad[0]);
        return CheckResult::new(
            "boot",
            Status::Fail,
            format!("the kernel reported a failure: {first}"),
        )
        .with(bad.iter().take(10).map(|e| describe(e)).collect());
    }
    let ran_init = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RunInit { .. }));
    let banner = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Banner { .. }));
    match (marker(events, Marker::Begin), marker(events, Marker::End)) {
        (Some(_), Some(_)) => CheckResult::new(
            "boot",
            Status::Pass,
            "init ran from start marker to end marker",
        ),
        (Some((b, _)), None) => CheckResult::new(
            "boot",
            Status::Fail,
            format!(
                "init started (console line {}) but never printed its end marker",
                b.line
            ),
        ),
        (None, _) if ran_init => CheckResult::new(
            "boot",
            Status::Fail,
            "the kernel ran /init but the init's start marker never appeared",
        ),
        (None, _) if banner => CheckResult::new(
            "boot",
            Status::Fail,
            "the kernel booted but never ran /init",
        ),
        (None, _) => CheckResult::new("boot", Status::Fail, "no kernel banner on the console"),
    }
}
/// The boot verdict: the console verdict, refined by how QEMU ended.
pub fn boot_verdict(outcome: &BootOutcome) -> CheckResult {
    let console = console_verdict(&outcome.events);
    let log = outcome.log.display();
    let last = outcome.last_line.as_deref().unwrap_or("");
    match &outcome.end {
        BootEnd::SpawnFailed { error } => {
            CheckResult::new("boot", Status::Incomplete, format!("QEMU did not start: {error}"))
        }
        // Whatever ended the boot, a kernel that reported a failure failed.
        _ if console.status == Status::Fail && !console.details.is_empty() => console,
        BootEnd::TimedOut { after_seconds } if outcome.lines == 0 => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("timed out after {after_seconds} s with no console output at all (QEMU stderr: {})", first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::TimedOut { after_seconds } => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!(
                "timed out after {after_seconds} s; {} console lines, the last: `{last}` (log: {log}); \
                 raise the case's timeout if the machine is slow",
                outcome.lines
            ),
        ),
        BootEnd::StoppedOnPanic => console,
        BootEnd::Exited { code } if *code != Some(0) && outcome.lines == 0 => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("QEMU exited with {code:?} before the kernel printed anything: {}", first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::Exited { code } if *code != Some(0) => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("QEMU exited with {code:?} after {} console lines: {}", outcome.lines, first_line(&outcome.qemu_stderr())),
        ),
        BootEnd::Exited { .. } => console,
    }
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(nothing)");
    l.chars().take(300).collect()
}
