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
/// The verdict on a saved log (`judge LOG`): the console verdict, except
/// that a log in which the kernel said nothing at all (no banner, no
/// failure, no init) is not a kernel that failed but nothing to judge:
/// incomplete.
pub fn log_verdict(events: &[Event]) -> CheckResult {
    let kernel_spoke = events.iter().any(|e| {
        is_bad(&e.kind)
            || matches!(
                e.kind,
                EventKind::Banner { .. } | EventKind::RunInit { .. } | EventKind::Marker { .. }
            )
    });
    if kernel_spoke {
        console_verdict(events)
    } else {
        CheckResult::new(
            "boot",
            Status::Incomplete,
            "nothing to judge: no kernel banner, failure or init in the log \
             (not a kernel console, or cut before the kernel started)",
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn log(rel: &str) -> Vec<Event> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/console")
            .join(rel);
        crate::console::parse_log(&std::fs::read(&p).unwrap())
    }

    #[test]
    fn a_saved_log_whose_only_failure_is_a_panic_names_the_panic_first() {
        for name in [
            "test_kernel_panic_interrupt.log",
            "test_pound_no_prefix.log",
        ] {
            let v = log_verdict(&log(&format!("kunit/{name}")));
            assert_eq!(v.status, Status::Fail, "{name}: {v:?}");
            assert!(
                v.message
                    .contains("Kernel panic - not syncing: VFS: Unable to mount root fs"),
                "{name}: {}",
                v.message
            );
        }
    }

    #[test]
    fn a_saved_log_without_a_kernel_is_nothing_to_judge() {
        let v = log_verdict(&log("kunit/test_is_test_passed-all_passed.log"));
        assert_eq!(v.status, Status::Incomplete, "{v:?}");
        assert_eq!(log_verdict(&[]).status, Status::Incomplete);
        // Real boot logs are judged as before.
        for name in ["x86_64-tiny-none.log", "arm64-tiny-none.log"] {
            let events = log(name);
            assert_eq!(log_verdict(&events), console_verdict(&events), "{name}");
        }
    }
}
