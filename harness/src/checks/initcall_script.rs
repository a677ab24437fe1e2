//! `initcalls.script`: whether the LTO initcall ordering held, without a
//! golden. Three views of the order are compared level by level:
//!
//! 1. the *link order* rebuilt from the build's objects (`llvm-nm` of
//!    `vmlinux.a` at publish: objects in member order, each by counter);
//! 2. the *ordering script* the build wrote (`.tmp_initcalls.lds`, LTO only);
//! 3. vmlinux's *tables* (entry labels in table order), plus any entry
//!    label outside every table (a section the link did not place).
//!
//! Under LTO, (2) must equal (1) — else the ordering script is wrong, and
//! the message says so — and (3) must equal (2) — else the link did not
//! follow it. Without LTO there is no script and (3) must equal (1).
//! Initcalls of objects outside LTO (x86's `arch/x86/power/cpu.o`) are
//! named in the verdict: they are the mixed case the script must handle.

use super::KernelFacts;
use crate::elf::initcall_script::{first_difference, level_rank, link_order, OrderedInitcall};
use crate::model::{CheckResult, Lto, Status};
use std::collections::{BTreeMap, BTreeSet};

pub const SCRIPT: &str = "initcalls.script";

/// The orders grouped by level, levels in table order.
fn by_level(order: &[OrderedInitcall]) -> BTreeMap<(usize, &str), Vec<&OrderedInitcall>> {
    let mut m: BTreeMap<(usize, &str), Vec<&OrderedInitcall>> = BTreeMap::new();
    for i in order {
        m.entry((level_rank(&i.level), i.level.as_str()))
            .or_default()
            .push(i);
    }
    m
}

/// Every difference between two orders, as problem lines: what `got` lacks
/// or adds, then the first place the common part diverges, per level.
fn differences(
    want: &[OrderedInitcall],
    want_name: &str,
    got: &[OrderedInitcall],
    got_name: &str,
    blame: &str,
    origin: &dyn Fn(&OrderedInitcall) -> String,
) -> Vec<String> {
    let want_ids: BTreeSet<&str> = want.iter().map(|i| i.id.as_str()).collect();
    let got_ids: BTreeSet<&str> = got.iter().map(|i| i.id.as_str()).collect();
    let mut out = Vec::new();
    for i in want.iter().filter(|i| !got_ids.contains(i.id.as_str())) {
        out.push(format!(
            "{blame}: {got_name} lacks level {} initcall {}{}, which {want_name} has",
            i.level,
            i,
            origin(i)
        ));
    }
    for i in got.iter().filter(|i| !want_ids.contains(i.id.as_str())) {
        out.push(format!(
            "{blame}: {got_name} has level {} initcall {}, which {want_name} does not",
            i.level, i
        ));
    }
    let (w, g) = (by_level(want), by_level(got));
    for (level, wl) in &w {
        let Some(gl) = g.get(level) else { continue };
        // Compare the common members only: what is missing is said above.
        let wl: Vec<&OrderedInitcall> = wl
            .iter()
            .copied()
            .filter(|i| got_ids.contains(i.id.as_str()))
            .collect();
        let gl: Vec<&OrderedInitcall> = gl
            .iter()
            .copied()
            .filter(|i| want_ids.contains(i.id.as_str()))
            .collect();
        if let Some((pos, w, g)) = first_difference(&wl, &gl) {
            out.push(format!(
                "{blame}: level {} differs at position {}: {got_name} has {}, {want_name} has {}",
                level.1,
                pos + 1,
                g.unwrap_or_else(|| "nothing".into()),
                w.unwrap_or_else(|| "nothing".into())
            ));
        }
    }
    out
}

/// The verdict.
pub fn script_check(facts: &KernelFacts) -> CheckResult {
    let skip = |why: String| CheckResult::new(SCRIPT, Status::Skipped, why);
    let objects = match facts.objects.as_ref().and_then(|o| o.initcalls.as_ref()) {
        Some(Ok(o)) => o,
        Some(Err(e)) => return skip(format!("the build's objects could not be listed: {e}")),
        None => {
            return skip(
                "the build did not record its objects' initcalls (a kernel from --kernel-build or an older cache layout)".into(),
            )
        }
    };
    let tables = match &facts.table_labels {
        Ok(t) => t,
        Err(e) => return super::not_read(SCRIPT, "vmlinux's initcall tables", e),
    };
    let link = link_order(objects);
    let table_order: Vec<OrderedInitcall> = tables
        .entries
        .iter()
        .map(|(l, id)| OrderedInitcall::new(l.as_str(), id.as_str()))
        .collect();
    // Which object each initcall comes from, and which objects are ELF.
    let elf: BTreeSet<&str> = facts
        .objects
        .as_ref()
        .and_then(|o| o.vmlinux_a.as_ref())
        .map(|a| a.elf_members.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let owner: BTreeMap<&str, &str> = objects
        .iter()
        .flat_map(|o| {
            o.initcalls
                .iter()
                .map(|i| (i.id.as_str(), o.object.as_str()))
        })
        .collect();
    let lto = facts.lto();
    let origin = |i: &OrderedInitcall| match owner.get(i.id.as_str()) {
        Some(o) if lto != Lto::None && elf.contains(o) => format!(" of {o} (ELF, outside LTO)"),
        Some(o) => format!(" of {o}"),
        None => String::new(),
    };
    let mut problems = Vec::new();
    let reference: &[OrderedInitcall];
    let script_holder;
    if lto == Lto::None {
        reference = &link;
    } else {
        match &facts.initcall_script {
            None => {
                return CheckResult::new(
                    SCRIPT,
                    Status::Fail,
                    "an LTO kernel without its initcall ordering script (.tmp_initcalls.lds)",
                )
            }
            Some(Err(e)) => return super::not_read(SCRIPT, "the initcall ordering script", e),
            Some(Ok(s)) => script_holder = s,
        }
        problems.extend(differences(
            &link,
            "link order",
            script_holder,
            "the ordering script",
            "the ordering script is wrong",
            &origin,
        ));
        reference = script_holder;
    }
    let (ref_name, blame) = if lto == Lto::None {
        ("link order", "vmlinux's tables are not in link order")
    } else {
        (
            "the ordering script",
            "the link did not follow the ordering script",
        )
    };
    problems.extend(differences(
        reference,
        ref_name,
        &table_order,
        "vmlinux's tables",
        blame,
        &origin,
    ));
    for o in &tables.orphans {
        problems.push(format!(
            "the link did not place {o}: it lies outside every initcall table, so it never runs"
        ));
    }
    if !problems.is_empty() {
        return CheckResult::new(SCRIPT, Status::Fail, problems[0].clone()).with(problems);
    }
    let outside: Vec<String> = objects
        .iter()
        .filter(|o| lto != Lto::None && elf.contains(o.object.as_str()))
        .map(|o| {
            let f: Vec<&str> = o.initcalls.iter().map(|i| i.func()).collect();
            format!("{}: {}", o.object, f.join(", "))
        })
        .collect();
    let levels = by_level(&link).len();
    let mut msg = if lto == Lto::None {
        format!(
            "{} initcalls in {levels} levels: vmlinux's tables follow link order (no ordering script without LTO)",
            link.len()
        )
    } else {
        format!(
            "{} initcalls in {levels} levels: the ordering script follows link order and vmlinux's tables follow the script",
            link.len()
        )
    };
    if !outside.is_empty() {
        msg.push_str(&format!(
            "; {} from objects outside LTO ({})",
            objects
                .iter()
                .filter(|o| elf.contains(o.object.as_str()))
                .map(|o| o.initcalls.len())
                .sum::<usize>(),
            outside.join("; ")
        ));
    }
    CheckResult::new(SCRIPT, Status::Pass, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::initcall_script::ObjectInitcalls;
    use crate::elf::initcalls::TableLabels;
    use crate::elf::objects::{ArchiveSummary, ObjectFacts};

    fn oi(level: &str, id: &str) -> OrderedInitcall {
        OrderedInitcall::new(level, id)
    }

    fn objects() -> Vec<ObjectInitcalls> {
        vec![
            ObjectInitcalls {
                object: "init/main.o".into(),
                initcalls: vec![oi("1", "kmod_main__1_10_a"), oi("6", "kmod_main__2_20_b")],
            },
            ObjectInitcalls {
                object: "arch/x86/power/cpu.o".into(),
                initcalls: vec![
                    oi("1", "kmod_cpu__5_30_bsp_pm_check_init"),
                    oi("6", "kmod_cpu__6_40_pm_check_save_msr"),
                ],
            },
        ]
    }

    fn facts(
        lto: Lto,
        script: Option<Vec<OrderedInitcall>>,
        tables: Vec<OrderedInitcall>,
    ) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.config = Ok([(
            match lto {
                Lto::None => "CONFIG_LTO_NONE",
                Lto::Thin => "CONFIG_LTO_CLANG_THIN",
                Lto::Full => "CONFIG_LTO_CLANG_FULL",
            }
            .to_string(),
            "y".to_string(),
        )]
        .into());
        f.initcall_script = script.map(Ok);
        f.table_labels = Ok(TableLabels {
            entries: tables.into_iter().map(|i| (i.level, i.id)).collect(),
            ..Default::default()
        });
        f.objects = Some(ObjectFacts {
            vmlinux_a: Some(ArchiveSummary {
                bitcode: 1,
                elf: 1,
                other: 0,
                elf_members: vec!["arch/x86/power/cpu.o".into()],
            }),
            non_lto: Default::default(),
            initcalls: Some(Ok(objects())),
            outside: None,
            modules: None,
        });
        f
    }

    fn right() -> Vec<OrderedInitcall> {
        link_order(&objects())
    }

    #[test]
    fn a_right_lto_kernel_passes_and_names_the_objects_outside_lto() {
        let r = script_check(&facts(Lto::Full, Some(right()), right()));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains("2 from objects outside LTO (arch/x86/power/cpu.o: bsp_pm_check_init, pm_check_save_msr)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_script_that_misses_the_elf_object_blames_the_script() {
        let script: Vec<_> = right()
            .into_iter()
            .filter(|i| !i.id.contains("cpu"))
            .collect();
        let r = script_check(&facts(Lto::Thin, Some(script.clone()), script));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("the ordering script is wrong"),
            "{}",
            r.message
        );
        assert!(
            r.message
                .contains("arch/x86/power/cpu.o (ELF, outside LTO)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_reversed_script_blames_the_script_and_a_bad_link_blames_the_link() {
        let mut script = right();
        script.reverse();
        let r = script_check(&facts(Lto::Full, Some(script.clone()), script));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message
                .contains("the ordering script is wrong: level 1 differs at position 1"),
            "{}",
            r.message
        );
        let mut tables = right();
        tables.swap(2, 3);
        let r = script_check(&facts(Lto::Full, Some(right()), tables));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message
                .starts_with("the link did not follow the ordering script: level 6"),
            "{}",
            r.message
        );
    }

    #[test]
    fn orphans_and_missing_scripts_fail() {
        let mut f = facts(Lto::Full, Some(right()), right());
        if let Ok(t) = f.table_labels.as_mut() {
            t.orphans
                .push("__initcall__kmod_cpu__6_40_pm_check_save_msr6".into());
        }
        let r = script_check(&f);
        assert_eq!(r.status, Status::Fail);
        assert!(r.message.contains("never runs"), "{}", r.message);
        let r = script_check(&facts(Lto::Full, None, right()));
        assert_eq!(r.status, Status::Fail);
        assert!(r.message.contains(".tmp_initcalls.lds"), "{}", r.message);
    }

    #[test]
    fn without_lto_the_tables_follow_link_order() {
        let r = script_check(&facts(Lto::None, None, right()));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(!r.message.contains("outside LTO"), "{}", r.message);
        let mut t = right();
        t.swap(0, 1);
        let r = script_check(&facts(Lto::None, None, t));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message
                .starts_with("vmlinux's tables are not in link order"),
            "{}",
            r.message
        );
    }

    #[test]
    fn no_object_listing_is_a_skip_with_the_reason() {
        let mut f = facts(Lto::Full, Some(right()), right());
        f.objects = None;
        let r = script_check(&f);
        assert_eq!(r.status, Status::Skipped);
        assert!(r.message.contains("--kernel-build"), "{}", r.message);
    }
}
