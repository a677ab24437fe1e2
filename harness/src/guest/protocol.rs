//! The protocol between the harness and the guest's `/init`: the marker
//! lines `/init` prints on the console and the names of its steps. The
//! init script ([`super::init`]) prints them, the console parser
//! ([`crate::console`]) finds them, and the checks read them by these
//! names; all three take them from here.
//!
//! ```text
//! @@LTOH BEGIN <case>            init started
//! @@LTOH STEP <step>             a step starts
//! @@LTOH RESULT <step> rc=<n>    it ended with exit code n
//! @@LTOH COMMAND <i>             the case's i-th init command starts
//! @@LTOH FACT <kind> <args...>   what a mechanism step saw (notes, sections, ftrace)
//! @@LTOH AGENT ready             a bench agent waits for a workload line
//! @@LTOH STAMP ...               lto-bench: the guest clock at init's start
//! @@LTOH BENCH ...               lto-bench: one workload sample's figures
//! @@LTOH END rc=<n>              init is done (n: 0 when every step passed)
//! ```
//!
//! `STAMP` and `BENCH` are printed by the workload program
//! (`images/workloads/lto-bench.c`), the rest by `/init`.

/// The word every marker line starts with.
pub const MARKER: &str = "@@LTOH";

/// A marker's kind: the word after [`MARKER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Begin,
    Step,
    Result,
    Command,
    Fact,
    Agent,
    Stamp,
    Bench,
    End,
}

impl Marker {
    pub const ALL: [Marker; 9] = [
        Marker::Begin,
        Marker::Step,
        Marker::Result,
        Marker::Command,
        Marker::Fact,
        Marker::Agent,
        Marker::Stamp,
        Marker::Bench,
        Marker::End,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Marker::Begin => "BEGIN",
            Marker::Step => "STEP",
            Marker::Result => "RESULT",
            Marker::Command => "COMMAND",
            Marker::Fact => "FACT",
            Marker::Agent => "AGENT",
            Marker::Stamp => "STAMP",
            Marker::Bench => "BENCH",
            Marker::End => "END",
        }
    }

    /// Whether a parsed marker's kind (as the console parser keeps it) is this one.
    pub fn is(self, kind: &str) -> bool {
        kind == self.keyword()
    }
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The argument of a RESULT or END marker that carries the exit code.
pub fn rc_arg(arg: &str) -> Option<i32> {
    arg.strip_prefix("rc=").and_then(|v| v.parse().ok())
}

/// The steps `/init` runs for each module the case loads, in order; a
/// module's steps stop at its first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleStep {
    /// `insmod /lib/modules/<m>.ko`.
    Insmod,
    /// It is in /proc/modules.
    Listed,
    /// `rmmod <m>`.
    Rmmod,
    /// It is gone from /proc/modules.
    Unlisted,
}

impl ModuleStep {
    pub const ALL: [ModuleStep; 4] = [
        ModuleStep::Insmod,
        ModuleStep::Listed,
        ModuleStep::Rmmod,
        ModuleStep::Unlisted,
    ];

    pub fn word(self) -> &'static str {
        match self {
            ModuleStep::Insmod => "insmod",
            ModuleStep::Listed => "listed",
            ModuleStep::Rmmod => "rmmod",
            ModuleStep::Unlisted => "unlisted",
        }
    }

    /// The step's name for module `m`: `insmod-test_module`.
    pub fn name(self, module: &str) -> String {
        format!("{}-{module}", self.word())
    }

    /// The shell command `/init` runs for it (helpers defined in the preamble).
    pub fn command(self, module: &str) -> String {
        match self {
            ModuleStep::Insmod => format!("insmod /lib/modules/{module}.ko"),
            ModuleStep::Listed => format!("in_proc_modules {module}"),
            ModuleStep::Rmmod => format!("rmmod {module}"),
            ModuleStep::Unlisted => format!("not_in_proc_modules {module}"),
        }
    }
}

/// The step that loads lkdtm for the CFI tests.
pub const LKDTM_LOAD_STEP: &str = "cfi-load-lkdtm";

/// Probe steps are named `cfi-<lkdtm test>`; they are expected to crash
/// their process.
const CFI_PROBE_PREFIX: &str = "cfi-";

/// The probe step of an lkdtm CFI test: `cfi-CFI_FORWARD_PROTO`.
pub fn cfi_probe_step(test: &str) -> String {
    format!("{CFI_PROBE_PREFIX}{test}")
}

/// The lkdtm test a step probes, if it is a CFI probe step.
pub fn cfi_probe_test(step: &str) -> Option<&str> {
    step.strip_prefix(CFI_PROBE_PREFIX)
        .filter(|t| t.starts_with("CFI_"))
}

/// Probe steps of lkdtm tests that check an LTO mechanism, not CFI:
/// `lkdtm-EXEC_RODATA`. Like CFI probes, they may crash their process.
const LKDTM_PROBE_PREFIX: &str = "lkdtm-";

/// An lkdtm test /init runs for a mechanism check: the crash type and how
/// many times it is written (tests.txt's `repeat:N`).
///
/// `preamble` and `trap` say what lkdtm's source (6.12 to 7.1) prints and
/// where the test must stop, for the checks to judge the test's own
/// lines, not any Oops in the probe's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LkdtmProbe {
    pub test: &'static str,
    pub repeat: u8,
    /// lkdtm's lines after the first `Performing direct entry <test>`, in
    /// order: each the start of an `lkdtm: ` message.
    pub preamble: &'static [&'static str],
    pub trap: ProbeTrap,
}

/// Where an lkdtm probe's test must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTrap {
    /// Nowhere: the test reports in words; any trap fails it.
    None,
    /// A fault with the faulting pc in this function.
    In(&'static str),
    /// A fault with the faulting pc at the address the last preamble line
    /// ends with (`attempting bad execution at <addr>`).
    AtPrintedAddress,
}

/// Executing from .rodata must fault: lkdtm's `rodata.o` stays outside LTO
/// (and CFI) so its function really lands in .rodata. perms.c's
/// `execute_location()` prints both attempts, then calls the .rodata
/// address: the fault's pc is that address.
pub const EXEC_RODATA: LkdtmProbe = LkdtmProbe {
    test: "EXEC_RODATA",
    repeat: 1,
    preamble: &[
        "attempting ok execution at ",
        "attempting bad execution at ",
    ],
    trap: ProbeTrap::AtPrintedAddress,
};
/// Two tasks' stack canaries differ: bugs.c records the first task's
/// canary, then compares the next one's. Written four times, not tests.txt's
/// two: the test finds the canary as the last of 15 stack words equal to
/// it, and a caller's stale copy further up can move that offset
/// (`ERROR: canary offset changed from 1 to 15!?`, seen on an arm64 full-LTO
/// kernel), after which lkdtm keeps the first record and the next task
/// compares again.
pub const REPORT_STACK_CANARY: LkdtmProbe = LkdtmProbe {
    test: "REPORT_STACK_CANARY",
    repeat: 4,
    preamble: &[
        "Recorded stack canary for pid ",
        "Performing direct entry REPORT_STACK_CANARY",
    ],
    trap: ProbeTrap::None,
};
/// A NULL dereference: an Oops with a call trace for the unwinder to walk
/// (tinyconfig has no CONFIG_BUG, so lkdtm's WARNING prints nothing).
/// bugs.c's `lkdtm_EXCEPTION()` prints nothing of its own and writes to
/// address 0: the fault's pc is in it.
pub const EXCEPTION: LkdtmProbe = LkdtmProbe {
    test: "EXCEPTION",
    repeat: 1,
    preamble: &[],
    trap: ProbeTrap::In("lkdtm_EXCEPTION"),
};

/// The probe step of a mechanism lkdtm test: `lkdtm-EXEC_RODATA`.
pub fn lkdtm_probe_step(test: &str) -> String {
    format!("{LKDTM_PROBE_PREFIX}{test}")
}

/// The step that gathers what the guest sees of a loaded module and of
/// the kernel: LTO notes, section names, ftrace (as FACT markers).
pub const MECH_FACTS_STEP: &str = "mech-facts";

/// The probe that loads a copy of a module with one `__versions` CRC bit
/// flipped: the kernel must refuse it.
pub const MODVERSIONS_PROBE: &str = "mech-modversions";

/// Where the initramfs keeps that copy: `/lib/modules/flipped/<m>.ko`.
pub fn flipped_module_path(module: &str) -> String {
    format!("/lib/modules/flipped/{module}.ko")
}

/// The step that runs `/bin/vdso-probe <clock_gettime symbol>`.
pub const VDSO_STEP: &str = "mech-vdso";

/// Whether a step is a probe, whose crash or failure is the probe's check's
/// business, not the boot's (a panic still is the boot's).
pub fn is_probe_step(step: &str) -> bool {
    cfi_probe_test(step).is_some()
        || step.starts_with(LKDTM_PROBE_PREFIX)
        || step == MODVERSIONS_PROBE
}

/// FACT kinds the mechanism step prints: `note <vmlinux|module> <hex>`,
/// `sections <module> <name>...`, `ftrace <module> key=value...`.
pub mod fact {
    pub const NOTE: &str = "note";
    pub const SECTIONS: &str = "sections";
    pub const FTRACE: &str = "ftrace";
    /// Printed by `/bin/vdso-probe` (images/probes/vdso-probe.c).
    pub const VDSO: &str = "vdso";
}

/// The kernel command-line word that tells init which boot of the kernel
/// this is (the kernel hands unknown `a_b=c` words to init's environment).
pub fn attempt_word(attempt: usize) -> String {
    format!("lto_harness_attempt={attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_cfi_tests_are_probes() {
        assert_eq!(ModuleStep::Insmod.name("test_module"), "insmod-test_module");
        assert_eq!(cfi_probe_step("CFI_BACKWARD"), "cfi-CFI_BACKWARD");
        assert_eq!(
            cfi_probe_test(&cfi_probe_step("CFI_FORWARD_PROTO")),
            Some("CFI_FORWARD_PROTO")
        );
        assert_eq!(cfi_probe_test(LKDTM_LOAD_STEP), None);
        assert!(is_probe_step(&lkdtm_probe_step(EXEC_RODATA.test)));
        assert!(is_probe_step(MODVERSIONS_PROBE));
        assert!(is_probe_step("cfi-CFI_BACKWARD"));
        assert!(!is_probe_step(MECH_FACTS_STEP));
        assert!(!is_probe_step(LKDTM_LOAD_STEP));
        assert_eq!(cfi_probe_test("insmod-lkdtm"), None);
        assert_eq!(rc_arg("rc=139"), Some(139));
        assert_eq!(rc_arg("rc=x"), None);
        for m in Marker::ALL {
            assert!(m.is(m.keyword()));
        }
    }
}
