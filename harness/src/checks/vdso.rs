//! `vdso.static` and `vdso.boot`: the vDSO stays outside LTO (and kCFI).
//! Compiled with the LTO flags its symbols get hidden visibility: the
//! image exports nothing and libc silently falls back to system calls.
//! Statically: the image (`vdso64.so.dbg` / `vdso.so.dbg`) is ET_DYN,
//! has no dynamic relocations, no `__cfi_` preambles, and exports the
//! arch's `clock_gettime` and friends. At boot: `/bin/vdso-probe` finds
//! `clock_gettime` through `AT_SYSINFO_EHDR`, calls it, and its reading
//! falls between two system calls'.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::guest::protocol::{fact, VDSO_STEP};
use crate::model::{CheckResult, Status};

pub const STATIC: &str = "vdso.static";
pub const BOOT: &str = "vdso.boot";

/// `ET_DYN`.
const ET_DYN: u16 = 3;

pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    let arch = case.arch.profile();
    let v = match &facts.mech.vdso {
        None => {
            return CheckResult::new(
                STATIC,
                Status::Skipped,
                format!(
                    "the build directory has no vDSO image ({}) to read",
                    arch.vdso_image
                ),
            )
        }
        Some(Err(e)) => return super::not_read(STATIC, "the vDSO image", e),
        Some(Ok(v)) => v,
    };
    let mut problems = Vec::new();
    if v.elf_type != ET_DYN {
        problems.push(format!(
            "the vDSO image is ELF type {}, not ET_DYN",
            v.elf_type
        ));
    }
    let missing: Vec<&str> = arch
        .vdso_exports
        .iter()
        .copied()
        .filter(|s| !v.dynamic_exports.iter().any(|e| e == s))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "the vDSO does not export {} ({} exports in all): built with the LTO flags' hidden visibility?",
            missing.join(", "),
            v.dynamic_exports.len()
        ));
    }
    if v.dynamic_relocations > 0 {
        problems.push(format!(
            "the vDSO has {} dynamic relocations; it must have none",
            v.dynamic_relocations
        ));
    }
    if v.cfi_preambles > 0 {
        problems.push(format!(
            "the vDSO carries {} kCFI preambles (`__cfi_`): built with the CFI flags",
            v.cfi_preambles
        ));
    }
    if problems.is_empty() {
        CheckResult::new(
            STATIC,
            Status::Pass,
            format!(
                "ET_DYN, no dynamic relocations, no kCFI; exports {} ({} in all)",
                arch.vdso_exports.join(", "),
                v.dynamic_exports.len()
            ),
        )
    } else {
        CheckResult::new(STATIC, Status::Fail, problems[0].clone()).with(problems)
    }
}

pub fn boot_check(console: Option<&Console>, boot: &CheckResult) -> CheckResult {
    let Some(console) = console else {
        return unobserved(BOOT, "the vDSO probe", boot);
    };
    let Some((line, args)) = console.facts(fact::VDSO).into_iter().next() else {
        if let Some(step) = console.step(VDSO_STEP) {
            if step.finished {
                return CheckResult::new(
                    BOOT,
                    Status::Fail,
                    format!("/bin/vdso-probe printed nothing (rc {:?})", step.rc),
                );
            }
        }
        return unobserved(BOOT, "the vDSO probe", boot);
    };
    let get = |k: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or("")
    };
    let at = format!("(console line {line})");
    if get("found") != "1" {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "the running vDSO does not export {} ({} exports): libc falls back to system calls {at}",
                get("symbol"),
                get("exports")
            ),
        );
    }
    if get("rc") != "0" {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!("the vDSO's {} returned {} {at}", get("symbol"), get("rc")),
        );
    }
    // Judge the readings themselves: a kernel line interleaved with the
    // probe's can cut the `ordered=` flag off.
    let n = |k: &str| get(k).parse::<i64>().ok();
    let ordered = match (n("before"), n("vdso"), n("after")) {
        (Some(b), Some(v), Some(a)) => b <= v && v <= a,
        _ => {
            return CheckResult::new(
                BOOT,
                Status::Incomplete,
                format!("the vDSO probe's line is unreadable {at}"),
            )
        }
    };
    if !ordered {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "the vDSO's {} read {} ns, outside the system calls' {}..{} ns {at}",
                get("symbol"),
                get("vdso"),
                get("before"),
                get("after")
            ),
        );
    }
    CheckResult::new(
        BOOT,
        Status::Pass,
        format!(
            "{} found through AT_SYSINFO_EHDR ({} exports) and agrees with the system call: {} <= {} <= {} ns",
            get("symbol"),
            get("exports"),
            get("before"),
            get("vdso"),
            get("after")
        ),
    )
}

/// The family's checks: `vdso.static`, `vdso.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f)),
        boot_check(j.console, j.boot),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::vdso::VdsoFacts;
    use std::path::Path;

    fn case() -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: full\ncfi: on\nchecks: [vdso]\n",
        )
        .unwrap()
    }

    fn facts(exports: &[&str], relocs: u64) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.mech.vdso = Some(Ok(VdsoFacts {
            elf_type: ET_DYN,
            dynamic_exports: exports.iter().map(|s| s.to_string()).collect(),
            dynamic_relocations: relocs,
            cfi_preambles: 0,
        }));
        f
    }

    #[test]
    fn a_vdso_that_exports_the_arch_symbols_passes_and_an_empty_one_fails() {
        let all = case().arch.profile().vdso_exports.to_vec();
        assert_eq!(static_check(&case(), &facts(&all, 0)).status, Status::Pass);
        let r = static_check(&case(), &facts(&[], 0));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("does not export __vdso_clock_gettime"),
            "{}",
            r.message
        );
        let r = static_check(&case(), &facts(&all, 3));
        assert!(r.message.contains("3 dynamic relocations"), "{}", r.message);
        // A build directory without the image: nothing to judge, said so.
        let mut none = KernelFacts::empty();
        none.mech.vdso = None;
        assert_eq!(static_check(&case(), &none).status, Status::Skipped);
    }
}
