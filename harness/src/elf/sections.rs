//! Section and symbol names that show how an object went through LTO:
//!
//! * a module's data sections: under `CONFIG_LTO_CLANG`, LLD always splits
//!   data per symbol and `scripts/module.lds.S` merges `.bss.*`, `.data.*`,
//!   `.rodata.*` (exactly `.<x>.[0-9a-zA-Z_]*` and `.<x>..L*`) back into
//!   `.bss`, `.data` and `.rodata`; a section left with such a name, or two
//!   sections with one name (`sysfs: cannot create duplicate filename`),
//!   means the merge did not happen ([`module_sections`]). Sections like
//!   `.data..percpu` or `.data..ro_after_init` are not merged, in any
//!   kernel. Non-LTO modules may have `.rodata.str1.1`: the check is for
//!   LTO kernels.
//! * ThinLTO's promoted locals, `<name>.llvm.<hash>` ([`llvm_suffixed`]):
//!   only a thin kernel has them.

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many example names are kept.
pub const MAX_EXAMPLES: usize = 20;

/// The data sections `module.lds.S` merges under LTO.
const MERGED_PREFIXES: [&str; 3] = [".bss.", ".data.", ".rodata."];

/// Whether `module.lds.S` would merge a section of this name under
/// `CONFIG_LTO_CLANG`: `.bss.[0-9a-zA-Z_]*`, `.bss..L*` and the same for
/// `.data` and `.rodata`.
pub fn is_mergeable_name(name: &str) -> bool {
    MERGED_PREFIXES.iter().any(|prefix| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                || rest.starts_with(".L")
        })
    })
}

/// A module's section names that LTO's merge should have left no trace of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModuleSections {
    /// Sections named like a split data section ([`is_mergeable_name`]),
    /// in file order.
    pub split: Vec<String>,
    /// Names that more than one section has, each once, sorted.
    pub duplicates: Vec<String>,
    /// Sections the kernel loads (SHF_ALLOC, not empty): what
    /// `/sys/module/<m>/sections` lists once the module is loaded.
    pub loaded: usize,
    /// Of those, the code sections (SHF_EXECINSTR) named `.text` or
    /// `.text.*`.
    pub text: usize,
}

/// The split and duplicated section names of a `.ko`.
pub fn module_sections(ko: &[u8]) -> Result<ModuleSections> {
    let file = object::File::parse(ko).context("not an ELF file")?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = ModuleSections::default();
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        if name.is_empty() {
            continue;
        }
        *counts.entry(name).or_default() += 1;
        if is_mergeable_name(name) {
            out.split.push(name.to_owned());
        }
        let flags = match section.flags() {
            object::SectionFlags::Elf { sh_flags, .. } => sh_flags.0,
            _ => 0,
        };
        if flags & object::elf::SHF_ALLOC.0 != 0 && section.size() > 0 {
            out.loaded += 1;
            // Code only: arm64's module.lds.h adds `.text.ftrace_trampoline`
            // (and `.init.text.ftrace_trampoline`), one-byte placeholders
            // that are not executable, to every module.
            let code = flags & object::elf::SHF_EXECINSTR.0 != 0;
            if code && (name == ".text" || name.starts_with(".text.")) {
                out.text += 1;
            }
        }
    }
    out.duplicates = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name.to_owned())
        .collect();
    Ok(out)
}

/// Symbols with ThinLTO's `.llvm.` promotion suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LlvmSuffixed {
    pub count: u64,
    /// The first [`MAX_EXAMPLES`] names, in symbol table order.
    pub examples: Vec<String>,
}

/// Counts the symbols (of `.symtab` and `.dynsym`) whose names contain
/// `.llvm.`.
pub fn llvm_suffixed(data: &[u8]) -> Result<LlvmSuffixed> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let mut out = LlvmSuffixed::default();
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        let Ok(name) = sym.name() else { continue };
        if name.contains(".llvm.") {
            out.count += 1;
            if out.examples.len() < MAX_EXAMPLES {
                out.examples.push(name.to_owned());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{for_each_damaged, TestElf, STB_GLOBAL, STB_LOCAL, STT_FUNC};

    #[test]
    fn mergeable_names_follow_module_lds() {
        for name in [
            ".data.foo",
            ".bss.x",
            ".rodata.str1.1",
            ".rodata.cst16",
            ".data..L__unnamed_1",
            ".bss..L.x",
            ".data._1",
        ] {
            assert!(is_mergeable_name(name), "{name}");
        }
        for name in [
            ".data",
            ".bss",
            ".rodata",
            ".data..percpu",
            ".data..ro_after_init",
            ".rela.data.foo",
            ".text.foo",
            ".data.",
            ".datax",
            "..L",
        ] {
            assert!(!is_mergeable_name(name), "{name}");
        }
    }

    /// A `.ko` of these sections: code (alloc + exec) for `.text*`, else
    /// alloc only.
    fn ko(names: &[&str]) -> Vec<u8> {
        let mut elf = TestElf::rel();
        for name in names {
            let flags = if name.starts_with(".text") { 6 } else { 2 };
            elf.progbits(name, flags, 0, &[0; 4]);
        }
        elf.build()
    }

    /// arm64 7.x: one merged `.text`, and the arch's non-executable
    /// `.text.ftrace_trampoline` placeholder, which is not code.
    #[test]
    fn a_placeholder_named_text_is_not_code() {
        let mut elf = TestElf::rel();
        elf.progbits(".text", 6, 0, &[0; 64]);
        elf.progbits(".text.ftrace_trampoline", 2, 0, &[0]);
        elf.progbits(".init.text.ftrace_trampoline", 2, 0, &[0]);
        elf.progbits(".init.text", 6, 0, &[0; 8]);
        let s = module_sections(&elf.build()).unwrap();
        assert_eq!((s.loaded, s.text), (4, 1));
    }

    #[test]
    fn merged_module_is_clean_split_module_is_not() {
        let merged = module_sections(&ko(&[
            ".text",
            ".text.f",
            ".text.g",
            ".data",
            ".rodata",
            ".data..percpu",
        ]))
        .unwrap();
        // Every section is loaded (SHF_ALLOC), three of them code.
        assert_eq!(
            merged,
            ModuleSections {
                loaded: 6,
                text: 3,
                ..ModuleSections::default()
            }
        );
        let split = module_sections(&ko(&[
            ".text",
            ".data.a",
            ".rodata.str1.1",
            ".bss..L.b",
            ".text.f",
            ".text.f",
            ".data.a",
        ]))
        .unwrap();
        assert_eq!(
            split.split,
            [".data.a", ".rodata.str1.1", ".bss..L.b", ".data.a"]
        );
        assert_eq!(split.duplicates, [".data.a", ".text.f"]);

        // NOBITS sections count as well.
        let mut elf = TestElf::rel();
        elf.nobits(".bss", 3, 0, 8);
        elf.nobits(".bss.counter", 3, 0, 8);
        let bss = module_sections(&elf.build()).unwrap();
        assert_eq!(bss.split, [".bss.counter"]);
        assert!(bss.duplicates.is_empty());
        assert_eq!((bss.loaded, bss.text), (2, 0));
        // An empty section is not loaded (no sysfs entry).
        let mut elf = TestElf::rel();
        elf.progbits(".text", 6, 0, &[]);
        elf.progbits(".comment", 0, 0, &[1, 2]);
        assert_eq!(module_sections(&elf.build()).unwrap().loaded, 0);
    }

    #[test]
    fn llvm_suffixes_are_counted_with_examples() {
        let mut elf = TestElf::exec();
        let t = elf.progbits(".text", 6, 0x1000, &[0x90; 64]);
        for i in 0..25 {
            elf.symbol(
                &format!("f{i}.llvm.{i}123"),
                0x1000 + i,
                STT_FUNC,
                STB_LOCAL,
                t,
            );
        }
        elf.symbol("plain", 0x1030, STT_FUNC, STB_GLOBAL, t);
        elf.symbol("llvm.not_a_suffix", 0x1031, STT_FUNC, STB_GLOBAL, t);
        let l = llvm_suffixed(&elf.build()).unwrap();
        assert_eq!(l.count, 25);
        assert_eq!(l.examples.len(), MAX_EXAMPLES);
        assert_eq!(l.examples[0], "f0.llvm.0123");
        assert_eq!(llvm_suffixed(&ko(&[".text"])).unwrap().count, 0);
    }

    #[test]
    fn no_panic_on_damaged_files() {
        let mut elf = TestElf::rel();
        let t = elf.progbits(".data.x", 2, 0, &[0; 8]);
        elf.progbits(".data.x", 2, 0, &[0; 8]);
        elf.symbol("a.llvm.1", 0, STT_FUNC, STB_LOCAL, t);
        let mut read = 0;
        let n = for_each_damaged(&elf.build(), |d| {
            read += usize::from(module_sections(d).is_ok());
            let _ = llvm_suffixed(d);
        });
        assert!(n > 1000 && read > 0, "{n} copies, {read} read");
    }
}
