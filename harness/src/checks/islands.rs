//! `islands.static`: the objects the LTO series keeps outside LTO (the
//! vDSO's objects, x86's `arch/x86/power/cpu.o`, lkdtm's `rodata.o`,
//! `scripts/mod/empty.o`, arm64's `pi/` objects: the arch's
//! `non_lto_objects`) are ELF in every kernel. One compiled with the LTO
//! flags is LLVM bitcode: the vDSO then exports nothing, lkdtm's
//! `EXEC_RODATA` no longer tests what it says, the early arm64 code runs
//! before relocation with code it cannot have. Beyond that list, every
//! object the build made outside `vmlinux.a`, the `lib.a` archives and the
//! modules' objects (x86's real-mode setup code, the decompressor, the
//! realmode trampoline, the vDSO: the tree's islands, whatever their
//! Makefiles call them) is ELF, but the few kbuild links with LTO beside
//! vmlinux.o and the modules. Read from `objects.json`, which the build
//! writes when it publishes.

use super::Judging;
use super::KernelFacts;
use crate::elf::objects::{linked_with_lto, ObjectKind};
use crate::model::{CheckResult, Status};

pub const STATIC: &str = "islands.static";
/// lkdtm EXEC_RODATA: executing from .rodata (lkdtm's non-LTO `rodata.o`) faults.
pub const EXEC_RODATA: &str = "islands.EXEC_RODATA";

pub fn static_check(facts: &KernelFacts) -> CheckResult {
    let Some(objects) = &facts.objects else {
        return CheckResult::new(
            STATIC,
            Status::Skipped,
            "the build did not record what its objects are (a kernel from --kernel-build without its objects, or an older cache layout)",
        );
    };
    let mut elf = Vec::new();
    let mut problems = Vec::new();
    let mut absent = 0;
    for (path, kind) in &objects.non_lto {
        match kind {
            ObjectKind::Elf => elf.push(path.as_str()),
            ObjectKind::Absent => absent += 1,
            ObjectKind::Bitcode => problems.push(format!(
                "{path} is LLVM bitcode: it was compiled with the LTO flags, but the series keeps it outside LTO"
            )),
            ObjectKind::Other => problems.push(format!(
                "{path} is {}: expected an ELF object",
                kind.name()
            )),
        }
    }
    // The tree's other islands: every object outside the LTO links.
    let outside = objects.outside.as_ref();
    let stray: Vec<&String> = outside
        .map(|o| o.bitcode.iter().filter(|p| !linked_with_lto(p)).collect())
        .unwrap_or_default();
    if !stray.is_empty() {
        problems.push(format!(
            "{} object(s) outside vmlinux.a and the modules are LLVM bitcode, so compiled with the LTO flags though no LTO link takes them: {}",
            stray.len(),
            stray
                .iter()
                .take(8)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !problems.is_empty() {
        return CheckResult::new(STATIC, Status::Fail, problems[0].clone()).with(problems);
    }
    if elf.is_empty() {
        return CheckResult::new(
            STATIC,
            Status::Skipped,
            format!("none of the {absent} non-LTO objects this arch has is built by this config"),
        );
    }
    let mut msg = format!("{} non-LTO objects are ELF: {}", elf.len(), elf.join(", "));
    if absent > 0 {
        msg.push_str(&format!(" ({absent} not built by this config)"));
    }
    if let Some(o) = outside {
        msg.push_str(&format!(
            "; the {} other objects outside vmlinux.a and the modules are ELF",
            o.elf
        ));
        if !o.bitcode.is_empty() {
            msg.push_str(&format!(
                " (and the {} kbuild links with LTO beside them are bitcode: {})",
                o.bitcode.len(),
                o.bitcode.join(", ")
            ));
        }
    }
    CheckResult::new(STATIC, Status::Pass, msg)
}

/// The family's checks: `islands.static`, `islands.EXEC_RODATA`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, static_check),
        super::lkdtm::judge(
            EXEC_RODATA,
            crate::guest::protocol::EXEC_RODATA,
            j.case.arch.profile(),
            j.console,
            j.boot,
            j.expect.lkdtm,
        )
        .result,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::objects::ObjectFacts;

    fn facts(kinds: &[(&str, ObjectKind)]) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.objects = Some(ObjectFacts {
            non_lto: kinds.iter().map(|(p, k)| (p.to_string(), *k)).collect(),
            ..Default::default()
        });
        f
    }

    #[test]
    fn elf_islands_pass_and_a_bitcode_one_is_named() {
        let ok = static_check(&facts(&[
            ("arch/x86/entry/vdso/vclock_gettime.o", ObjectKind::Elf),
            ("arch/x86/power/cpu.o", ObjectKind::Absent),
        ]));
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(ok.message.contains("vclock_gettime.o") && ok.message.contains("1 not built"));
        let bad = static_check(&facts(&[
            ("arch/x86/entry/vdso/vclock_gettime.o", ObjectKind::Bitcode),
            ("scripts/mod/empty.o", ObjectKind::Elf),
        ]));
        assert_eq!(bad.status, Status::Fail);
        assert!(
            bad.message
                .starts_with("arch/x86/entry/vdso/vclock_gettime.o is LLVM bitcode"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn an_object_outside_every_lto_link_must_not_be_bitcode() {
        use crate::elf::objects::OutsideObjects;
        let with = |bitcode: &[&str]| {
            let mut f = facts(&[("arch/x86/entry/vdso/vclock_gettime.o", ObjectKind::Elf)]);
            if let Some(o) = f.objects.as_mut() {
                o.outside = Some(OutsideObjects {
                    elf: 96,
                    bitcode: bitcode.iter().map(|s| s.to_string()).collect(),
                    other: 0,
                });
            }
            f
        };
        // A right full-LTO kernel (6.12 x86_64-lto-full-cfi's O= dir).
        let kbuild = [
            ".module-common.o",
            ".vmlinux.export.o",
            "init/version-timestamp.o",
            "drivers/misc/lkdtm/lkdtm.mod.o",
        ];
        let r = static_check(&with(&kbuild));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains("the 96 other objects outside vmlinux.a and the modules are ELF (and the 4 kbuild links with LTO"),
            "{}",
            r.message
        );
        // x86's real-mode setup code compiled with the LTO flags.
        let mut bad = kbuild.to_vec();
        bad.extend(["arch/x86/boot/main.o", "arch/x86/boot/a20.o"]);
        let r = static_check(&with(&bad));
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message,
            "2 object(s) outside vmlinux.a and the modules are LLVM bitcode, so compiled with the \
             LTO flags though no LTO link takes them: arch/x86/boot/main.o, arch/x86/boot/a20.o"
        );
    }

    #[test]
    fn nothing_to_judge_is_a_skip_with_the_reason() {
        assert_eq!(static_check(&KernelFacts::empty()).status, Status::Skipped);
        let r = static_check(&facts(&[("x.o", ObjectKind::Absent)]));
        assert_eq!(r.status, Status::Skipped);
        assert!(
            r.message.contains("not built") || r.message.contains("none of"),
            "{}",
            r.message
        );
    }
}
