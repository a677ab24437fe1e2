//! lkdtm tests that check an LTO mechanism (not CFI: see [`super::cfi`]):
//! `EXEC_RODATA` (lkdtm's `rodata.o` stays outside LTO, so executing it
//! must fault), `REPORT_STACK_CANARY` (the stack protector under LTO) and
//! `EXCEPTION` (an Oops trace for the unwinder). Each runs in its own probe step
//! and is judged the way the kernel's selftest runner
//! (`tools/testing/selftests/lkdtm/run.sh`) judges it from tests.txt:
//! `XFAIL:` is a skip, `FAIL:` a failure, else the expected text (by
//! default `call trace:`) must appear. Beyond the selftest, the test's
//! own lines (lkdtm's `Performing direct entry` and what the test prints,
//! [`LkdtmProbe::preamble`]) must come, in order, before any trap, and the
//! first trap must be where the test stops ([`LkdtmProbe::trap`]): an Oops
//! from elsewhere, or before the test ran, is not the test's.

use super::cfi::LkdtmExpectations;
use super::{unobserved, Console, Step};
use crate::arch::ArchProfile;
use crate::console::{message, EventKind};
use crate::guest::protocol::{lkdtm_probe_step, LkdtmProbe, ProbeTrap, LKDTM_LOAD_STEP};
use crate::model::{CheckResult, Status};

/// What an lkdtm probe showed, judged by tests.txt.
pub struct Judged<'c> {
    pub result: CheckResult,
    /// The probe's window, for checks that read more of it (the unwinder's
    /// trace); `None` when it never ran.
    pub step: Option<Step>,
    pub console: Option<&'c Console<'c>>,
}

/// The `lkdtm: ` lines a test prints, in order: core.c's `Performing
/// direct entry <test>` and then `preamble`.
pub(super) fn expected_lines(test: &str, preamble: &[&str]) -> Vec<String> {
    std::iter::once(format!("Performing direct entry {test}"))
        .chain(preamble.iter().map(|p| (*p).to_owned()))
        .collect()
}

/// The test's own lines found in a probe's window.
#[derive(Debug, Default)]
pub(super) struct Preamble {
    /// `console line N: lkdtm: …` of each line found, in order.
    pub found: Vec<String>,
    /// The last found line's message (for the address EXEC_RODATA prints).
    pub last_message: Option<String>,
    /// The console line of the last one, once all were found.
    pub complete_at: Option<usize>,
    /// The first line never seen, as lkdtm prints it (`lkdtm: …`).
    pub missing: Option<String>,
    /// Every expected line (without `lkdtm: `) and the console line of
    /// each one found.
    pub expected: Vec<String>,
    pub lines: Vec<usize>,
}

impl Preamble {
    /// Whether the whole preamble was printed before console line `line`.
    pub fn complete_before(&self, line: usize) -> bool {
        self.complete_at.is_some_and(|at| at < line)
    }

    /// The first expected line not printed before console line `line`, as
    /// lkdtm prints it.
    pub fn first_not_before(&self, line: usize) -> String {
        let i = self.lines.iter().take_while(|n| **n < line).count();
        self.expected
            .get(i)
            .map_or_else(|| "its own lines".to_owned(), |w| format!("lkdtm: {w}"))
    }
}

/// Looks for `expected` (starts of `lkdtm: ` messages), in order.
pub(super) fn find_preamble(console: &Console, step: &Step, expected: &[String]) -> Preamble {
    let mut out = Preamble {
        expected: expected.to_vec(),
        ..Preamble::default()
    };
    let mut next = expected.iter().peekable();
    for (n, line) in console.window(step) {
        let Some(want) = next.peek() else { break };
        let msg = message(line);
        let ours = msg
            .strip_prefix("lkdtm: ")
            .is_some_and(|rest| rest.starts_with(want.as_str()));
        if ours {
            out.found.push(format!("console line {n}: {msg}"));
            out.lines.push(n);
            out.last_message = Some(msg.to_owned());
            next.next();
            if next.peek().is_none() {
                out.complete_at = Some(n);
            }
        }
    }
    out.missing = next.next().map(|w| format!("lkdtm: {w}"));
    out
}

/// Where a trap says it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Site {
    /// A `CFI failure at <caller>+… (target: <target>+…)` line.
    Kcfi {
        caller: Option<String>,
        target: Option<String>,
    },
    /// An Oops, BUG or panic, with the faulting pc its register dump names
    /// (a symbol, or a bare address), if any, and for an instruction fetch
    /// from a page that is not executable, the address it names.
    Fault {
        pc: Option<String>,
        fetch: Option<String>,
    },
}

/// The first trap in a probe's window.
#[derive(Debug, Clone)]
pub(super) struct Trap {
    pub line: usize,
    /// `console line N: <message>`.
    pub at: String,
    pub site: Site,
}

impl Trap {
    /// `console line 440: CFI failure at … (in lkdtm_do_action calling
    /// lkdtm_CFI_FORWARD_PROTO)`.
    pub fn describe(&self) -> String {
        let unknown = "an unnamed function";
        let site = match &self.site {
            Site::Kcfi { caller, target } => format!(
                "a kCFI trap in {} calling {}",
                caller.as_deref().unwrap_or(unknown),
                target.as_deref().unwrap_or("an unnamed target")
            ),
            Site::Fault { pc, fetch } => {
                let pc_text = match pc {
                    Some(pc) => format!("a fault with the pc in {pc}"),
                    None => "a fault with no faulting pc on the console".to_owned(),
                };
                // The fetch's address, where the pc's line does not give it.
                match fetch {
                    Some(a) if pc.as_deref().and_then(address) != address(a) => {
                        format!("{pc_text}, an instruction fetch from {a}")
                    }
                    _ => pc_text,
                }
            }
        };
        format!("{} ({site})", self.at)
    }
}

/// The symbol (or address) a `sym+0x16/0x20 [mod]` text starts with.
fn symbol_of(text: &str) -> Option<String> {
    let sym = text
        .trim_start()
        .split(|c: char| c == '+' || c.is_whitespace())
        .next()
        .unwrap_or("");
    (!sym.is_empty()).then(|| sym.to_owned())
}

/// Whether a symbol from the console is function `f` (or a ThinLTO
/// promotion of it, `f.llvm.<hash>`).
pub(super) fn is_function(sym: &str, f: &str) -> bool {
    sym.strip_prefix(f)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The caller a `CFI failure at <caller>+…` line names.
fn kcfi_caller(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("CFI failure at ")?;
    symbol_of(rest)
}

/// The first trap (a CFI failure, Oops, BUG or panic) in the window, with
/// the faulting pc of the register dump after it.
pub(super) fn first_trap(console: &Console, step: &Step, arch: &ArchProfile) -> Option<Trap> {
    let e = console.events_in(step).find(|e| {
        matches!(
            e.kind,
            EventKind::CfiFailure { .. }
                | EventKind::Oops { .. }
                | EventKind::Bug { .. }
                | EventKind::Panic { .. }
        )
    })?;
    let msg = message(console.line(e.line));
    let site = match &e.kind {
        EventKind::CfiFailure { text, target, .. } => Site::Kcfi {
            caller: kcfi_caller(text),
            target: target.clone(),
        },
        _ => Site::Fault {
            pc: fault_pc(console, step, e.line, arch),
            fetch: fetch_address(console, step, e.line, msg, arch),
        },
    };
    Some(Trap {
        line: e.line,
        at: format!("console line {}: {msg}", e.line),
        site,
    })
}

/// The address of an instruction fetch fault on trap line `line`
/// (`msg`), as the arch reports one ([`ArchProfile::fetch_fault`]).
fn fetch_address(
    console: &Console,
    step: &Step,
    line: usize,
    msg: &str,
    arch: &ArchProfile,
) -> Option<String> {
    let (after, confirm) = arch.fetch_fault;
    let (_, rest) = msg.split_once(after)?;
    let addr = rest.split_whitespace().next()?.to_owned();
    let confirmed = confirm.is_none_or(|c| {
        console
            .window(step)
            .filter(|(n, _)| *n > line)
            .take(3)
            .any(|(_, l)| message(l).contains(c))
    });
    confirmed.then_some(addr)
}

/// The faulting pc of the first register dump after console line `after`.
fn fault_pc(console: &Console, step: &Step, after: usize, arch: &ArchProfile) -> Option<String> {
    console
        .window(step)
        .filter(|(n, _)| *n > after)
        .find_map(|(_, l)| {
            message(l)
                .trim_start()
                .strip_prefix(arch.fault_pc)
                .map(str::to_owned)
        })
        .and_then(|rest| symbol_of(&rest))
}

/// An address as printed by `%px` or in a register dump, normalised.
fn address(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let t = t.trim_start_matches('0').to_ascii_lowercase();
    Some(if t.is_empty() { "0".into() } else { t })
}

/// Judges lkdtm test `probe` as check `name`.
pub fn judge<'c>(
    name: &str,
    probe: LkdtmProbe,
    arch: &ArchProfile,
    console: Option<&'c Console<'c>>,
    boot: &CheckResult,
    lkdtm: &LkdtmExpectations,
) -> Judged<'c> {
    let what = format!("lkdtm {}", probe.test);
    let none = |result| Judged {
        result,
        step: None,
        console,
    };
    let Some(c) = console else {
        return none(unobserved(name, &what, boot));
    };
    if let Some(load) = c.step(LKDTM_LOAD_STEP) {
        if load.rc.is_some_and(|rc| rc != 0) {
            return none(CheckResult::new(
                name,
                Status::Fail,
                format!("lkdtm did not load, so {} could not run", probe.test),
            ));
        }
    }
    let Some(step) = c.step(&lkdtm_probe_step(probe.test)) else {
        return none(unobserved(name, &what, boot));
    };
    let window: Vec<String> = c
        .window(&step)
        .filter(|(_, l)| !l.trim().is_empty())
        .take(40)
        .map(|(n, l)| format!("console line {n}: {}", message(l)))
        .collect();
    let result = |status, msg: String| Judged {
        result: CheckResult::new(name, status, msg).with(window.clone()),
        step: Some(step),
        console,
    };
    if !step.finished {
        return result(
            Status::Fail,
            format!(
                "{} never returned to init: the kernel died ({})",
                probe.test, boot.message
            ),
        );
    }
    let alternatives = lkdtm.for_test(probe.test);
    let mut expected = None;
    // lkdtm's own `ERROR:` lines: its test could not decide this time
    // (REPORT_STACK_CANARY's canary search), which is not the kernel's verdict.
    let mut undecided = Vec::new();
    for (n, line) in c.window(&step) {
        let msg = message(line);
        if expected.is_none() && msg.starts_with("lkdtm: ERROR:") {
            undecided.push(format!("console line {n}: {msg}"));
        }
        if msg.contains("XFAIL:") {
            return result(
                Status::Skipped,
                format!(
                    "lkdtm says this kernel cannot run {}: console line {n}: {msg}",
                    probe.test
                ),
            );
        }
        if msg.contains("FAIL:") {
            return result(
                Status::Fail,
                format!("{} failed: console line {n}: {msg}", probe.test),
            );
        }
        let lower = msg.to_lowercase();
        if expected.is_none() && alternatives.iter().any(|a| lower.contains(a.as_str())) {
            expected = Some((n, format!("console line {n}: {msg}")));
        }
    }
    let preamble = find_preamble(c, &step, &expected_lines(probe.test, probe.preamble));
    let trap = first_trap(c, &step, arch);
    if let Some(t) = &trap {
        if !preamble.complete_before(t.line) {
            return result(
                Status::Fail,
                format!(
                    "{} trapped before it printed `{}`: {}; expected {} after its own lines",
                    probe.test,
                    preamble.first_not_before(t.line),
                    t.describe(),
                    expected_trap(probe, &preamble)
                ),
            );
        }
    }
    if let Some(missing) = &preamble.missing {
        return result(
            Status::Fail,
            format!(
                "{} never printed its own line `{missing}`, so what came was not its test",
                probe.test
            ),
        );
    }
    let site = match (probe.trap, &trap) {
        (ProbeTrap::None, Some(t)) => Err(format!(
            "{} trapped where it should only report: {}",
            probe.test,
            t.describe()
        )),
        (ProbeTrap::None, None) => Ok(String::new()),
        (_, None) => Err(format!(
            "{} did not trap: expected {}",
            probe.test,
            expected_trap(probe, &preamble)
        )),
        (ProbeTrap::In(function), Some(t)) => match &t.site {
            Site::Fault { pc: Some(pc), .. } if is_function(pc, function) => {
                Ok(format!("{}; ", t.describe()))
            }
            _ => Err(format!(
                "{} trapped at another site: {}; expected {}",
                probe.test,
                t.describe(),
                expected_trap(probe, &preamble)
            )),
        },
        (ProbeTrap::AtPrintedAddress, Some(t)) => {
            let printed = printed_address(&preamble);
            match (&t.site, printed) {
                // The pc at the address lkdtm printed, as the register
                // dump gives it or as the fetch fault names it.
                (Site::Fault { pc, fetch }, Some(want))
                    if [pc, fetch]
                        .into_iter()
                        .flatten()
                        .any(|a| address(a).as_ref() == Some(&want)) =>
                {
                    Ok(format!("{}; ", t.describe()))
                }
                _ => Err(format!(
                    "{} trapped at another site: {}; expected {}",
                    probe.test,
                    t.describe(),
                    expected_trap(probe, &preamble)
                )),
            }
        }
    };
    let site = match site {
        Ok(s) => s,
        Err(msg) => return result(Status::Fail, msg),
    };
    let retried = if undecided.is_empty() {
        String::new()
    } else {
        format!(
            "; lkdtm could not decide before that ({})",
            undecided.join("; ")
        )
    };
    match expected {
        Some((n, at)) if preamble.complete_at.is_some_and(|p| p < n) => result(
            Status::Pass,
            format!(
                "{} behaved as tests.txt expects: {site}{at}; after its own lines ({}){retried}",
                probe.test,
                preamble.found.join("; ")
            ),
        ),
        _ => result(
            Status::Fail,
            format!(
                "{} did not print what tests.txt expects (`{}`) after its own lines{retried}",
                probe.test,
                alternatives.join("` or `")
            ),
        ),
    }
}

/// The address the last preamble line ends with (EXEC_RODATA's `attempting
/// bad execution at <addr>`).
fn printed_address(preamble: &Preamble) -> Option<String> {
    preamble
        .last_message
        .as_deref()
        .and_then(|m| m.split_whitespace().last())
        .and_then(address)
}

/// The trap a probe expects, in words.
fn expected_trap(probe: LkdtmProbe, preamble: &Preamble) -> String {
    match probe.trap {
        ProbeTrap::None => "no trap".to_owned(),
        ProbeTrap::In(f) => format!("a fault with the pc in {f}"),
        ProbeTrap::AtPrintedAddress => match printed_address(preamble) {
            Some(a) => format!("a fault with the pc at the address lkdtm printed, {a}"),
            None => "a fault with the pc at the address lkdtm prints".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::guest::protocol::{EXCEPTION, EXEC_RODATA, REPORT_STACK_CANARY};
    use crate::stages::boot::BootOutcome;

    fn run_on(arch: Arch, log: &str, probe: LkdtmProbe) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        std::fs::write(&path, log).unwrap();
        let outcome = BootOutcome::of_log(log, path);
        let console = Console::read(&outcome);
        let boot = CheckResult::new("boot", Status::Pass, "ok");
        let lkdtm = LkdtmExpectations::load(None);
        judge("x", probe, arch.profile(), Some(&console), &boot, &lkdtm).result
    }

    fn run(log: &str, probe: LkdtmProbe) -> CheckResult {
        run_on(Arch::X86_64, log, probe)
    }

    fn probe_log(test: &str, body: &str, rc: i32) -> String {
        format!("@@LTOH STEP cfi-load-lkdtm\n@@LTOH RESULT cfi-load-lkdtm rc=0\n@@LTOH STEP lkdtm-{test}\n{body}@@LTOH RESULT lkdtm-{test} rc={rc}\n")
    }

    /// Console lines with a printk timestamp each.
    fn stamped(lines: &str) -> String {
        lines
            .lines()
            .map(|l| format!("[    1.100000] {l}\n"))
            .collect()
    }

    /// x86_64-lto-full-cfi's EXEC_RODATA, as a real boot printed it (the
    /// window kept in tests/fixtures/profiles/cold-sequential/results.json).
    const X86_EXEC_RODATA: &str = "lkdtm: Performing direct entry EXEC_RODATA
lkdtm: attempting ok execution at ffffffffa0001608
lkdtm: attempting bad execution at ffffffffa000a010
kernel tried to execute NX-protected page - exploit attempt? (uid: 0)
BUG: unable to handle page fault for address: ffffffffa000a010
#PF: supervisor instruction fetch in kernel mode
#PF: error_code(0x0011) - permissions violation
Oops: Oops: 0011 [#2]
CPU: 0 UID: 0 PID: 53 Comm: sh Tainted: G      D            6.12.117 #1 
RIP: 0010:0xffffffffa000a010
Code: Unable to access opcode bytes at 0xffffffffa0009fe6.
Call Trace:
 <TASK>
 ? execute_location+0x48/0x60 [lkdtm]
 ? lkdtm_do_action+0x28/0x30 [lkdtm]
 ? direct_entry+0xbc/0xd8 [lkdtm]
 </TASK>
---[ end trace 0000000000000000 ]---
RIP: 0010:lkdtm_indirect_call+0x1b/0x20 [lkdtm]
";

    /// arm64-lto-full-cfi's EXEC_RODATA (the same results.json).
    const ARM64_EXEC_RODATA: &str = "lkdtm: Performing direct entry EXEC_RODATA
lkdtm: attempting ok execution at ffff8000786c28dc
lkdtm: attempting bad execution at ffff8000786cd138
Unable to handle kernel execute from non-executable memory at virtual address ffff8000786cd138
Mem abort info:
Internal error: Oops: 000000008600000f [#3] SMP
pc : 0xffff8000786cd138
lr : execute_location+0x70/0x94 [lkdtm]
Call trace:
 0xffff8000786cd138
 lkdtm_EXEC_RODATA+0x24/0x34 [lkdtm]
 lkdtm_do_action+0x3c/0x58 [lkdtm]
";

    /// x86_64's REPORT_STACK_CANARY, written twice (the same results.json).
    const CANARY: &str = "lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: Recorded stack canary for pid 55 at offset 1
lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: ok: stack canaries differ between pid 55 and pid 54 at offset 1.
";

    /// An x86_64 EXCEPTION: lkdtm_EXCEPTION() writes to address 0.
    const X86_EXCEPTION: &str = "lkdtm: Performing direct entry EXCEPTION
BUG: kernel NULL pointer dereference, address: 0000000000000000
#PF: supervisor write access in kernel mode
Oops: Oops: 0002 [#1]
RIP: 0010:lkdtm_EXCEPTION+0x4/0x10 [lkdtm]
Call Trace:
 <TASK>
 lkdtm_do_action+0x23/0x30 [lkdtm]
 direct_entry+0xb7/0xc8 [lkdtm]
 </TASK>
";

    #[test]
    fn real_exec_rodata_windows_pass_naming_the_printed_address() {
        let ok = run(
            &probe_log("EXEC_RODATA", &stamped(X86_EXEC_RODATA), 139),
            EXEC_RODATA,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(
            ok.message
                .contains("(a fault with the pc in 0xffffffffa000a010)")
                && ok
                    .message
                    .contains("lkdtm: attempting bad execution at ffffffffa000a010"),
            "{}",
            ok.message
        );
        let ok = run_on(
            Arch::Arm64,
            &probe_log("EXEC_RODATA", &stamped(ARM64_EXEC_RODATA), 139),
            EXEC_RODATA,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let bad = run(
            &probe_log("EXEC_RODATA", "[ 1.0] lkdtm: Performing direct entry EXEC_RODATA\n[ 1.0] lkdtm: attempting ok execution at ffff\n[ 1.0] lkdtm: attempting bad execution at ffff\n[ 1.0] lkdtm: FAIL: func returned\n", 0),
            EXEC_RODATA,
        );
        assert_eq!(bad.status, Status::Fail);
        assert!(
            bad.message.contains("FAIL: func returned"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn exec_rodata_without_its_lines_or_faulting_elsewhere_fails_naming_the_site() {
        // The test's lines gone: the Oops is not EXEC_RODATA's.
        let body: String = X86_EXEC_RODATA
            .lines()
            .filter(|l| !l.starts_with("lkdtm: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = run(&probe_log("EXEC_RODATA", &stamped(&body), 139), EXEC_RODATA);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "EXEC_RODATA trapped before it printed `lkdtm: Performing direct entry EXEC_RODATA`: \
             console line 5: BUG: unable to handle page fault for address: ffffffffa000a010 \
             (a fault with the pc in 0xffffffffa000a010); expected a fault with the pc at the \
             address lkdtm prints after its own lines"
        );
        // 7.1's x86 names the pc by the nearest module symbol, far past
        // its end; the fetch fault's address is the printed one: a pass.
        let named = X86_EXEC_RODATA.replace(
            "RIP: 0010:0xffffffffa000a010",
            "RIP: 0010:lkdtm_usercopy_exit+0x202108/0x88 [lkdtm]",
        );
        let r = run(
            &probe_log("EXEC_RODATA", &stamped(&named), 139),
            EXEC_RODATA,
        );
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains(
                "(a fault with the pc in lkdtm_usercopy_exit, an instruction fetch from ffffffffa000a010)"
            ),
            "{}",
            r.message
        );
        // The fault's pc is not the address lkdtm printed (nor is the
        // fetch's).
        let moved = X86_EXEC_RODATA
            .replace(
                "RIP: 0010:0xffffffffa000a010",
                "RIP: 0010:execute_location+0x48/0x60 [lkdtm]",
            )
            .replace(
                "for address: ffffffffa000a010",
                "for address: ffffffffa000b000",
            );
        let r = run(
            &probe_log("EXEC_RODATA", &stamped(&moved), 139),
            EXEC_RODATA,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "EXEC_RODATA trapped at another site: console line 8: BUG: unable to handle page \
             fault for address: ffffffffa000b000 (a fault with the pc in execute_location, an \
             instruction fetch from ffffffffa000b000); expected a fault with the pc at the \
             address lkdtm printed, ffffffffa000a010"
        );
        // Another trap first, after the test's lines.
        let first = X86_EXEC_RODATA.replace(
            "kernel tried to execute",
            "BUG: kernel NULL pointer dereference, address: 0000000000000008\nRIP: 0010:do_nothing+0x1/0x8 [lkdtm]\nkernel tried to execute",
        );
        let r = run(
            &probe_log("EXEC_RODATA", &stamped(&first), 139),
            EXEC_RODATA,
        );
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("EXEC_RODATA trapped at another site: console line 7: BUG: kernel NULL pointer dereference")
                && r.message.contains("(a fault with the pc in do_nothing)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn canaries_that_differ_pass_and_identical_ones_fail() {
        let ok = run(
            &probe_log("REPORT_STACK_CANARY", &stamped(CANARY), 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(
            ok.message
                .contains("lkdtm: Recorded stack canary for pid 55 at offset 1"),
            "{}",
            ok.message
        );
        let bad = run(
            &probe_log(
                "REPORT_STACK_CANARY",
                "[ 1.0] lkdtm: FAIL: canary identical for pid 50 and pid 51\n",
                0,
            ),
            REPORT_STACK_CANARY,
        );
        assert_eq!(bad.status, Status::Fail);
        // lkdtm's canary search moved (a real arm64 full-LTO boot): the
        // next task compares again and the test passes, saying so.
        let moved = "lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: Recorded stack canary for pid 63 at offset 1
lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: ERROR: canary offset changed from 1 to 15!?
lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: ok: stack canaries differ between pid 63 and pid 65 at offset 1.
lkdtm: Performing direct entry REPORT_STACK_CANARY
lkdtm: Recorded stack canary for pid 66 at offset 1
";
        let r = run(
            &probe_log("REPORT_STACK_CANARY", &stamped(moved), 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.ends_with(
                "; lkdtm could not decide before that (console line 7: lkdtm: ERROR: canary offset changed from 1 to 15!?)"
            ),
            "{}",
            r.message
        );
        // Never decided: a fail that shows lkdtm's words.
        let never = moved.replace(
            "ok: stack canaries differ between pid 63 and pid 65",
            "ERROR: canary offset changed from 1 to 15!? pid 65",
        );
        let r = run(
            &probe_log("REPORT_STACK_CANARY", &stamped(&never), 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message.contains("lkdtm could not decide"),
            "{}",
            r.message
        );
        let xfail = run(
            &probe_log(
                "REPORT_STACK_CANARY",
                "[ 1.0] lkdtm: XFAIL: this test requires CONFIG_STACKPROTECTOR\n",
                0,
            ),
            REPORT_STACK_CANARY,
        );
        assert_eq!(xfail.status, Status::Skipped);
        let silent = run(
            &probe_log("REPORT_STACK_CANARY", "", 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(silent.status, Status::Fail);
        // The first write never recorded a canary: the `ok` is not this run's.
        let unrecorded: String = CANARY
            .lines()
            .filter(|l| !l.contains("Recorded"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = run(
            &probe_log("REPORT_STACK_CANARY", &stamped(&unrecorded), 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "REPORT_STACK_CANARY never printed its own line `lkdtm: Recorded stack canary for pid `, \
             so what came was not its test"
        );
        // A trap in a test that only reports.
        let trapped = CANARY.replace(
            "lkdtm: ok:",
            "BUG: kernel NULL pointer dereference, address: 0000000000000000\nRIP: 0010:__lkdtm_REPORT_STACK_CANARY+0x9/0x90 [lkdtm]\nlkdtm: ok:",
        );
        let r = run(
            &probe_log("REPORT_STACK_CANARY", &stamped(&trapped), 0),
            REPORT_STACK_CANARY,
        );
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with(
                "REPORT_STACK_CANARY trapped where it should only report: console line 7: BUG:"
            ) && r.message.contains("pc in __lkdtm_REPORT_STACK_CANARY"),
            "{}",
            r.message
        );
    }

    #[test]
    fn exception_faults_in_lkdtm_exception_and_nowhere_else() {
        let ok = run(
            &probe_log("EXCEPTION", &stamped(X86_EXCEPTION), 139),
            EXCEPTION,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        // The fault came from lkdtm's dispatcher, not the test.
        let elsewhere =
            X86_EXCEPTION.replace("lkdtm_EXCEPTION+0x4/0x10", "lkdtm_do_action+0x23/0x30");
        let r = run(
            &probe_log("EXCEPTION", &stamped(&elsewhere), 139),
            EXCEPTION,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "EXCEPTION trapped at another site: console line 5: BUG: kernel NULL pointer \
             dereference, address: 0000000000000000 (a fault with the pc in lkdtm_do_action); \
             expected a fault with the pc in lkdtm_EXCEPTION"
        );
        // An Oops before lkdtm said it ran the test.
        let early = format!(
            "BUG: kernel NULL pointer dereference, address: 0000000000000000\nRIP: 0010:direct_entry+0x10/0xc8 [lkdtm]\n{X86_EXCEPTION}"
        );
        let r = run(&probe_log("EXCEPTION", &stamped(&early), 139), EXCEPTION);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("EXCEPTION trapped before it printed `lkdtm: Performing direct entry EXCEPTION`: console line 4: BUG:")
                && r.message.contains("(a fault with the pc in direct_entry)"),
            "{}",
            r.message
        );
        // No trap at all.
        let r = run(
            &probe_log(
                "EXCEPTION",
                "[ 1.0] lkdtm: Performing direct entry EXCEPTION\n",
                0,
            ),
            EXCEPTION,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "EXCEPTION did not trap: expected a fault with the pc in lkdtm_EXCEPTION"
        );
    }

    #[test]
    fn a_probe_that_never_returns_fails_and_one_never_run_is_unobserved() {
        let died = run(
            "@@LTOH STEP lkdtm-EXEC_RODATA\n[ 1.0] Kernel panic - not syncing: x\n",
            EXEC_RODATA,
        );
        assert_eq!(died.status, Status::Fail);
        assert!(died.message.contains("never returned"), "{}", died.message);
        let never = run("nothing\n", EXEC_RODATA);
        assert_eq!(never.status, Status::Fail);
        assert!(never.message.starts_with("never saw"), "{}", never.message);
    }
}
