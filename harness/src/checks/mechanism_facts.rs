//! What the build's files say about the LTO mechanisms, read once per case
//! beside [`super::KernelFacts`]: vmlinux's LTO note, `.llvm.` names, mcount
//! table, ORC tables and export CRCs; each module's note, kCFI traces
//! (in all and function by function),
//! sections, `__versions`, mcount and ORC tables; `Module.symvers`,
//! `.vmlinux.export.c` and the vDSO image. Each part that cannot be read
//! carries the reason, for the check that needs it to report.

use crate::arch::{ArchProfile, KcfiMarker};
use crate::elf::ftrace::{module_mcount, vmlinux_mcount, McountFacts, ModuleMcount};
use crate::elf::kcfi::{a64_indirect_calls, function_kcfi, kcfi_evidence, FunctionKcfi, KcfiCount};
use crate::elf::modversions::{
    kernel_crcs, module_versions, parse_export_c, parse_symvers, ExportTable, KernelCrcs,
    ModVersion, SymversEntry,
};
use crate::elf::notes::lto_note;
use crate::elf::orc::{orc_facts, OrcFacts};
use crate::elf::sections::{llvm_suffixed, module_sections, LlvmSuffixed, ModuleSections};
use crate::elf::vdso::{vdso_facts, VdsoFacts};
use std::path::{Path, PathBuf};

use super::facts::{Fact, Unread};

fn on<T>(path: &Path, r: anyhow::Result<T>) -> Fact<T> {
    r.map_err(|e| Unread::failed(format!("{}: {e:#}", path.display())))
}

/// vmlinux's side of the mechanisms.
#[derive(Debug, Clone)]
pub struct VmlinuxMechanisms {
    /// The LTO note's desc (1 with LTO), `None` without the note.
    pub lto_note: Fact<Option<u32>>,
    pub llvm_names: Fact<LlvmSuffixed>,
    /// `None` without an mcount table (FUNCTION_TRACER off).
    pub mcount: Fact<Option<McountFacts>>,
    pub orc: Fact<OrcFacts>,
    pub crcs: Fact<KernelCrcs>,
}

/// One module's side of the mechanisms.
#[derive(Debug, Clone)]
pub struct ModuleMechanisms {
    pub path: PathBuf,
    pub lto_note: Fact<Option<u32>>,
    pub kcfi: Fact<Vec<KcfiCount>>,
    /// arm64 `BLR` indirect calls (the sites kCFI guards with its `BRK`s);
    /// `None` on an arch whose kCFI marks every function instead (x86's
    /// `__cfi_` preambles), where a module without any is always wrong.
    pub indirect_calls: Option<Fact<u64>>,
    /// kCFI function by function: address-taken functions without a
    /// type hash, indirect calls without a check.
    pub functions: Fact<FunctionKcfi>,
    pub sections: Fact<ModuleSections>,
    /// `None` without a `__versions` section.
    pub versions: Fact<Option<Vec<ModVersion>>>,
    pub mcount: Fact<Option<ModuleMcount>>,
    pub orc: Fact<OrcFacts>,
}

/// Everything the mechanism checks read from the build.
#[derive(Debug, Clone)]
pub struct MechanismFacts {
    pub vmlinux: VmlinuxMechanisms,
    pub modules: Vec<(String, Fact<ModuleMechanisms>)>,
    /// `None` when the build has no such file.
    pub symvers: Option<Fact<Vec<SymversEntry>>>,
    pub export_c: Option<Fact<ExportTable>>,
    pub vdso: Option<Fact<VdsoFacts>>,
    /// `.vmlinux.o.cmd`'s text.
    pub vmlinux_o_cmd: Option<Fact<String>>,
}

impl MechanismFacts {
    /// Reads the facts from vmlinux's bytes, the modules and the build files.
    pub fn gather(
        arch: &ArchProfile,
        vmlinux_path: &Path,
        vmlinux: Result<&[u8], String>,
        modules: &[(String, Option<PathBuf>)],
        files: &crate::stages::build::BuildFiles,
    ) -> MechanismFacts {
        let p = vmlinux_path;
        let vmlinux = match vmlinux {
            Ok(d) => VmlinuxMechanisms {
                lto_note: on(p, lto_note(d)),
                llvm_names: on(p, llvm_suffixed(d)),
                mcount: on(p, vmlinux_mcount(d, arch)),
                orc: on(p, orc_facts(d)),
                crcs: on(p, kernel_crcs(d)),
            },
            Err(e) => VmlinuxMechanisms {
                lto_note: Err(Unread::failed(e.clone())),
                llvm_names: Err(Unread::failed(e.clone())),
                mcount: Err(Unread::failed(e.clone())),
                orc: Err(Unread::failed(e.clone())),
                crcs: Err(Unread::failed(e)),
            },
        };
        let modules = modules
            .iter()
            .map(|(name, path)| {
                let facts = match path {
                    None => Err(Unread::failed(format!("the build has no {name}.ko"))),
                    Some(path) => match std::fs::read(path) {
                        Err(e) => Err(Unread::failed(format!(
                            "cannot read {}: {e}",
                            path.display()
                        ))),
                        Ok(d) => Ok(ModuleMechanisms {
                            path: path.clone(),
                            lto_note: on(path, lto_note(&d)),
                            kcfi: on(path, kcfi_evidence(&d, arch)),
                            indirect_calls: arch
                                .kcfi_markers
                                .iter()
                                .any(|m| matches!(m, KcfiMarker::A64Brk { .. }))
                                .then(|| on(path, a64_indirect_calls(&d))),
                            functions: on(path, function_kcfi(&d, arch)),
                            sections: on(path, module_sections(&d)),
                            versions: on(path, module_versions(&d)),
                            mcount: on(path, module_mcount(&d, arch)),
                            orc: on(path, orc_facts(&d)),
                        }),
                    },
                };
                (name.clone(), facts)
            })
            .collect();
        let text = |p: &Option<PathBuf>| {
            p.as_ref().map(|p| {
                std::fs::read_to_string(p)
                    .map_err(|e| Unread::failed(format!("cannot read {}: {e}", p.display())))
            })
        };
        MechanismFacts {
            vmlinux,
            modules,
            symvers: text(&files.symvers).map(|t| {
                let path = files
                    .symvers
                    .as_deref()
                    .unwrap_or(Path::new("Module.symvers"));
                t.and_then(|t| on(path, parse_symvers(&t)))
            }),
            export_c: text(&files.export_c).map(|t| t.map(|t| parse_export_c(&t))),
            vdso: files.vdso.as_ref().map(|p| match std::fs::read(p) {
                Ok(d) => on(p, vdso_facts(&d)),
                Err(e) => Err(Unread::failed(format!("cannot read {}: {e}", p.display()))),
            }),
            vmlinux_o_cmd: text(&files.vmlinux_o_cmd),
        }
    }

    /// Facts with nothing read, for tests to fill in.
    #[cfg(test)]
    pub fn empty() -> MechanismFacts {
        fn na<T>() -> Fact<T> {
            Err(Unread::failed("n/a".to_string()))
        }
        MechanismFacts {
            vmlinux: VmlinuxMechanisms {
                lto_note: na(),
                llvm_names: na(),
                mcount: na(),
                orc: na(),
                crcs: na(),
            },
            modules: vec![],
            symvers: None,
            export_c: None,
            vdso: None,
            vmlinux_o_cmd: None,
        }
    }
}

#[cfg(test)]
impl ModuleMechanisms {
    /// A module with nothing read, for tests to fill in.
    pub fn empty(name: &str) -> ModuleMechanisms {
        let na = || Err(Unread::failed("n/a".to_string()));
        ModuleMechanisms {
            path: PathBuf::from(format!("/b/modules/{name}.ko")),
            lto_note: Err("n/a".into()),
            kcfi: na(),
            indirect_calls: None,
            functions: Err("n/a".into()),
            sections: Err("n/a".into()),
            versions: Err("n/a".into()),
            mcount: Err("n/a".into()),
            orc: Err("n/a".into()),
        }
    }
}
