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

pub const STATIC: &str = "module_sections.static";
pub const BOOT: &str = "module_sections.boot";

fn examples(v: &[String]) -> String {
    let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > 5 {
        s.push_str(", …");
    }
    s
}

pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    let lto = case.lto != Lto::None;
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
            seen.push(format!("{name}: {} split", s.split.len()));
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

pub fn boot_check(case: &Case, console: Option<&Console>, boot: &CheckResult) -> CheckResult {
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
    CheckResult::new(
        BOOT,
        Status::Pass,
        format!(
            "/sys/module/{module}/sections: {} sections, {} split; no duplicate sysfs names",
            names.len(),
            split.len()
        ),
    )
}

/// The family's checks: `module_sections.static`, `module_sections.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f)),
        boot_check(j.case, j.console, j.boot),
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
        let r = static_check(&case("full"), &f);
        assert_eq!(r.status, Status::Incomplete, "{r:?}");
        assert!(r.message.contains("Permission denied"), "{}", r.message);
        let mut both = facts(&[".data.a"]);
        both.mech
            .modules
            .push(("test_module".into(), Err(Unread::failed("gone"))));
        let r = static_check(&case("full"), &both);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.details.last().map(String::as_str),
            Some("not read: test_module: gone")
        );
    }

    #[test]
    fn split_sections_fail_only_under_lto() {
        let split = [".data.a", ".bss.b", ".rodata.c"];
        let r = static_check(&case("thin"), &facts(&split));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("lkdtm.ko keeps 3 split data sections"),
            "{}",
            r.message
        );
        assert_eq!(
            static_check(&case("none"), &facts(&split)).status,
            Status::Pass
        );
        assert_eq!(
            static_check(&case("full"), &facts(&[])).status,
            Status::Pass
        );
    }
}
