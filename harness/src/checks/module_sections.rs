//! `module_sections.static` and `module_sections.boot`: under LTO,
//! `scripts/module.lds.S` merges a module's `.data.*`, `.bss.*` and
//! `.rodata.*` (and `..L*`) sections, which LTO's per-symbol sections would
//! otherwise leave split by the hundred (and `/sys/module/<m>/sections`
//! then tries to create duplicate names). Statically: no split or
//! duplicated section in an LTO `.ko`. At boot: no `sysfs: cannot create
//! duplicate filename` on the console, and the loaded module's
//! `/sys/module/<m>/sections` holds no split data section.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::console::message;
use crate::elf::sections::is_mergeable_name;
use crate::guest::protocol::fact;
use crate::model::{CheckResult, Lto, Status};
use std::path::Path;

pub const STATIC: &str = "module_sections.static";
pub const BOOT: &str = "module_sections.boot";

fn examples(v: &[String]) -> String {
    let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > 5 {
        s.push_str(", …");
    }
    s
}

/// How the tree's `scripts/module.lds.S` treats code sections: whether it
/// merges `.text.*` into `.text` (7.x does, for every module; 6.12 keeps
/// them apart). None without the tree or the script.
pub fn merges_text(tree: Option<&Path>) -> Option<bool> {
    let script = std::fs::read_to_string(tree?.join("scripts/module.lds.S")).ok()?;
    Some(script.contains(".text.[0-9a-zA-Z_]*"))
}

/// The shape of a module's code this tree and LTO mode imply, or a
/// problem: with `.text.*` merged, one `.text`; kept apart under LTO
/// (LLD's `-ffunction-sections`), one section per function, so a module
/// of many functions with one `.text` was not linked from bitcode.
fn text_shape(
    name: &str,
    lto: bool,
    merges: Option<bool>,
    text: usize,
    functions: Option<usize>,
) -> Result<String, String> {
    match (merges, functions) {
        (Some(true), _) if text > 1 => Err(format!(
            "{name}.ko has {text} .text sections, but this tree's scripts/module.lds.S merges .text.* into one"
        )),
        (Some(true), _) => Ok(format!("{text} .text (merged, as module.lds.S says)")),
        (Some(false), Some(f)) if lto && f >= 10 && text <= 1 => Err(format!(
            "{name}.ko has {text} .text section for its {f} functions: an LTO module in this tree keeps \
             one per function (LLD's -ffunction-sections; module.lds.S keeps .text.* apart), so it was not \
             linked from bitcode"
        )),
        (Some(false), Some(f)) => Ok(format!("{text} .text sections for {f} functions")),
        _ => Ok(format!("{text} .text (the tree's module.lds.S not read)")),
    }
}

pub fn static_check(case: &Case, facts: &KernelFacts, tree: Option<&Path>) -> CheckResult {
    let lto = case.lto != Lto::None;
    let merges = merges_text(tree);
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let mut seen = Vec::new();
    for (name, m) in &facts.mech.modules {
        let s = match m.as_ref().map(|m| &m.sections) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) | Err(e) => {
                unread.push(format!("{name}: {e}"));
                continue;
            }
        };
        if lto && !s.split.is_empty() {
            problems.push(format!(
                "{name}.ko keeps {} split data sections ({}) that LTO's module.lds.S merge should have merged",
                s.split.len(),
                examples(&s.split)
            ));
        } else if lto && !s.duplicates.is_empty() {
            problems.push(format!(
                "{name}.ko has {} duplicated section names ({})",
                s.duplicates.len(),
                examples(&s.duplicates)
            ));
        } else {
            let functions = m
                .as_ref()
                .ok()
                .and_then(|m| m.functions.as_ref().ok())
                .map(|f| f.functions);
            match text_shape(name, lto, merges, s.text, functions) {
                Ok(shape) => seen.push(format!("{name}: {} split, {shape}", s.split.len())),
                Err(p) => problems.push(p),
            }
        }
    }
    let how = if lto {
        "LTO modules, data sections merged"
    } else {
        "no LTO: modules keep the compiler's sections, no merge expected"
    };
    super::verdict(
        STATIC,
        problems,
        unread,
        format!("{how} ({})", seen.join(", ")),
    )
}

/// The kernel's complaint when a module's sysfs section names collide.
const DUPLICATE: &str = "sysfs: cannot create duplicate filename";

pub fn boot_check(
    case: &Case,
    facts: Option<&KernelFacts>,
    console: Option<&Console>,
    boot: &CheckResult,
) -> CheckResult {
    let Some(console) = console else {
        return unobserved(BOOT, "the guest's module sections", boot);
    };
    if let Some(n) = (1..=console.lines.len()).find(|n| console.line(*n).contains(DUPLICATE)) {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!("console line {n}: {}", message(console.line(n))),
        );
    }
    let Some(module) = case.facts_module() else {
        return CheckResult::new(BOOT, Status::Skipped, "the case loads no module");
    };
    let Some((line, names)) = console.fact(fact::SECTIONS, &module) else {
        return unobserved(BOOT, &format!("/sys/module/{module}/sections"), boot);
    };
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| n != "." && n != "..")
        .collect();
    if names.is_empty() {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!("/sys/module/{module}/sections is empty or missing (console line {line})"),
        );
    }
    let split: Vec<String> = names
        .iter()
        .filter(|n| is_mergeable_name(n))
        .cloned()
        .collect();
    if case.lto != Lto::None && !split.is_empty() {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "/sys/module/{module}/sections lists {} split data sections ({}) (console line {line})",
                split.len(),
                examples(&split)
            ),
        );
    }
    // The figure the build implies: one sysfs entry per section the
    // kernel loads (SHF_ALLOC, not empty) of the module's .ko.
    let built = facts
        .and_then(|f| f.mech.modules.iter().find(|(n, _)| *n == module))
        .and_then(|(_, m)| m.as_ref().ok())
        .and_then(|m| m.sections.as_ref().ok())
        .map(|s| s.loaded);
    match built {
        Some(n) if n != names.len() => CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "/sys/module/{module}/sections lists {} sections but {module}.ko as built has {n} \
                 that the kernel loads (console line {line}): the module loaded is not the one built",
                names.len()
            ),
        ),
        _ => CheckResult::new(
            BOOT,
            Status::Pass,
            format!(
                "/sys/module/{module}/sections: {} sections{}, {} split; no duplicate sysfs names",
                names.len(),
                built.map_or(String::new(), |_| format!(", as {module}.ko has")),
                split.len()
            ),
        ),
    }
}

/// The family's checks: `module_sections.static`, `module_sections.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f, j.expect.tree)),
        boot_check(j.case, j.facts, j.console, j.boot),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::mechanism_facts::ModuleMechanisms;
    use crate::elf::sections::ModuleSections;
    use std::path::Path;

    fn case(lto: &str) -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            &format!(
                "arch: arm64\nlto: {lto}\ncfi: off\nmodules: [lkdtm]\nchecks: [module_sections]\n"
            ),
        )
        .unwrap()
    }

    fn facts(split: &[&str]) -> KernelFacts {
        let mut f = KernelFacts::empty();
        let mut m = ModuleMechanisms::empty("lkdtm");
        m.sections = Ok(ModuleSections {
            split: split.iter().map(|s| s.to_string()).collect(),
            duplicates: vec![],
            loaded: 139,
            text: 120,
        });
        f.mech.modules.push(("lkdtm".into(), Ok(m)));
        f
    }

    /// A module the harness could not read is never the kernel's
    /// failure: incomplete alone, listed after a real failure.
    #[test]
    fn an_unreadable_module_is_incomplete_not_a_fail() {
        use crate::checks::facts::Unread;
        let mut f = KernelFacts::empty();
        f.mech.modules.push((
            "lkdtm".into(),
            Err(Unread::failed("cannot read /b/lkdtm.ko: Permission denied")),
        ));
        let r = static_check(&case("full"), &f, None);
        assert_eq!(r.status, Status::Incomplete, "{r:?}");
        assert!(r.message.contains("Permission denied"), "{}", r.message);
        let mut both = facts(&[".data.a"]);
        both.mech
            .modules
            .push(("test_module".into(), Err(Unread::failed("gone"))));
        let r = static_check(&case("full"), &both, None);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.details.last().map(String::as_str),
            Some("not read: test_module: gone")
        );
    }

    /// The code's shape by the tree's module.lds.S (6.12 keeps .text.*
    /// apart, 7.x merges it): lkdtm as the shipped 6.12 kernels have it,
    /// and lkdtm built outside LTO in an LTO kernel.
    #[test]
    fn code_sections_have_the_shape_the_tree_and_mode_imply() {
        // 6.12 full LTO: 120 .text sections for 130 functions.
        assert!(text_shape("lkdtm", true, Some(false), 120, Some(130)).is_ok());
        // The same module outside LTO, in an LTO kernel of 6.12.
        let e = text_shape("lkdtm", true, Some(false), 1, Some(130)).unwrap_err();
        assert!(e.contains("1 .text section for its 130 functions"), "{e}");
        // Without LTO one .text is right; test_module has no .text at all.
        assert!(text_shape("lkdtm", false, Some(false), 1, Some(130)).is_ok());
        assert!(text_shape("test_module", true, Some(false), 0, Some(2)).is_ok());
        // 7.x merges .text.*: one, LTO or not; more means the script was not applied.
        assert!(text_shape("lkdtm", true, Some(true), 1, Some(130)).is_ok());
        assert!(text_shape("lkdtm", true, Some(true), 120, Some(130)).is_err());
        // No tree: said, not judged.
        assert!(text_shape("lkdtm", true, None, 1, Some(130))
            .unwrap()
            .contains("not read"));
    }

    #[test]
    fn the_trees_linker_script_says_whether_text_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(merges_text(Some(dir.path())), None);
        std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
        let script = dir.path().join("scripts/module.lds.S");
        // 7.1.5's
        std::fs::write(
            &script,
            "\t.text\t\t\t0 : {\n\t\t*(.text .text.[0-9a-zA-Z_]*)\n\t}\n",
        )
        .unwrap();
        assert_eq!(merges_text(Some(dir.path())), Some(true));
        // 6.12's: data only
        std::fs::write(
            &script,
            "\t.rodata : {\n\t\t*(.rodata .rodata.[0-9a-zA-Z_]*)\n",
        )
        .unwrap();
        assert_eq!(merges_text(Some(dir.path())), Some(false));
    }

    /// The loaded module's sysfs sections against the .ko's loaded
    /// sections: the same count passes, another fails with both.
    #[test]
    fn the_boot_figure_is_the_one_the_build_implies() {
        use crate::stages::boot::BootOutcome;
        let sysfs = |n: usize| {
            let names: Vec<String> = (0..n).map(|i| format!(".text.f{i}")).collect();
            format!(
                "[    0.0] Linux version 6.12.118 (r@h) (clang 19) #1\n[    0.5] Run /init as init process\n\
                 @@LTOH BEGIN c\n@@LTOH FACT sections lkdtm . .. {}\n@@LTOH END rc=0\n",
                names.join(" ")
            )
        };
        let boot = CheckResult::new("boot", Status::Pass, "");
        let judge = |log: String| {
            let outcome = BootOutcome::of_log(&log, "/tmp/console.log".into());
            let console = Console::read(&outcome);
            boot_check(&case("full"), Some(&facts(&[])), Some(&console), &boot)
        };
        let r = judge(sysfs(139));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains("139 sections, as lkdtm.ko has"),
            "{}",
            r.message
        );
        let r = judge(sysfs(22));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.message
                .contains("lists 22 sections but lkdtm.ko as built has 139"),
            "{}",
            r.message
        );
    }

    #[test]
    fn split_sections_fail_only_under_lto() {
        let split = [".data.a", ".bss.b", ".rodata.c"];
        let r = static_check(&case("thin"), &facts(&split), None);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("lkdtm.ko keeps 3 split data sections"),
            "{}",
            r.message
        );
        assert_eq!(
            static_check(&case("none"), &facts(&split), None).status,
            Status::Pass
        );
        assert_eq!(
            static_check(&case("full"), &facts(&[]), None).status,
            Status::Pass
        );
    }
}
