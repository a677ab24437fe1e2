//! `modversions.static` and `modversions.boot`: module versioning under
//! LTO. genksyms runs on the preprocessed source of every bitcode object
//! that exports, modpost gathers the `#SYMVER` lines, and the CRCs must
//! come out the same everywhere: `.vmlinux.export.c` (`SYMBOL_CRC`),
//! `Module.symvers`, vmlinux's `__kcrctab` (parallel to `__ksymtab`) and
//! each module's `__versions`. A zero CRC is modpost's sign that version
//! generation failed. At boot, a copy of a module with one CRC bit flipped
//! must be refused with `disagrees about version of symbol`.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::console::message;
use crate::guest::protocol::MODVERSIONS_PROBE;
use crate::model::{CheckResult, Status};
use std::collections::BTreeMap;

pub const STATIC: &str = "modversions.static";
pub const BOOT: &str = "modversions.boot";

fn some(v: &[String]) -> String {
    let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > 5 {
        s.push_str(&format!(", … ({} in all)", v.len()));
    }
    s
}

fn not_set(facts: &KernelFacts, name: &str) -> Option<CheckResult> {
    if let Err(e) = &facts.config {
        return Some(super::not_read(name, ".config", e));
    }
    (facts.config_is_y("CONFIG_MODVERSIONS") != Some(true)).then(|| {
        CheckResult::new(
            name,
            Status::Skipped,
            "CONFIG_MODVERSIONS is not set: the kernel has no symbol versions",
        )
    })
}

pub fn static_check(facts: &KernelFacts) -> CheckResult {
    if let Some(r) = not_set(facts, STATIC) {
        return r;
    }
    let m = &facts.mech;
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let symvers = match &m.symvers {
        None => {
            return CheckResult::new(
                STATIC,
                Status::Skipped,
                "the build directory has no Module.symvers to read",
            )
        }
        Some(Err(e)) => return super::not_read(STATIC, "Module.symvers", e),
        Some(Ok(s)) => s,
    };
    let by_name: BTreeMap<&str, u32> = symvers.iter().map(|e| (e.symbol.as_str(), e.crc)).collect();
    let zero: Vec<String> = symvers
        .iter()
        .filter(|e| e.crc == 0)
        .map(|e| format!("{} ({})", e.symbol, e.module))
        .collect();
    if !zero.is_empty() {
        problems.push(format!(
            "Module.symvers has {} symbols with CRC 0x00000000, version generation failed for them: {}",
            zero.len(),
            some(&zero)
        ));
    }
    let vmlinux_syms = symvers.iter().filter(|e| e.module == "vmlinux").count();
    match &m.export_c {
        None => problems.push("the build has no .vmlinux.export.c".into()),
        Some(Err(e)) => unread.push(e.to_string()),
        Some(Ok(t)) => {
            let without: Vec<String> = t
                .names()
                .filter(|n| !t.crcs.contains_key(*n))
                .map(str::to_owned)
                .collect();
            if !without.is_empty() {
                problems.push(format!(
                    ".vmlinux.export.c exports {} symbols without a SYMBOL_CRC: {}",
                    without.len(),
                    some(&without)
                ));
            }
            let differ: Vec<String> = t
                .crcs
                .iter()
                .filter_map(|(s, c)| match by_name.get(s.as_str()) {
                    Some(v) if v != c => Some(format!("{s}: {c:#010x} vs {v:#010x}")),
                    _ => None,
                })
                .collect();
            if !differ.is_empty() {
                problems.push(format!(
                    ".vmlinux.export.c and Module.symvers disagree on {} CRCs: {}",
                    differ.len(),
                    some(&differ)
                ));
            }
        }
    }
    let kernel_exports = match &m.vmlinux.crcs {
        Err(e) => {
            unread.push(format!("vmlinux's export tables: {e}"));
            0
        }
        Ok(k) => {
            let (syms, crcs) = (k.ksymtab + k.ksymtab_gpl, k.kcrctab + k.kcrctab_gpl);
            if syms != crcs {
                problems.push(format!(
                    "vmlinux has {crcs} CRCs in __kcrctab(_gpl) for {syms} exports in __ksymtab(_gpl)"
                ));
            }
            if !k.without_crc.is_empty() {
                problems.push(format!(
                    "{} of vmlinux's exports have no CRC: {}",
                    k.without_crc.len(),
                    some(&k.without_crc)
                ));
            }
            let differ: Vec<String> = k
                .crcs
                .iter()
                .filter_map(|(s, c)| match by_name.get(s.as_str()) {
                    Some(v) if v != c => Some(format!(
                        "{s}: {c:#010x} in vmlinux, {v:#010x} in Module.symvers"
                    )),
                    _ => None,
                })
                .collect();
            if !differ.is_empty() {
                problems.push(format!(
                    "vmlinux's __kcrctab and Module.symvers disagree on {} CRCs: {}",
                    differ.len(),
                    some(&differ)
                ));
            }
            syms
        }
    };
    let mut checked = Vec::new();
    for (name, mm) in &m.modules {
        match mm.as_ref().map(|x| &x.versions) {
            Err(e) | Ok(Err(e)) => unread.push(format!("{name}: {e}")),
            Ok(Ok(None)) => problems.push(format!(
                "{name}.ko has no __versions: modpost wrote no symbol versions for it"
            )),
            Ok(Ok(Some(v))) => {
                let differ: Vec<String> = v
                    .iter()
                    .filter_map(|e| match by_name.get(e.name.as_str()) {
                        Some(c) if u64::from(*c) != e.crc => Some(format!(
                            "{}: {:#010x} in the module, {c:#010x} in Module.symvers",
                            e.name, e.crc
                        )),
                        _ => None,
                    })
                    .collect();
                if !differ.is_empty() {
                    problems.push(format!(
                        "{name}.ko's __versions disagree with Module.symvers on {} symbols: {}",
                        differ.len(),
                        some(&differ)
                    ));
                }
                let zero = v.iter().filter(|e| e.crc == 0).count();
                if zero > 0 {
                    problems.push(format!("{name}.ko has {zero} zero CRCs in __versions"));
                }
                checked.push(format!("{name} ({} versions)", v.len()));
            }
        }
    }
    super::verdict(
        STATIC,
        problems,
        unread,
        format!(
            "{} symbols in Module.symvers ({vmlinux_syms} from vmlinux, {kernel_exports} in its __ksymtab), none zero, all agreeing with .vmlinux.export.c, __kcrctab and {}",
            symvers.len(),
            checked.join(", ")
        ),
    )
}

/// The kernel's refusal of a module whose CRC does not match.
const DISAGREES: &str = "disagrees about version of symbol";

pub fn boot_check(
    case: &Case,
    facts: Option<&KernelFacts>,
    console: Option<&Console>,
    boot: &CheckResult,
) -> CheckResult {
    if let Some(r) = facts.and_then(|f| not_set(f, BOOT)) {
        return r;
    }
    let Some(module) = case.flipped_module() else {
        return CheckResult::new(
            BOOT,
            Status::Skipped,
            "the case lists no module besides lkdtm to load with a flipped CRC",
        );
    };
    let Some(console) = console else {
        return unobserved(BOOT, "the flipped-CRC module load", boot);
    };
    let Some(step) = console.step(MODVERSIONS_PROBE) else {
        return unobserved(BOOT, "the flipped-CRC module load", boot);
    };
    let lines: Vec<(usize, String)> = console
        .window(&step)
        .map(|(n, l)| (n, message(l).to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let evidence: Vec<String> = lines
        .iter()
        .take(20)
        .map(|(n, l)| format!("console line {n}: {l}"))
        .collect();
    if !step.finished {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "loading {module} with a flipped CRC never returned: {}",
                boot.message
            ),
        )
        .with(evidence);
    }
    if step.rc == Some(0) {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!("the kernel loaded {module} with a flipped CRC in __versions: module versions are not enforced"),
        )
        .with(evidence);
    }
    match lines.iter().find(|(_, l)| l.contains(DISAGREES)) {
        Some((n, l)) => CheckResult::new(
            BOOT,
            Status::Pass,
            format!("{module} with a flipped CRC was refused: console line {n}: {l}"),
        ),
        None => CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "{module} with a flipped CRC failed to load, but not with `{DISAGREES}`: {}",
                lines.first().map_or("no output".into(), |(n, l)| format!(
                    "console line {n}: {l}"
                ))
            ),
        )
        .with(evidence),
    }
}

/// The family's checks: `modversions.static`, `modversions.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, static_check),
        boot_check(j.case, j.facts, j.console, j.boot),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::mechanism_facts::ModuleMechanisms;
    use crate::elf::modversions::{parse_export_c, KernelCrcs, ModVersion, SymversEntry};

    fn entry(sym: &str, crc: u32, module: &str) -> SymversEntry {
        SymversEntry {
            crc,
            symbol: sym.into(),
            module: module.into(),
            gpl: false,
            namespace: String::new(),
        }
    }

    /// A coherent kernel: two vmlinux exports, one module using both.
    fn facts(printk_crc_in_module: u64, zero_symvers: bool) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.config = Ok([("CONFIG_MODVERSIONS".to_string(), "y".to_string())].into());
        let crc = if zero_symvers { 0 } else { 0x1234_5678 };
        f.mech.symvers = Some(Ok(vec![
            entry("_printk", crc, "vmlinux"),
            entry("kfree", 0x0bad_cafe, "vmlinux"),
        ]));
        f.mech.export_c = Some(Ok(parse_export_c(&format!(
            "KSYMTAB_FUNC(_printk, \"\", \"\");\nKSYMTAB_FUNC(kfree, \"\", \"\");\nSYMBOL_CRC(_printk, {crc:#010x}, \"\");\nSYMBOL_CRC(kfree, 0x0bad_cafe, \"\");\n"
        ).replace("0x0bad_cafe", "0x0badcafe"))));
        f.mech.vmlinux.crcs = Ok(KernelCrcs {
            ksymtab: 2,
            kcrctab: 2,
            crcs: [
                ("_printk".to_string(), crc),
                ("kfree".to_string(), 0x0bad_cafe),
            ]
            .into(),
            ..Default::default()
        });
        let mut m = ModuleMechanisms::empty("test_module");
        m.versions = Ok(Some(vec![
            ModVersion {
                name: "_printk".into(),
                crc: printk_crc_in_module,
            },
            ModVersion {
                name: "kfree".into(),
                crc: 0x0bad_cafe,
            },
        ]));
        f.mech.modules.push(("test_module".into(), Ok(m)));
        f
    }

    #[test]
    fn coherent_crcs_pass() {
        let r = static_check(&facts(0x1234_5678, false));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains("2 symbols in Module.symvers"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_module_crc_that_disagrees_and_zero_crcs_fail() {
        let r = static_check(&facts(0x1234_5679, false));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("test_module.ko's __versions disagree"),
            "{}",
            r.message
        );
        let r = static_check(&facts(0, true));
        assert_eq!(r.status, Status::Fail);
        assert!(r.message.contains("CRC 0x00000000"), "{}", r.message);
    }

    #[test]
    fn without_modversions_it_is_a_skip() {
        let mut f = facts(0x1234_5678, false);
        f.config = Ok(Default::default());
        assert_eq!(static_check(&f).status, Status::Skipped);
    }
}
