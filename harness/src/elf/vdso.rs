//! The vDSO image (`vdso64.so.dbg` on x86_64, `vdso.so.dbg` on arm64), which
//! the series keeps out of LTO: it must stay a shared object (ET_DYN) with
//! no dynamic relocations (the kernel maps it into every process as is),
//! export the arch's `clock_gettime` and friends (a hidden-visibility
//! build exports nothing and libc silently falls back to syscalls), and
//! carry no kCFI `__cfi_` preambles.

use anyhow::{Context, Result};
use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{elf, Object, ObjectSymbol, SymbolKind};
use serde::Serialize;
use std::collections::BTreeSet;

/// What a vDSO image is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VdsoFacts {
    /// `e_type` (3 = ET_DYN).
    pub elf_type: u16,
    /// Defined global and weak symbols of `.dynsym`, in table order
    /// (without version suffixes).
    pub dynamic_exports: Vec<String>,
    /// Entries of every SHT_RELA, SHT_REL and SHT_RELR section (a RELR
    /// entry is one word, which may stand for several relocations).
    pub dynamic_relocations: u64,
    /// Distinct symbols named `__cfi_*` in `.symtab` and `.dynsym`.
    pub cfi_preambles: u64,
}

/// Reads a vDSO image's facts. Errors: not a 64-bit ELF file.
pub fn vdso_facts(data: &[u8]) -> Result<VdsoFacts> {
    let file = ElfFile64::<object::Endianness>::parse(data).context("not a 64-bit ELF file")?;
    let endian = file.endian();
    let mut facts = VdsoFacts {
        elf_type: file.elf_header().e_type(endian).0,
        ..VdsoFacts::default()
    };
    for sym in file.dynamic_symbols() {
        if sym.is_undefined() || sym.is_local() {
            continue;
        }
        if matches!(sym.kind(), SymbolKind::Section | SymbolKind::File) {
            continue;
        }
        if let Ok(name) = sym.name() {
            facts.dynamic_exports.push(name.to_owned());
        }
    }
    for header in file.elf_section_table().iter() {
        let entry = match header.sh_type(endian) {
            elf::SHT_RELA => 24,
            elf::SHT_REL => 16,
            elf::SHT_RELR => 8,
            _ => continue,
        };
        facts.dynamic_relocations = facts
            .dynamic_relocations
            .saturating_add(header.sh_size(endian) / entry);
    }
    let cfi: BTreeSet<&str> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter_map(|s| s.name().ok())
        .filter(|n| n.starts_with("__cfi_"))
        .collect();
    facts.cfi_preambles = cfi.len() as u64;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{
        for_each_damaged, TestElf, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FUNC, STT_OBJECT,
    };

    fn vdso(relocs: usize, cfi: bool) -> Vec<u8> {
        let mut elf = TestElf::new(elf::ET_DYN, elf::EM_X86_64);
        let t = elf.progbits(".text", 6, 0x800, &[0xc3; 64]);
        elf.dynsym("__vdso_clock_gettime", 0x800, STT_FUNC, STB_GLOBAL, t);
        elf.dynsym("clock_gettime", 0x800, STT_FUNC, STB_WEAK, t);
        elf.dynsym("LINUX_2.6", 0, STT_OBJECT, STB_GLOBAL, elf::SHN_ABS.0);
        elf.dynsym("hidden_helper", 0x810, STT_FUNC, STB_LOCAL, t);
        elf.dynsym("memcpy", 0, STT_FUNC, STB_GLOBAL, 0);
        elf.symbol("__vdso_clock_gettime", 0x800, STT_FUNC, STB_GLOBAL, t);
        if cfi {
            elf.symbol("__cfi___vdso_clock_gettime", 0x7f0, STT_FUNC, STB_LOCAL, t);
            elf.dynsym("__cfi___vdso_clock_gettime", 0x7f0, STT_FUNC, STB_GLOBAL, t);
        }
        if relocs > 0 {
            elf.section(
                ".rela.dyn",
                elf::SHT_RELA.0,
                2,
                0x900,
                &vec![0; relocs * 24],
            );
            elf.section(".relr.dyn", elf::SHT_RELR.0, 2, 0xa00, &[0; 8]);
        }
        elf.build()
    }

    #[test]
    fn a_clean_vdso() {
        let f = vdso_facts(&vdso(0, false)).unwrap();
        assert_eq!(
            f,
            VdsoFacts {
                elf_type: elf::ET_DYN.0,
                dynamic_exports: vec![
                    "__vdso_clock_gettime".into(),
                    "clock_gettime".into(),
                    "LINUX_2.6".into()
                ],
                dynamic_relocations: 0,
                cfi_preambles: 0,
            }
        );
    }

    #[test]
    fn relocations_and_cfi_preambles_are_counted() {
        let f = vdso_facts(&vdso(3, true)).unwrap();
        assert_eq!(f.dynamic_relocations, 4, "3 RELA + 1 RELR word");
        assert_eq!(f.cfi_preambles, 1, "one name, in both tables");
        let exec = vdso_facts(&TestElf::exec().build()).unwrap();
        assert_eq!(exec.elf_type, elf::ET_EXEC.0);
        assert!(exec.dynamic_exports.is_empty());
        assert!(vdso_facts(b"\x7fELF\x01").is_err());
    }

    #[test]
    fn no_panic_on_damaged_files() {
        let mut read = 0;
        let n = for_each_damaged(&vdso(2, true), |d| {
            read += usize::from(vdso_facts(d).is_ok());
        });
        assert!(n > 1000 && read > 0, "{n} copies, {read} read");
    }
}
