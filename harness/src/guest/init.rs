//! `/init`: the shell script the guest runs, built from one description of
//! what a case's boot does ([`InitPlan`]) for one purpose: a checking boot
//! (module steps, CFI probes, the case's commands, then reboot) or a
//! benchmark agent (the same without probes, a clock stamp at the start,
//! then a loop that runs workloads on request). Every step prints the
//! markers of [`super::protocol`]; `reboot -f` ends the boot (tinyconfig
//! has no ACPI, so `poweroff` would never make QEMU exit; with
//! `-no-reboot` a reboot does).

use super::protocol::{
    cfi_probe_step, flipped_module_path, lkdtm_probe_step, LkdtmProbe, ModuleStep, EXCEPTION,
    EXEC_RODATA, LKDTM_LOAD_STEP, MARKER, MECH_FACTS_STEP, MODVERSIONS_PROBE, REPORT_STACK_CANARY,
    VDSO_STEP,
};
use crate::arch::LkdtmCfiTest;
use crate::case::{Case, CheckKind};
use std::fmt::Write as _;

/// What the boot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Judge the kernel: every step the case's checks read.
    Check,
    /// Serve a benchmark: no CFI probes (their traps would be taken for
    /// the kernel failing, and a benchmark boot should do what the
    /// baseline's does), a clock stamp at the first marker, then an agent.
    Bench,
}

/// One thing `/init` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A module's steps, chained: they stop at the first failure.
    Module(String),
    /// Load lkdtm, then run each CFI test in a child shell (a trap must
    /// kill that process, not init, which would panic the kernel).
    CfiProbes(Vec<&'static LkdtmCfiTest>),
    /// Load the module and print what the guest sees of the LTO mechanisms
    /// (notes, the module's sections, ftrace) as FACT markers.
    MechanismFacts(String),
    /// Load lkdtm, then run each mechanism test in a child shell.
    LkdtmProbes(Vec<LkdtmProbe>),
    /// Load the copy of a module with a flipped CRC (must be refused).
    FlippedModule(String),
    /// Call the vDSO's clock_gettime (its symbol) with /bin/vdso-probe.
    Vdso(&'static str),
    /// The case's i-th init command.
    Command(usize, String),
}

/// What a case's `/init` does, in order.
#[derive(Debug, Clone)]
pub struct InitPlan {
    pub case: String,
    pub purpose: Purpose,
    pub items: Vec<Item>,
}

impl InitPlan {
    pub fn new(case: &Case, purpose: Purpose) -> InitPlan {
        let mut items = Vec::new();
        if case.wants(CheckKind::Modules) {
            items.extend(
                case.module_names()
                    .into_iter()
                    .map(|m| Item::Module(m.into())),
            );
        }
        let check = purpose == Purpose::Check;
        // After the module steps, so their own load/unload is judged first,
        // and before any probe crashes something.
        let facts = [
            CheckKind::LtoIdentity,
            CheckKind::ModuleSections,
            CheckKind::Ftrace,
        ];
        if check && facts.iter().any(|k| case.wants(*k)) {
            if let Some(m) = case.facts_module() {
                items.push(Item::MechanismFacts(m));
            }
        }
        if case.wants(CheckKind::Cfi) && check {
            let tests = case.arch.profile().cfi_tests.iter();
            items.push(Item::CfiProbes(tests.collect()));
        }
        let lkdtm: Vec<LkdtmProbe> = [
            (CheckKind::Islands, EXEC_RODATA),
            (CheckKind::StackProtector, REPORT_STACK_CANARY),
            (CheckKind::Orc, EXCEPTION),
        ]
        .into_iter()
        .filter(|(k, _)| check && case.wants(*k))
        .map(|(_, p)| p)
        .collect();
        if !lkdtm.is_empty() {
            items.push(Item::LkdtmProbes(lkdtm));
        }
        if check && case.wants(CheckKind::Vdso) {
            if let Some(sym) = case.arch.profile().vdso_exports.first() {
                items.push(Item::Vdso(sym));
            }
        }
        if check && case.wants(CheckKind::Modversions) {
            if let Some(m) = case.flipped_module() {
                items.push(Item::FlippedModule(m));
            }
        }
        items.extend(
            case.init_commands
                .iter()
                .enumerate()
                .map(|(i, l)| Item::Command(i, l.clone())),
        );
        InitPlan {
            case: case.name.clone(),
            purpose,
            items,
        }
    }

    /// The script.
    pub fn render(&self) -> String {
        let mut s = preamble(&self.case);
        if self.purpose == Purpose::Bench {
            // Stamp the guest clock right at the init's first marker.
            s.push_str("/bin/lto-bench stamp\n");
        }
        s.push_str(&HELPERS.replace("{m}", MARKER));
        for item in &self.items {
            render_item(&mut s, item);
        }
        if self.purpose == Purpose::Bench {
            s.push_str(&AGENT_LOOP.replace("{m}", MARKER));
        }
        let _ = write!(s, "echo \"{MARKER} END rc=$rc\"\nsync\nreboot -f\n");
        s
    }
}

/// The `/init` of a checking boot.
pub fn init_script(case: &Case) -> String {
    InitPlan::new(case, Purpose::Check).render()
}

/// `/init` for a benchmark guest: after the case's own steps it runs the
/// plan given on the kernel command line (if any), then becomes an agent
/// that reads `WORKLOAD ITERATIONS` lines from the console, runs them with
/// lto-bench, and prints `@@LTOH AGENT ready` when it waits; `quit` ends it.
pub fn agent_init_script(case: &Case) -> String {
    InitPlan::new(case, Purpose::Bench).render()
}

fn preamble(case: &str) -> String {
    format!(
        r#"#!/bin/sh
# Generated by lto-harness for case {case}. Every step prints
# "{m} STEP <name>" and "{m} RESULT <name> rc=<n>"; the harness reads them.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "{m} BEGIN {case}"
"#,
        m = MARKER
    )
}

/// Shell helpers every script defines: `step` (its rc counts towards
/// init's), `probe` (its rc is the harness's to judge) and module lookups.
const HELPERS: &str = r#"rc=0
step() {
    name=$1; shift
    echo "{m} STEP $name"
    "$@"
    r=$?
    echo "{m} RESULT $name rc=$r"
    [ $r -eq 0 ] || rc=1
    return $r
}
# A probe may fail on purpose (a CFI trap kills its process): its rc is
# judged by the harness, not folded into the init's own rc.
probe() {
    name=$1; shift
    echo "{m} STEP $name"
    "$@"
    r=$?
    echo "{m} RESULT $name rc=$r"
}
in_proc_modules() { grep -q "^$1 " /proc/modules; }
not_in_proc_modules() { ! grep -q "^$1 " /proc/modules; }
load_once() { in_proc_modules $1 || insmod /lib/modules/$1.ko; }
hex() { od -An -tx1 -v "$1" 2>/dev/null | tr -d ' \n'; }
# What the guest sees of the LTO mechanisms, as FACT lines: the kernel's
# and a loaded module's ELF notes, the module's sections, and ftrace (the
# filter functions, the module's among them, and whether the function
# tracer records events).
mech_facts() {
    m=$1
    load_once $m || return 1
    echo "{m} FACT note vmlinux $(hex /sys/kernel/notes)"
    echo "{m} FACT note $m $(hex /sys/module/$m/notes/.note.Linux)"
    echo "{m} FACT sections $m $(ls -a /sys/module/$m/sections 2>/dev/null | tr '\n' ' ')"
    t=/sys/kernel/tracing
    [ -e $t/available_filter_functions ] || mount -t tracefs nodev $t 2>/dev/null
    if [ ! -e $t/available_filter_functions ]; then
        echo "{m} FACT ftrace $m absent"
        return 0
    fi
    n=$(wc -l < $t/available_filter_functions)
    mf=$(grep -c "\[$m\]" $t/available_filter_functions)
    echo function > $t/current_tracer
    r=$?
    ls / > /dev/null
    cat /proc/version > /dev/null
    # Stop recording before counting: switching tracers empties the buffer.
    echo 0 > $t/tracing_on
    ev=$(grep -vc '^#' $t/trace)
    echo nop > $t/current_tracer
    echo > $t/trace
    echo 1 > $t/tracing_on
    echo "{m} FACT ftrace $m filter_functions=$n module_functions=$mf tracer_rc=$r events=$ev"
}
"#;

fn render_item(s: &mut String, item: &Item) {
    match item {
        Item::Module(m) => {
            let steps: Vec<String> = ModuleStep::ALL
                .iter()
                .map(|st| format!("step {} {}", st.name(m), st.command(m)))
                .collect();
            s.push_str(&steps.join(" &&\n"));
            s.push('\n');
        }
        Item::CfiProbes(tests) => {
            let _ = write!(s, "step {LKDTM_LOAD_STEP} load_once lkdtm &&\n{{\n");
            for t in tests {
                let write = format!("echo {} > /sys/kernel/debug/provoke-crash/DIRECT", t.name);
                // A probabilistic protection gets more tries, each in a new
                // task, until one does not return (a trap kills it).
                let command = if t.attempts > 1 {
                    let tries: Vec<String> = (1..=t.attempts).map(|i| i.to_string()).collect();
                    format!(
                        "for i in {}; do ({write}) || exit $?; done",
                        tries.join(" ")
                    )
                } else {
                    write
                };
                let _ = writeln!(s, "probe {} sh -c '{command}'", cfi_probe_step(t.name));
            }
            s.push_str("true\n}\n");
        }
        Item::MechanismFacts(m) => {
            let _ = writeln!(s, "step {MECH_FACTS_STEP} mech_facts {m}");
        }
        Item::LkdtmProbes(probes) => {
            let _ = write!(s, "step {LKDTM_LOAD_STEP} load_once lkdtm &&\n{{\n");
            for p in probes {
                // Each write from its own process (a subshell): a test
                // that compares two tasks (REPORT_STACK_CANARY) needs two pids.
                let write = format!("(echo {} > /sys/kernel/debug/provoke-crash/DIRECT)", p.test);
                let writes = vec![write; p.repeat as usize];
                let _ = writeln!(
                    s,
                    "probe {} sh -c '{}'",
                    lkdtm_probe_step(p.test),
                    writes.join("; ")
                );
            }
            s.push_str("true\n}\n");
        }
        Item::Vdso(sym) => {
            let _ = writeln!(s, "step {VDSO_STEP} /bin/vdso-probe {sym}");
        }
        Item::FlippedModule(m) => {
            let _ = writeln!(
                s,
                "probe {MODVERSIONS_PROBE} insmod {}",
                flipped_module_path(m)
            );
        }
        Item::Command(i, line) => {
            let _ = write!(s, "echo \"{MARKER} COMMAND {i}\"\n{line}\n");
        }
    }
}

/// The benchmark agent's loop, before its END marker.
const AGENT_LOOP: &str = r#"mount -t tmpfs tmpfs /tmp 2>/dev/null
stty -echo 2>/dev/null
# A plan on the kernel command line (lto_bench_plan=w:n,w:n,...) runs
# before any console input is read: no input, no host timing, so under
# -icount the whole boot is a pure function of its inputs.
if [ -n "$lto_bench_plan" ]; then
    for item in $(echo "$lto_bench_plan" | tr , ' '); do
        /bin/lto-bench "${item%%:*}" "${item#*:}"
    done
fi
while echo "{m} AGENT ready"; read -r workload iterations; do
    [ "$workload" = quit ] && break
    /bin/lto-bench "$workload" "$iterations"
done
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::protocol::Marker;
    use std::path::Path;

    fn case(extra: &str) -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            &format!("arch: x86_64\nlto: none\ncfi: off\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn the_helpers_print_the_protocols_markers() {
        assert!(HELPERS.contains(&format!("{{m}} {} $name", Marker::Step.keyword())));
        assert!(HELPERS.contains(&format!("{{m}} {} $name rc=$r", Marker::Result.keyword())));
        assert!(AGENT_LOOP.contains(&format!("{{m}} {} ready", Marker::Agent.keyword())));
    }

    #[test]
    fn one_plan_two_purposes() {
        let c =
            case("modules: [test_module]\nchecks: [modules, cfi]\ninit_commands: ['echo hi']\n");
        let check = InitPlan::new(&c, Purpose::Check);
        let bench = InitPlan::new(&c, Purpose::Bench);
        assert!(matches!(check.items[1], Item::CfiProbes(_)));
        assert!(!bench.items.iter().any(|i| matches!(i, Item::CfiProbes(_))));
        assert_eq!(bench.items.len(), check.items.len() - 1);
        let a = bench.render();
        let stamp = a
            .find("BEGIN c\"\n/bin/lto-bench stamp\n")
            .expect("stamp after BEGIN");
        let agent = a.find("AGENT ready").unwrap();
        assert!(stamp < a.find("step insmod-test_module").unwrap());
        assert!(a.find("COMMAND 0").unwrap() < agent);
        assert!(agent < a.find("END rc=$rc").unwrap());
        assert_eq!(a.matches("END rc=").count(), 1);
    }

    #[test]
    fn init_script_has_markers_steps_and_reboot() {
        let case = Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: none\ncfi: off\nmodules: [test_module]\nchecks: [modules]\ninit_commands: ['echo hi']\n",
        )
        .unwrap();
        let s = init_script(&case);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("echo \"@@LTOH BEGIN c\""));
        assert!(s.contains("step insmod-test_module insmod /lib/modules/test_module.ko"));
        assert!(s.contains("step rmmod-test_module rmmod test_module"));
        let end = s.find("@@LTOH END").unwrap();
        assert!(s.find("echo hi").unwrap() < end);
        assert!(s.trim_end().ends_with("reboot -f"));
        // The agent stamps the clock right at the first marker, before any step.
        let a = agent_init_script(&case);
        let begin = a
            .find("@@LTOH BEGIN c\"\n/bin/lto-bench stamp\n")
            .expect("stamp after BEGIN");
        assert!(begin < a.find("step insmod-test_module").unwrap());
        assert!(a.contains("AGENT ready") && a.trim_end().ends_with("reboot -f"));
    }

    #[test]
    fn cfi_probes_run_in_children_after_the_module_steps_but_not_in_benchmarks() {
        let case = Case::parse(
            Path::new("/x/c.yaml"),
            "arch: arm64\nlto: full\ncfi: on\nmodules: [lkdtm]\nchecks: [modules, cfi]\n",
        )
        .unwrap();
        let s = init_script(&case);
        let fwd = s
            .find("probe cfi-CFI_FORWARD_PROTO sh -c 'echo CFI_FORWARD_PROTO > /sys/kernel/debug/provoke-crash/DIRECT'")
            .expect("forward probe in a child shell");
        assert!(s.find("step unlisted-lkdtm").unwrap() < s.find("step cfi-load-lkdtm").unwrap());
        assert!(s.find("step cfi-load-lkdtm").unwrap() < fwd);
        assert!(
            s.contains("probe cfi-CFI_BACKWARD sh -c 'for i in 1 2 3; do (echo CFI_BACKWARD > /sys/kernel/debug/provoke-crash/DIRECT) || exit $?; done'"),
            "arm64 also runs CFI_BACKWARD, up to three times"
        );
        assert!(fwd < s.find("@@LTOH END").unwrap());
        let a = agent_init_script(&case);
        assert!(
            !a.contains("CFI_"),
            "a benchmark boot must not provoke traps"
        );
        assert!(a.contains("step insmod-lkdtm"));
    }

    #[test]
    fn mechanism_steps_follow_the_checks_and_probes_fork_per_write() {
        let c = case(
            "modules: [test_module, lkdtm]\nchecks: [modules, cfi, lto_identity, modversions, islands, stack_protector, vdso]\n",
        );
        let s = init_script(&c);
        let at = |needle: &str| {
            s.find(needle)
                .unwrap_or_else(|| panic!("no `{needle}` in\n{s}"))
        };
        // Facts before any probe can crash something; lkdtm is inspected.
        assert!(at("step mech-facts mech_facts lkdtm") < at("probe cfi-CFI_FORWARD_PROTO"));
        assert!(
            at("probe lkdtm-EXEC_RODATA sh -c '(echo EXEC_RODATA") > at("step insmod-test_module")
        );
        // Two writes from two processes, for two pids.
        let write = "(echo REPORT_STACK_CANARY > /sys/kernel/debug/provoke-crash/DIRECT)";
        assert!(
            s.contains(&format!(
                "probe lkdtm-REPORT_STACK_CANARY sh -c '{}'",
                [write; 4].join("; ")
            )),
            "{s}"
        );
        assert!(
            s.contains("probe mech-modversions insmod /lib/modules/flipped/test_module.ko"),
            "{s}"
        );
        assert!(
            s.contains("step mech-vdso /bin/vdso-probe __vdso_clock_gettime"),
            "{s}"
        );
        assert!(
            !s.contains("{m}") && s.contains("@@LTOH FACT note vmlinux"),
            "{s}"
        );
        // Nothing of it in a benchmark's init, nor without the checks.
        let bench = agent_init_script(&c);
        assert!(
            !bench.contains("step mech-") && !bench.contains("probe lkdtm-"),
            "{bench}"
        );
        let plain = init_script(&case("modules: [test_module]\nchecks: [modules]\n"));
        assert!(
            !plain.contains("step mech-") && !plain.contains("\nprobe "),
            "{plain}"
        );
    }
}
