//! The check registry: every family of checks a case can ask for
//! (`checks:` in a case file), each check it gives, when it is judged,
//! what it proves, the config it needs, the guest step its boot half
//! reads, and the function that judges it. [`super::judge`] dispatches
//! through it; `lto-harness checks` and the reference in docs/checks.md
//! are printed from it (a test keeps the doc in step).
//!
//! A new family is one file in `checks/` with a `judge` function, a
//! [`CheckKind`] variant, and one entry here.

use super::Judging;
use super::{
    cfi, ftrace, hygiene, initcall_script, initcalls, islands, kunit, lto_identity,
    module_sections, modules, modversions, orc, stack_protector, vdso,
};
use crate::case::CheckKind;
use crate::model::CheckResult;
use serde::Serialize;

/// When a check is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// From the build's files, no boot needed (never retried).
    Static,
    /// From the boot's console.
    Boot,
    /// After every kernel of the run is built (it compares kernels).
    AfterRun,
}

impl When {
    pub fn name(self) -> &'static str {
        match self {
            When::Static => "static",
            When::Boot => "boot",
            When::AfterRun => "after the run",
        }
    }
}

/// One check of a family.
#[derive(Debug, Serialize)]
pub struct CheckInfo {
    /// Its name in results (`<family>.<what>`); `<…>` stands for a part
    /// the kernel or the case fills in (`cfi.<lkdtm CFI test>`).
    pub name: &'static str,
    pub when: When,
    /// What a pass means.
    pub passes: &'static str,
    /// What a failure says.
    pub fails: &'static str,
}

impl CheckInfo {
    /// Whether a check named `name` in results is this one.
    pub fn matches(&self, name: &str) -> bool {
        let want: Vec<&str> = self.name.split('.').collect();
        let got: Vec<&str> = name.split('.').collect();
        want.len() == got.len()
            && want.iter().zip(&got).all(|(w, g)| {
                if w.starts_with('<') && w.ends_with('>') {
                    !g.is_empty()
                } else {
                    w == g
                }
            })
    }
}

/// A family of checks: what a case names under `checks:`.
#[derive(Serialize)]
pub struct Family {
    pub kind: CheckKind,
    /// What the family proves, in one line.
    pub about: &'static str,
    /// Config symbols its checks need (without `CONFIG_`); a check whose
    /// symbol is off is skipped saying so.
    pub config: &'static [&'static str],
    /// The guest step (`images/`, `guest/init.rs`) its boot half reads,
    /// "" when it needs none of its own.
    pub guest_step: &'static str,
    pub checks: &'static [CheckInfo],
    /// Judges the family's checks on one kernel and its boot, in order.
    #[serde(skip)]
    pub judge: fn(&Judging) -> Vec<CheckResult>,
}

/// The boot verdict is judged before any family, and `hygiene.build`
/// across the run's kernels once all are built: nothing more here.
fn judged_elsewhere(_: &Judging) -> Vec<CheckResult> {
    Vec::new()
}

/// The family of `kind`.
pub fn family(kind: CheckKind) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.kind == kind)
        .expect("every CheckKind has a family in the registry (tested)")
}

/// The check of the registry that results call `name` (`build` and
/// `steps`, which are not checks, are not in it).
pub fn check_info(name: &str) -> Option<(&'static Family, &'static CheckInfo)> {
    FAMILIES
        .iter()
        .flat_map(|f| f.checks.iter().map(move |c| (f, c)))
        .find(|(_, c)| c.matches(name))
}

/// Every family, in the order results list them.
pub static FAMILIES: &[Family] = &[
    Family {
        kind: CheckKind::Boot,
        about: "the kernel boots, runs /init to its end marker and reports no failure",
        config: &[],
        guest_step: "",
        checks: &[
            CheckInfo {
                name: "boot",
                when: When::Boot,
                passes: "both init markers, clean QEMU exit, no panic/Oops/BUG/WARNING/CFI failure outside an lkdtm probe",
                fails: "a panic (even inside a probe), an Oops, init never ran or never finished, a failed init step or a non-zero `END`, two boots in one log (\"the kernel booted 2 times (banners at console lines …)\"). A log with markers but no banner is `incomplete` (\"not a whole boot\"); so are a timeout and a QEMU that never started",
            },
        ],
        judge: judged_elsewhere,
    },
    Family {
        kind: CheckKind::Initcalls,
        about: "built-in initcalls run in the order the golden and the LTO ordering script say",
        config: &[],
        guest_step: "",
        checks: &[
            CheckInfo {
                name: initcalls::STATIC,
                when: When::Static,
                passes: "vmlinux's `__initcall*_start`…`__initcall_end` tables (PREL32 entries, each resolved to its function with `object`, LTO `__initstub__kmod_…` names and ThinLTO `.llvm.N` suffixes normalised, level kept) equal the golden",
                fails: "a unified diff against the golden, naming the first initcall out of place and its level",
            },
            CheckInfo {
                name: initcall_script::SCRIPT,
                when: When::Static,
                passes: "three views of one order agree level by level: the link order rebuilt from the build's objects (`llvm-nm` of `vmlinux.a` at publish, bitcode and ELF alike, each object's initcalls by counter), the LTO ordering script `.tmp_initcalls.lds`, and vmlinux's tables by entry label; no `__initcall__` label outside every table. The pass names the initcalls of objects outside LTO (x86: `2 from objects outside LTO (arch/x86/power/cpu.o: bsp_pm_check_init, pm_check_save_msr)`; arm64: `arch/arm64/kernel/vdso.o: vdso_init`)",
                fails: "`the ordering script is wrong: …` (script against link order) or `the link did not follow the ordering script: …` (tables against script), naming the level, position and object; an initcall the link did not place (it never runs)",
            },
            CheckInfo {
                name: initcalls::BOOT,
                when: When::Boot,
                passes: "the `calling` lines of PID 1 before `Run /init` (`initcall_debug`) equal the golden, and the static order",
                fails: "the same diff; also says when the boot and vmlinux's tables disagree",
            },
        ],
        judge: initcalls::judge,
    },
    Family {
        kind: CheckKind::Cfi,
        about: "kCFI is in the kernel exactly when asked, and lkdtm's CFI tests trap at the call they make",
        config: &["CFI_CLANG (7.x: CFI)", "LKDTM"],
        guest_step: "cfi-probes",
        checks: &[
            CheckInfo {
                name: cfi::STATIC,
                when: When::Static,
                passes: "kCFI instrumentation in vmlinux exactly when the case and .config say CFI: x86_64 `__kcfi_traps` bytes and `__cfi_*` symbols, arm64 `BRK #0x8000-0x83ff` traps",
                fails: "any disagreement among case, .config and vmlinux",
            },
            CheckInfo {
                name: "cfi.<lkdtm CFI test>",
                when: When::Boot,
                passes: "lkdtm's test, run from a child shell, does what is expected: `trap` (the kernel's selftest expectation from `tools/testing/selftests/lkdtm/tests.txt`, and for forward edges a `CFI failure at … (target: …)` line) when .config has the protection, `survive` (lkdtm's `FAIL:` line and its own \"probably expected … built *without*\" line) when not",
                fails: "a CFI kernel that survives, a kernel expected to survive that traps, a probe that never returns",
            },
        ],
        judge: cfi::judge,
    },
    Family {
        kind: CheckKind::Modules,
        about: "each listed module is a proper .ko for this kernel and loads, lists and unloads",
        config: &["MODULES", "MODULE_UNLOAD"],
        guest_step: "module",
        checks: &[
            CheckInfo {
                name: modules::STATIC,
                when: When::Static,
                passes: "each `.ko` is an ELF relocatable of the arch's machine, not LLVM bitcode, with the kernel's vermagic and no `.lto` in its name",
                fails: "the first problem, with the file",
            },
            CheckInfo {
                name: modules::RUNTIME,
                when: When::Boot,
                passes: "insmod, listed in /proc/modules, the init message (and `initcall_debug`'s `returned 0`), rmmod, the exit message, gone from /proc/modules",
                fails: "the step that failed and the kernel's own error line",
            },
        ],
        judge: modules::judge,
    },
    Family {
        kind: CheckKind::Islands,
        about: "the objects kept outside LTO are machine code, and lkdtm's .rodata code faults",
        config: &["SUSPEND (x86, for cpu.o)", "LKDTM"],
        guest_step: "lkdtm-probes",
        checks: &[
            CheckInfo {
                name: islands::STATIC,
                when: When::Static,
                passes: "the arch's non-LTO objects (vDSO objects, `arch/x86/power/cpu.o`, lkdtm's `rodata.o`, `scripts/mod/empty.o`, `arch/x86/boot/compressed/misc.o`, arm64 `pi/`) are ELF; so is every other object the build made outside `vmlinux.a`, the `lib.a` archives and the modules' `.mod` lists (x86's real-mode setup code, the decompressor, the realmode trampoline), but the few kbuild links with LTO beside them (`.vmlinux.export.o`, `init/version-timestamp.o`, `*.mod.o`, `.module-common.o`); from `objects.json`",
                fails: "the object that is LLVM bitcode",
            },
            CheckInfo {
                name: islands::EXEC_RODATA,
                when: When::Boot,
                passes: "lkdtm executes from .rodata and faults (`call trace:`, as tests.txt expects)",
                fails: "`FAIL: func returned`, or no trace",
            },
        ],
        judge: islands::judge,
    },
    Family {
        kind: CheckKind::LtoIdentity,
        about: "the kernel and every module were built as the case asked: LTO mode and kCFI, from their notes and their code, function by function",
        config: &["LTO_CLANG_*"],
        guest_step: "mech-facts",
        checks: &[
            CheckInfo {
                name: lto_identity::STATIC,
                when: When::Static,
                passes: "the `Linux` 0x101 note of vmlinux and every `.ko` is 1 exactly when the case asks for LTO; `.llvm.` names only in thin kernels; `vmlinux.a` bitcode exactly under LTO; each module's kCFI traces match the kernel's (x86 `__cfi_` preambles; arm64 `BRK`s on its indirect calls), and in a kCFI kernel function by function: every function a module takes the address of has a type hash (x86 `__cfi_<fn>` ending at it, arm64 a data word before it) and every indirect call has a kCFI check just before it (x86 a `ud2` in `.kcfi_traps`, arm64 a `BRK #0x8000-0x83ff`); each module of several objects was built as the kernel was: its `.mod` list's objects bitcode under LTO (but lkdtm's `rodata_objcopy.o`), ELF without, recorded in `objects.json` at publish (the module's note comes from the generated `.mod.c`, so it cannot tell)",
                fails: "the file whose note, names, instrumentation or objects disagree; a module partly built without kCFI with its unchecked calls and unhashed functions (`lkdtm.ko was partly built without kCFI …: 1 of its 5 indirect calls have no kCFI check (lkdtm_indirect_call+0xf in drivers/misc/lkdtm/cfi.o)`: the object is the one whose `.c` defines the function)",
            },
            CheckInfo {
                name: lto_identity::BOOT,
                when: When::Boot,
                passes: "`/sys/kernel/notes` and `/sys/module/<m>/notes/.note.Linux`, hex-dumped by the guest, say the same",
                fails: "the note that disagrees",
            },
        ],
        judge: lto_identity::judge,
    },
    Family {
        kind: CheckKind::ModuleSections,
        about: "LTO modules have their data sections merged, on disk and once loaded",
        config: &["MODULES"],
        guest_step: "mech-facts",
        checks: &[
            CheckInfo {
                name: module_sections::STATIC,
                when: When::Static,
                passes: "LTO `.ko`s have no `.data.*`, `.bss.*`, `.rodata.*`, `..L*` or duplicated sections; code has the shape the tree's `scripts/module.lds.S` and the LTO mode imply: one `.text` where the script merges `.text.*` (7.x), one section per function for an LTO module where it keeps them apart (6.12: lkdtm 120 for 128 functions)",
                fails: "the module and its split sections; a module whose code has the other shape (`lkdtm.ko has 1 .text section for its 128 functions: an LTO module in this tree keeps one per function …, so it was not linked from bitcode`)",
            },
            CheckInfo {
                name: module_sections::BOOT,
                when: When::Boot,
                passes: "the loaded module's `/sys/module/<m>/sections` has none of them either, and as many entries as its `.ko` has sections the kernel loads (SHF_ALLOC, not empty: 139 for 6.12's full-LTO x86_64 lkdtm, 20 without LTO); no `sysfs: cannot create duplicate filename`",
                fails: "the module and its split sections (56 in sysfs on x86_64, 49 on arm64 for the mutants); another count than the build's, with both",
            },
        ],
        judge: module_sections::judge,
    },
    Family {
        kind: CheckKind::Modversions,
        about: "module versions (CRCs) are generated and agree everywhere, and a wrong one is refused",
        config: &["MODVERSIONS"],
        guest_step: "flipped-module",
        checks: &[
            CheckInfo {
                name: modversions::STATIC,
                when: When::Static,
                passes: "with `MODVERSIONS`: no zero CRC in `Module.symvers`; every export in `.vmlinux.export.c` has a `SYMBOL_CRC`, and it, vmlinux's `__kcrctab` (as many as `__ksymtab` entries) and each module's `__versions` agree with `Module.symvers`",
                fails: "zero CRCs (`Module.symvers has 4750 symbols with CRC 0x00000000, version generation failed`), a module without `__versions`, the first CRC that disagrees",
            },
            CheckInfo {
                name: modversions::BOOT,
                when: When::Boot,
                passes: "a copy of a module with one `__versions` CRC bit flipped (put in the image by the harness) is refused with `disagrees about version of symbol`",
                fails: "the kernel loaded it, or refused it for another reason",
            },
        ],
        judge: modversions::judge,
    },
    Family {
        kind: CheckKind::Ftrace,
        about: "the mcount tables objtool writes after the LTO link are right, and the function tracer works",
        config: &["FUNCTION_TRACER", "DYNAMIC_FTRACE"],
        guest_step: "mech-facts",
        checks: &[
            CheckInfo {
                name: ftrace::STATIC,
                when: When::Static,
                passes: "with `FUNCTION_TRACER` + `DYNAMIC_FTRACE`: vmlinux's mcount table is non-empty and every entry is a function start (or just after its IBT/BTI landing pad) holding the arch's NOP; modules have entries. Entries in code no symbol covers (overridden `__weak` functions the linker kept, which the kernel skips at boot) are counted apart, by symbol sizes, and must still hold the NOP",
                fails: "an empty table (`vmlinux's mcount table is empty`), entries that are not function starts or not NOPs",
            },
            CheckInfo {
                name: ftrace::BOOT,
                when: When::Boot,
                passes: "no `ftrace bug`/`failed to modify`/`No functions to be traced?`; the function tracer, switched on by the guest, records events and lists the module's functions",
                fails: "the line, or the count that is zero",
            },
        ],
        judge: ftrace::judge,
    },
    Family {
        kind: CheckKind::Orc,
        about: "x86 ORC unwind tables (objtool run on the LTO vmlinux.o) exist and unwind an Oops reliably",
        config: &["UNWINDER_ORC"],
        guest_step: "lkdtm-probes",
        checks: &[
            CheckInfo {
                name: orc::STATIC,
                when: When::Static,
                passes: "with `UNWINDER_ORC`: `.orc_unwind_ip` and `.orc_unwind` non-empty with equal counts in vmlinux and each module, objtool `--link` on the LTO vmlinux.o",
                fails: "missing or mismatched tables",
            },
            CheckInfo {
                name: orc::BOOT,
                when: When::Boot,
                passes: "no `Bad or missing .orc_unwind table` at boot, and an lkdtm EXCEPTION (an Oops)'s trace without `? ` frames",
                fails: "the complaint, or the unreliable frames",
            },
        ],
        judge: orc::judge,
    },
    Family {
        kind: CheckKind::StackProtector,
        about: "the stack protector works under LTO",
        config: &["STACKPROTECTOR"],
        guest_step: "lkdtm-probes",
        checks: &[
            CheckInfo {
                name: stack_protector::STACK_CANARY,
                when: When::Boot,
                passes: "lkdtm, written from two processes: `ok: stack canaries differ`",
                fails: "`FAIL: canary identical`",
            },
        ],
        judge: stack_protector::judge,
    },
    Family {
        kind: CheckKind::Vdso,
        about: "the vDSO stays outside LTO and answers clock_gettime in the guest",
        config: &[],
        guest_step: "vdso",
        checks: &[
            CheckInfo {
                name: vdso::STATIC,
                when: When::Static,
                passes: "the vDSO image is ET_DYN, without dynamic relocations or `__cfi_`, and exports the arch's `clock_gettime` and friends",
                fails: "a vDSO that exports nothing (LTO's hidden visibility), has relocations or kCFI",
            },
            CheckInfo {
                name: vdso::BOOT,
                when: When::Boot,
                passes: "in the guest `images/probes/vdso-probe.c` finds `clock_gettime` through `AT_SYSINFO_EHDR`, calls it, and its reading lies between two system calls'",
                fails: "a vDSO that is not found or disagrees with the system call",
            },
        ],
        judge: vdso::judge,
    },
    Family {
        kind: CheckKind::Hygiene,
        about: "the LTO build warns of nothing the LTO-none build of the same config does not",
        config: &[],
        guest_step: "",
        checks: &[
            CheckInfo {
                name: hygiene::BUILD,
                when: When::AfterRun,
                passes: "no warning in the LTO kernel's build.log that the LTO-none kernel of the same config (same arch, base, fragments, in the same run) lacks, after normalising file names, addresses and `.llvm.` suffixes",
                fails: "each LTO-only warning",
            },
        ],
        judge: judged_elsewhere,
    },
    Family {
        kind: CheckKind::Kunit,
        about: "the KUnit suites the case names run at boot and pass",
        config: &["KUNIT", "each suite's symbol"],
        guest_step: "",
        checks: &[
            CheckInfo {
                name: "kunit.<suite>.<test>",
                when: When::Boot,
                passes: "each test of a suite the case names under `kunit:` prints `ok` in the KTAP the kernel prints at boot; `# XFAIL`/`# TODO` pass saying so; `# SKIP` is skipped with its reason",
                fails: "`not ok` (with the test's diagnostics, such as `EXPECTATION FAILED at …`, and its console line), `# TIMEOUT`, `# ERROR`, a test the suite's plan promised that never came (a crash, a panic, a cut-off log)",
            },
            CheckInfo {
                name: "kunit.<suite>",
                when: When::Boot,
                passes: "(a suite whose result line has no tests under it is one check)",
                fails: "a named suite that never ran",
            },
        ],
        judge: kunit::judge,
    },
];

/// The mutants (name, `killed_by`) whose `killed_by` names `check`.
pub fn killed_by(killers: &[(String, Vec<String>)], check: &str) -> Vec<String> {
    killers
        .iter()
        .filter(|(_, k)| {
            k.iter()
                .any(|n| check_info(n).is_some_and(|(_, c)| c.name == check))
        })
        .map(|(m, _)| m.clone())
        .collect()
}

/// The Markdown reference: a section per family.
pub fn markdown(killers: &[(String, Vec<String>)]) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut s = String::new();
    for f in FAMILIES {
        s.push_str(&format!(
            "### {}\n\n{}.",
            f.kind.name(),
            capitalised(f.about)
        ));
        if !f.config.is_empty() {
            let c: Vec<String> = f.config.iter().map(|c| format!("`{c}`")).collect();
            s.push_str(&format!(" Config: {}.", c.join(", ")));
        }
        if !f.guest_step.is_empty() {
            s.push_str(&format!(" Guest step: `{}`.", f.guest_step));
        }
        s.push_str("\n\n| check | when | passes | fails | mutants that must fail it |\n| --- | --- | --- | --- | --- |\n");
        for c in f.checks {
            let m: Vec<String> = killed_by(killers, c.name)
                .iter()
                .map(|m| format!("`{m}`"))
                .collect();
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.name,
                c.when.name(),
                cell(c.passes),
                cell(c.fails),
                if m.is_empty() {
                    "none".into()
                } else {
                    m.join(", ")
                }
            ));
        }
        s.push('\n');
    }
    s
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;
    use crate::checks::{cfi::LkdtmExpectations, Expectations};

    /// Every kind, by an exhaustive match: a new variant fails to
    /// compile here until it is listed (and then needs a family).
    fn every_kind() -> Vec<CheckKind> {
        use CheckKind::*;
        let all = [
            Boot,
            Initcalls,
            Cfi,
            Modules,
            Islands,
            LtoIdentity,
            ModuleSections,
            Modversions,
            Ftrace,
            Orc,
            StackProtector,
            Vdso,
            Hygiene,
            Kunit,
        ];
        for k in all {
            match k {
                Boot | Initcalls | Cfi | Modules | Islands | LtoIdentity | ModuleSections
                | Modversions | Ftrace | Orc | StackProtector | Vdso | Hygiene | Kunit => {}
            }
        }
        all.to_vec()
    }

    #[test]
    fn every_kind_has_one_family_named_as_cases_name_it() {
        for k in every_kind() {
            let n = FAMILIES.iter().filter(|f| f.kind == k).count();
            assert_eq!(n, 1, "{k:?}");
            for c in family(k).checks {
                let first = c.name.split('.').next().unwrap();
                assert_eq!(first, k.name(), "{} in family {}", c.name, k.name());
            }
        }
        assert_eq!(FAMILIES.len(), every_kind().len());
    }

    #[test]
    fn patterns_match_what_they_stand_for_and_nothing_else() {
        let info = |n| check_info(n).map(|(_, c)| c.name);
        assert_eq!(info("cfi.CFI_FORWARD_PROTO"), Some("cfi.<lkdtm CFI test>"));
        assert_eq!(info("cfi.static"), Some("cfi.static"));
        assert_eq!(
            info("kunit.list_sort.list_sort_test"),
            Some("kunit.<suite>.<test>")
        );
        assert_eq!(info("kunit.list_sort"), Some("kunit.<suite>"));
        assert_eq!(info("initcalls.static"), Some("initcalls.static"));
        for bad in [
            "initcalls.statik",
            "cfi.",
            "kunit.",
            "build",
            "boots",
            "vdso",
        ] {
            assert_eq!(info(bad), None, "{bad}");
        }
        assert_eq!(info("boot"), Some("boot"));
    }

    /// What `judge` names on every shipped case (no kernel, no boot) is
    /// in the registry, under the family that gave it, and every fixed
    /// name of the registry is given by some shipped case.
    #[test]
    fn the_registry_names_every_check_the_shipped_cases_give() {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../cases"));
        let cases = crate::case::load_dir(dir).unwrap();
        let lkdtm = LkdtmExpectations::load(None);
        let expect = Expectations {
            golden: None,
            golden_absent: Some("test"),
            lkdtm: &lkdtm,
            tree: None,
        };
        let mut given = std::collections::BTreeSet::new();
        for case in &cases {
            for kind in &case.checks {
                let only = Case {
                    checks: vec![*kind],
                    not_judged: vec![],
                    ..case.clone()
                };
                let boot = CheckResult::new("boot", crate::model::Status::Skipped, "");
                let names: Vec<String> = crate::checks::judge(&only, None, &expect, None, boot)
                    .into_iter()
                    .skip(1)
                    .map(|c| c.name)
                    .collect();
                for n in names {
                    let (f, c) = check_info(&n).unwrap_or_else(|| panic!("{n} ({})", case.name));
                    assert_eq!(f.kind, *kind, "{n}");
                    given.insert(c.name);
                }
            }
        }
        given.insert("boot");
        // hygiene.build is judged across the run, not by judge().
        given.insert(crate::checks::hygiene::BUILD);
        for f in FAMILIES {
            for c in f.checks.iter().filter(|c| !c.name.contains('<')) {
                assert!(
                    given.contains(c.name),
                    "{} is given by no shipped case",
                    c.name
                );
            }
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;
    use std::path::Path;

    /// The shipped mutants' `killed_by` lists.
    fn shipped_killers(root: &Path) -> Vec<(String, Vec<String>)> {
        let cases = crate::case::load_dir(&root.join("cases")).unwrap();
        let known: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        crate::mutate::file::load_dir(&root.join("cases/mutants"), &known)
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.killed_by))
            .collect()
    }

    const BEGIN: &str = "<!-- BEGIN generated by `lto-harness checks --markdown`: edit harness/src/checks/registry.rs, not this -->\n";
    const END: &str = "<!-- END generated -->";

    /// docs/checks.md carries exactly what the registry prints.
    #[test]
    fn docs_checks_md_is_what_the_registry_prints() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let doc = std::fs::read_to_string(root.join("docs/checks.md")).unwrap();
        let (_, rest) = doc.split_once(BEGIN).expect("the BEGIN marker");
        let (generated, _) = rest.split_once(END).expect("the END marker");
        let want = markdown(&shipped_killers(root));
        assert!(
            generated.trim() == want.trim(),
            "docs/checks.md differs from `lto-harness checks --markdown`: regenerate it:\n\
             cargo run -- checks --markdown, between the markers\n{}",
            similar::TextDiff::from_lines(generated.trim(), want.trim())
                .unified_diff()
                .header("docs/checks.md", "registry")
        );
    }

    #[test]
    fn every_mutant_names_checks_of_the_registry() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let k = shipped_killers(root);
        assert!(!k.is_empty());
        assert!(killed_by(&k, "islands.static").contains(&"x86-setup-code-lto".to_string()));
    }
}
