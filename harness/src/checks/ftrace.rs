//! `ftrace.static` and `ftrace.boot`: the mcount sites under LTO. On x86
//! clang has no `-mrecord-mcount`, so objtool `--mcount --mnop` writes
//! `__mcount_loc` after the LTO link (once on vmlinux.o, once per module);
//! arm64 takes `__patchable_function_entries` from the compiler. With
//! `CC_USING_NOP_MCOUNT` the boot does not verify the sites, so a wrong
//! table is only seen statically or when a tracer patches it. Statically:
//! vmlinux's table is non-empty and every entry is a function start
//! holding the arch's NOP; each module has entries. At boot: no
//! `ftrace bug` lines, and the function tracer records events and lists
//! the module's functions.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::console::message;
use crate::guest::protocol::fact;
use crate::model::{CheckResult, Status};

pub const STATIC: &str = "ftrace.static";
pub const BOOT: &str = "ftrace.boot";

fn not_set(facts: &KernelFacts, name: &str) -> Option<CheckResult> {
    if let Err(e) = &facts.config {
        return Some(super::not_read(name, ".config", e));
    }
    ["CONFIG_FUNCTION_TRACER", "CONFIG_DYNAMIC_FTRACE"]
        .iter()
        .find(|s| facts.config_is_y(s) != Some(true))
        .map(|s| {
            CheckResult::new(
                name,
                Status::Skipped,
                format!("{s} is not set: no mcount sites"),
            )
        })
}

fn examples(v: &[(u64, String)]) -> String {
    v.iter()
        .take(3)
        .map(|(a, why)| format!("{a:#x}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    if let Some(r) = not_set(facts, STATIC) {
        return r;
    }
    let arch = case.arch.profile();
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let mut seen = Vec::new();
    match &facts.mech.vmlinux.mcount {
        Err(e) => unread.push(format!("vmlinux's mcount table: {e}")),
        Ok(None) => problems
            .push("vmlinux has no mcount table (__start_mcount_loc..__stop_mcount_loc)".into()),
        Ok(Some(f)) => {
            if f.entries == 0 {
                problems.push("vmlinux's mcount table is empty: no function can be traced".into());
            }
            if f.leftover_bytes > 0 {
                problems.push(format!(
                    "vmlinux's mcount table ends with {} bytes that are not a whole entry",
                    f.leftover_bytes
                ));
            }
            if f.not_function_start_count > 0 {
                problems.push(format!(
                    "{} of vmlinux's {} mcount entries are not function starts: {}",
                    f.not_function_start_count,
                    f.entries,
                    examples(&f.not_function_start)
                ));
            }
            if f.not_nop_count > 0 {
                problems.push(format!(
                    "{} of vmlinux's {} mcount sites do not hold the arch's NOP: {}",
                    f.not_nop_count,
                    f.entries,
                    examples(&f.not_nop)
                ));
            }
            if f.entries > 0 && f.null_entries == f.entries {
                seen.push(format!(
                    "vmlinux: {} sites, all zero in the file (filled in elsewhere: the boot check judges them)",
                    f.entries
                ));
            } else {
                seen.push(format!(
                    "vmlinux: {} sites, each a function start holding the NOP ({} after a landing pad{})",
                    f.entries.saturating_sub(f.unnamed_code),
                    f.after_landing_pad,
                    if f.null_entries > 0 {
                        format!(", {} zero and not judged", f.null_entries)
                    } else {
                        String::new()
                    },
                )
                    + &if f.unnamed_code > 0 {
                        format!(
                            "; {} in code no symbol covers (overridden weak functions the \
                             linker kept; the kernel skips them), holding the NOP",
                            f.unnamed_code
                        )
                    } else {
                        String::new()
                    });
            }
        }
    }
    // A module built without the ftrace flags has no site (lib/Makefile
    // removes CC_FLAGS_FTRACE for test_module); at least one module
    // (lkdtm) must have some.
    let mut traceable = 0;
    let mut untraceable = Vec::new();
    for (name, m) in &facts.mech.modules {
        match m.as_ref().map(|m| &m.mcount) {
            Err(e) | Ok(Err(e)) => unread.push(format!("{name}: {e}")),
            Ok(Ok(None)) => {
                untraceable.push(format!("{name}.ko has no {}", arch.module_mcount_section))
            }
            Ok(Ok(Some(mc))) if mc.entries.entries == 0 => untraceable.push(format!(
                "{name}.ko's {} is empty",
                arch.module_mcount_section
            )),
            Ok(Ok(Some(mc))) if mc.relocations < mc.entries.entries => problems.push(format!(
                "{name}.ko's {} has {} entries but {} relocations to fill them",
                arch.module_mcount_section, mc.entries.entries, mc.relocations
            )),
            Ok(Ok(Some(mc))) => {
                traceable += 1;
                seen.push(format!("{name}: {}", mc.entries.entries))
            }
        }
    }
    if traceable == 0 && !untraceable.is_empty() && unread.is_empty() {
        problems.push(format!(
            "no module has a traceable function: {}",
            untraceable.join("; ")
        ));
    } else {
        seen.extend(
            untraceable
                .iter()
                .map(|u| format!("{u} (no traceable function)")),
        );
    }
    super::verdict(STATIC, problems, unread, seen.join("; "))
}

/// What the kernel prints when a site is not what ftrace expects.
const BAD: [&str; 4] = [
    "ftrace bug",
    "ftrace failed to modify",
    "No functions to be traced?",
    "ftrace faulted",
];

pub fn boot_check(
    case: &Case,
    facts: Option<&KernelFacts>,
    console: Option<&Console>,
    boot: &CheckResult,
) -> CheckResult {
    if let Some(r) = facts.and_then(|f| not_set(f, BOOT)) {
        return r;
    }
    let Some(console) = console else {
        return unobserved(BOOT, "the function tracer", boot);
    };
    let mut allocating = None;
    for n in 1..=console.lines.len() {
        let msg = message(console.line(n));
        if let Some(b) = BAD.iter().find(|b| msg.contains(*b)) {
            return CheckResult::new(
                BOOT,
                Status::Fail,
                format!("console line {n}: {msg} (`{b}`)"),
            );
        }
        if allocating.is_none() && msg.starts_with("ftrace: allocating") {
            allocating = Some(msg.to_string());
        }
    }
    let Some(module) = case.facts_module() else {
        return CheckResult::new(BOOT, Status::Skipped, "the case loads no module");
    };
    let Some((line, args)) = console.fact(fact::FTRACE, &module) else {
        return unobserved(BOOT, "the function tracer step", boot);
    };
    if args.first().map(String::as_str) == Some("absent") {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!("the guest found no tracefs available_filter_functions (console line {line})"),
        );
    }
    let value = |k: &str| -> Option<i64> {
        args.iter()
            .find_map(|a| a.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
    };
    let mut problems = Vec::new();
    match value("filter_functions") {
        Some(n) if n > 0 => {}
        v => problems.push(format!(
            "available_filter_functions lists {} functions",
            v.unwrap_or(0)
        )),
    }
    match value("module_functions") {
        Some(n) if n > 0 => {}
        _ => problems.push(format!("none of {module}'s functions can be traced")),
    }
    match value("tracer_rc") {
        Some(0) => {}
        v => problems.push(format!(
            "enabling the function tracer failed (rc {})",
            v.unwrap_or(-1)
        )),
    }
    match value("events") {
        Some(n) if n > 0 => {}
        _ => problems.push("the function tracer recorded no events".into()),
    }
    if !problems.is_empty() {
        let p: Vec<String> = problems
            .iter()
            .map(|p| format!("{p} (console line {line})"))
            .collect();
        return CheckResult::new(BOOT, Status::Fail, p[0].clone()).with(p);
    }
    CheckResult::new(
        BOOT,
        Status::Pass,
        format!(
            "{}; the function tracer recorded {} events; {} of {} traceable functions are {module}'s",
            allocating.unwrap_or_else(|| "no `ftrace: allocating` line".into()),
            value("events").unwrap_or(0),
            value("module_functions").unwrap_or(0),
            value("filter_functions").unwrap_or(0),
        ),
    )
}

/// The family's checks: `ftrace.static`, `ftrace.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f)),
        boot_check(j.case, j.facts, j.console, j.boot),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::mechanism_facts::ModuleMechanisms;
    use crate::elf::ftrace::{McountFacts, ModuleMcount};
    use crate::elf::table::EntryCount;
    use std::path::Path;

    fn case() -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: thin\ncfi: on\nmodules: [lkdtm]\nchecks: [ftrace]\n",
        )
        .unwrap()
    }

    fn facts(entries: u64, not_nop: u64, module_entries: u64) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.config = Ok([
            ("CONFIG_FUNCTION_TRACER".to_string(), "y".to_string()),
            ("CONFIG_DYNAMIC_FTRACE".to_string(), "y".to_string()),
        ]
        .into());
        f.mech.vmlinux.mcount = Ok(Some(McountFacts {
            entries,
            not_nop_count: not_nop,
            not_nop: (0..not_nop)
                .map(|i| (0x1000 + i, "e8 00 00 00 00".into()))
                .collect(),
            ..Default::default()
        }));
        let mut m = ModuleMechanisms::empty("lkdtm");
        m.mcount = Ok(Some(ModuleMcount {
            entries: EntryCount::of(module_entries * 8, 8),
            relocations: module_entries,
        }));
        f.mech.modules.push(("lkdtm".into(), Ok(m)));
        f
    }

    #[test]
    fn a_full_table_of_nops_passes_and_each_break_is_named() {
        assert_eq!(
            static_check(&case(), &facts(9000, 0, 120)).status,
            Status::Pass
        );
        let empty = static_check(&case(), &facts(0, 0, 120));
        assert_eq!(empty.status, Status::Fail);
        assert!(empty.message.contains("empty"), "{}", empty.message);
        let calls = static_check(&case(), &facts(9000, 2, 120));
        assert!(
            calls
                .message
                .contains("2 of vmlinux's 9000 mcount sites do not hold"),
            "{}",
            calls.message
        );
        let module = static_check(&case(), &facts(9000, 0, 0));
        assert!(
            module.message.contains("lkdtm.ko's __mcount_loc is empty"),
            "{}",
            module.message
        );
    }

    #[test]
    fn without_the_tracer_it_is_a_skip() {
        let mut f = facts(9000, 0, 1);
        f.config = Ok(Default::default());
        assert_eq!(static_check(&case(), &f).status, Status::Skipped);
    }
}
