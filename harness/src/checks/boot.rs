//! The boot verdict: what the console says (a panic, Oops, BUG, WARNING or
//! CFI failure outside an lkdtm probe fails; init must run from its BEGIN
//! to its END marker), refined by how QEMU ended (a timeout or QEMU that
//! never started is incomplete, not the kernel's fault).

use crate::console::{Event, EventKind};
use crate::guest::protocol::{is_probe_step, rc_arg, Marker};
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

/// A failure event as the verdict names it: its console line and text.
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

/// How many failures the verdict keeps (the first ones, by line).
const KEPT_FAILURES: usize = 10;
/// How many failures inside one open probe wait for its RESULT.
const KEPT_PENDING: usize = 1000;
/// How many failed init steps the verdict names.
const KEPT_STEPS: usize = 10;

/// The console verdict, folded one event at a time so a log of any size is
/// judged in flat memory (`judge` streams; a boot's events go through the
/// same fold). [`console_verdict`] and [`log_verdict`] are this over a
/// slice.
#[derive(Debug, Clone, Default)]
pub struct ConsoleVerdict {
    /// The `Linux version` lines: how many, the first two.
    banners: usize,
    banner_lines: Vec<usize>,
    ran_init: bool,
    begin: Option<usize>,
    /// The first END marker: its line and rc.
    end: Option<(usize, Option<i32>)>,
    /// Probes whose STEP came and RESULT not yet: name, STEP line.
    open_probes: Vec<(String, usize)>,
    /// Failures seen while a probe was open: excused if it finishes.
    pending: Vec<Event>,
    /// Failures outside any finished probe, the first by line.
    bad: Vec<Event>,
    bad_total: usize,
    /// `step` (not probe) RESULTs with a non-zero rc: name, rc, line.
    failed_steps: Vec<(String, i32, usize)>,
    failed_steps_total: usize,
    /// Any event that only a kernel (or its init) prints.
    kernel_spoke: bool,
}

impl ConsoleVerdict {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next event (events come in console order).
    pub fn push(&mut self, e: &Event) {
        if is_bad(&e.kind)
            || matches!(
                e.kind,
                EventKind::Banner { .. } | EventKind::RunInit { .. } | EventKind::Marker { .. }
            )
        {
            self.kernel_spoke = true;
        }
        match &e.kind {
            EventKind::Banner { .. } => {
                self.banners += 1;
                if self.banner_lines.len() < 2 {
                    self.banner_lines.push(e.line);
                }
            }
            EventKind::RunInit { .. } => self.ran_init = true,
            EventKind::Marker { kind, args } => self.marker(e.line, kind, args),
            k if is_bad(k) => {
                if !matches!(k, EventKind::Panic { .. }) && !self.open_probes.is_empty() {
                    if self.pending.len() < KEPT_PENDING {
                        self.pending.push(e.clone());
                    }
                } else {
                    self.add_bad(e.clone());
                }
            }
            _ => {}
        }
    }

    fn marker(&mut self, line: usize, kind: &str, args: &[String]) {
        let name = args.first().map(String::as_str).unwrap_or("");
        if Marker::Begin.is(kind) {
            self.begin.get_or_insert(line);
        } else if Marker::End.is(kind) {
            if self.end.is_none() {
                self.end = Some((line, args.first().and_then(|a| rc_arg(a))));
            }
        } else if Marker::Step.is(kind) && is_probe_step(name) {
            self.open_probes.push((name.to_owned(), line));
        } else if Marker::Result.is(kind) {
            let rc = args.get(1).and_then(|a| rc_arg(a));
            if self.open_probes.iter().any(|(n, _)| n == name) {
                self.close_probe(name);
            } else if let Some(rc) = rc.filter(|rc| *rc != 0) {
                self.failed_steps_total += 1;
                if self.failed_steps.len() < KEPT_STEPS {
                    self.failed_steps.push((name.to_owned(), rc, line));
                }
            }
        }
    }

    /// A probe's RESULT came: what failed inside it is excused; what
    /// failed before it opened and outside every other open probe is not.
    fn close_probe(&mut self, name: &str) {
        let opened = self
            .open_probes
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| *l)
            .min()
            .unwrap_or(usize::MAX);
        self.open_probes.retain(|(n, _)| n != name);
        let pending = std::mem::take(&mut self.pending);
        for e in pending {
            if e.line > opened {
                continue;
            }
            if self.open_probes.iter().any(|(_, l)| *l < e.line) {
                self.pending.push(e);
            } else {
                self.add_bad(e);
            }
        }
    }

    fn add_bad(&mut self, e: Event) {
        self.bad_total += 1;
        self.bad.push(e);
        if self.bad.len() > KEPT_FAILURES {
            self.bad.sort_by_key(|e| e.line);
            self.bad.truncate(KEPT_FAILURES);
        }
    }

    /// What the console says (a boot's console: QEMU's end refines it in
    /// [`boot_verdict`]).
    pub fn finish(mut self) -> CheckResult {
        for e in std::mem::take(&mut self.pending) {
            self.add_bad(e);
        }
        self.bad.sort_by_key(|e| e.line);
        if !self.bad.is_empty() {
            let first = describe(&self.bad[0]);
            let mut details: Vec<String> = self.bad.iter().map(describe).collect();
            if self.bad_total > self.bad.len() {
                details.push(format!(
                    "… and {} more failure(s)",
                    self.bad_total - self.bad.len()
                ));
            }
            return CheckResult::new(
                "boot",
                Status::Fail,
                format!("the kernel reported a failure: {first}"),
            )
            .with(details);
        }
        if self.banners > 1 {
            return CheckResult::new(
                "boot",
                Status::Fail,
                format!(
                    "the kernel booted {} times (banners at console lines {} and {}): \
                     the boot before the last one ended without a word (a reset or a \
                     silent reboot)",
                    self.banners, self.banner_lines[0], self.banner_lines[1]
                ),
            );
        }
        match (self.begin, self.end) {
            (Some(b), Some(_)) if self.banners == 0 => CheckResult::new(
                "boot",
                Status::Incomplete,
                format!(
                    "init's markers (console line {b}) but no kernel banner (`Linux version …`) \
                     before them: not a whole boot (the capture started late, or printk is off), \
                     nothing to judge the kernel by"
                ),
            ),
            (Some(b), Some((e, _))) if e < b => CheckResult::new(
                "boot",
                Status::Fail,
                format!("init's end marker (console line {e}) came before its start marker (console line {b})"),
            ),
            (Some(_), Some(_)) => CheckResult::new(
                "boot",
                Status::Pass,
                "init ran from start marker to end marker",
            ),
            (Some(b), None) => CheckResult::new(
                "boot",
                Status::Fail,
                format!("init started (console line {b}) but never printed its end marker"),
            ),
            (None, _) if self.ran_init => CheckResult::new(
                "boot",
                Status::Fail,
                "the kernel ran /init but the init's start marker never appeared",
            ),
            (None, _) if self.banners > 0 => CheckResult::new(
                "boot",
                Status::Fail,
                "the kernel booted but never ran /init",
            ),
            (None, _) => CheckResult::new("boot", Status::Fail, "no kernel banner on the console"),
        }
    }

    /// The verdict on a saved log alone (`judge LOG`): [`Self::finish`],
    /// except that a log in which the kernel said nothing at all is
    /// nothing to judge (incomplete), and init's own rc counts: an END
    /// with a non-zero rc, or a failed step, is a fail naming the steps
    /// (with no case to judge them by, they are all the log says).
    pub fn finish_log(self) -> CheckResult {
        if !self.kernel_spoke {
            return CheckResult::new(
                "boot",
                Status::Incomplete,
                "nothing to judge: no kernel banner, failure or init in the log \
                 (not a kernel console, or cut before the kernel started)",
            );
        }
        let end = self.end;
        let steps = self.failed_steps.clone();
        let steps_total = self.failed_steps_total;
        let v = self.finish();
        if v.status != Status::Pass {
            return v;
        }
        let rc = end.and_then(|(_, rc)| rc);
        if rc == Some(0) && steps.is_empty() {
            return v;
        }
        let mut details: Vec<String> = steps
            .iter()
            .map(|(n, rc, l)| format!("console line {l}: step {n} ended with rc={rc}"))
            .collect();
        if steps_total > steps.len() {
            details.push(format!("… and {} more", steps_total - steps.len()));
        }
        let end_line = end.map_or(0, |(l, _)| l);
        let message = match (rc, steps.first()) {
            (_, Some((n, r, l))) => format!(
                "init's step {n} failed (rc={r}, console line {l}); init ended with {}",
                rc.map_or("no rc".to_string(), |r| format!("rc={r}"))
            ),
            (Some(r), None) => format!("init ended with rc={r} (console line {end_line})"),
            (None, None) => format!("init's end marker (console line {end_line}) carries no rc"),
        };
        CheckResult::new("boot", Status::Fail, message).with(details)
    }
}

/// What the console alone says (the core of [`boot_verdict`]).
pub fn console_verdict(events: &[Event]) -> CheckResult {
    let mut v = ConsoleVerdict::new();
    events.iter().for_each(|e| v.push(e));
    v.finish()
}

/// The verdict on a saved log (`judge LOG`): see [`ConsoleVerdict::finish_log`].
pub fn log_verdict(events: &[Event]) -> CheckResult {
    let mut v = ConsoleVerdict::new();
    events.iter().for_each(|e| v.push(e));
    v.finish_log()
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
        BootEnd::Lab { error } => CheckResult::new(
            "boot",
            Status::Incomplete,
            format!("the lab gave no boot to judge ({} console lines): {error}", outcome.lines),
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
