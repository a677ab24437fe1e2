//! Modules: the kernel's `vermagic`, read from vmlinux, and the ELF facts
//! of each `.ko` file (file type, machine, leftover LLVM bitcode,
//! `.modinfo`), with what makes a module unfit for the kernel.

use crate::arch::ArchProfile;
use anyhow::{Context, Result};
use object::elf;
use object::read::elf::{ElfFile64, FileHeader};
use object::{Object, ObjectSection, ObjectSymbol};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The kernel's `vermagic` string (the one insmod's module must match),
/// read from the `vermagic` object in vmlinux.
pub fn kernel_vermagic(data: &[u8]) -> Result<String> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok("vermagic"))
        .context("vmlinux has no `vermagic` symbol (CONFIG_MODULES off?)")?;
    let section = sym
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .context("the `vermagic` symbol has no section")?;
    let bytes = section
        .data()
        .context("cannot read the section of `vermagic`")?;
    let start = sym
        .address()
        .checked_sub(section.address())
        .context("`vermagic` lies outside its section")? as usize;
    let rest = bytes
        .get(start..)
        .context("`vermagic` lies outside its section's data")?;
    let end = rest
        .iter()
        .position(|b| *b == 0)
        .context("`vermagic` is not NUL-terminated")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// What a `.ko` file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFacts {
    pub path: PathBuf,
    /// LLVM bitcode (raw `BC\xC0\xDE` or the wrapper `\xDE\xC0\x17\x0B`)
    /// instead of an object file: LTO left the module unlinked.
    pub bitcode: bool,
    /// `e_type` (1 = ET_REL, a relocatable object, as modules must be).
    pub elf_type: Option<u16>,
    /// `e_machine`.
    pub machine: Option<u16>,
    /// `.modinfo` key=value pairs (the last value wins for repeated keys,
    /// except that they are all joined for `alias`, `depends` and the like;
    /// only `vermagic` and `name` are judged).
    pub modinfo: BTreeMap<String, String>,
}

impl ModuleFacts {
    pub fn vermagic(&self) -> Option<&str> {
        self.modinfo.get("vermagic").map(String::as_str)
    }
    pub fn name(&self) -> Option<&str> {
        self.modinfo.get("name").map(String::as_str)
    }
}

const BITCODE_MAGICS: [[u8; 4]; 2] = [*b"BC\xC0\xDE", [0xDE, 0xC0, 0x17, 0x0B]];

/// Reads a module's facts. Only an unreadable file is an error; an ELF
/// that does not parse has `elf_type: None`.
pub fn module_facts(path: &Path) -> Result<ModuleFacts> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(module_facts_from(path, &data))
}

pub fn module_facts_from(path: &Path, data: &[u8]) -> ModuleFacts {
    let mut facts = ModuleFacts {
        path: path.to_owned(),
        bitcode: BITCODE_MAGICS.iter().any(|m| data.starts_with(m)),
        elf_type: None,
        machine: None,
        modinfo: BTreeMap::new(),
    };
    if let Ok(file) = ElfFile64::<object::Endianness>::parse(data) {
        let header = file.elf_header();
        let endian = file.endian();
        facts.elf_type = Some(header.e_type(endian).0);
        facts.machine = Some(header.e_machine(endian).0);
        if let Some(section) = file.section_by_name(".modinfo") {
            for entry in section.data().unwrap_or(&[]).split(|b| *b == 0) {
                let entry = String::from_utf8_lossy(entry);
                if let Some((k, v)) = entry.split_once('=') {
                    facts.modinfo.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }
    facts
}

/// Why a module is not fit for a kernel, or `None` when it is.
pub fn module_problems(
    facts: &ModuleFacts,
    expected_name: &str,
    arch: &ArchProfile,
    kernel_vermagic: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if facts.bitcode {
        out.push(
            "is LLVM bitcode, not an object file: LTO never turned it into machine code".into(),
        );
        return out;
    }
    match facts.elf_type {
        None => {
            out.push("is not a 64-bit ELF file".into());
            return out;
        }
        Some(t) if t != elf::ET_REL.0 => out.push(format!(
            "has ELF type {t}, expected {} (ET_REL, a relocatable object)",
            elf::ET_REL.0
        )),
        Some(_) => {}
    }
    if facts.machine != Some(arch.elf_machine) {
        out.push(format!(
            "is for ELF machine {}, this {} kernel needs machine {}",
            facts.machine.unwrap_or(0),
            arch.name,
            arch.elf_machine
        ));
    }
    match facts.vermagic() {
        None => out.push("has no vermagic in .modinfo".into()),
        Some(v) if v != kernel_vermagic => out.push(format!(
            "has vermagic `{v}`, the kernel's is `{kernel_vermagic}`"
        )),
        Some(_) => {}
    }
    match facts.name() {
        None => out.push("has no name in .modinfo".into()),
        Some(n) if n.ends_with(".lto") || n.contains(".lto.") => out.push(format!(
            "is named `{n}`: the LTO link's `.lto` suffix leaked into the module name"
        )),
        Some(n) if n != expected_name => out.push(format!(
            "calls itself `{n}` in .modinfo, expected `{expected_name}`"
        )),
        Some(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    /// A minimal ELF64 header (no sections) of the given type and machine.
    fn elf_header(e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h
    }

    fn facts(data: &[u8]) -> ModuleFacts {
        module_facts_from(Path::new("x.ko"), data)
    }

    #[test]
    fn bitcode_is_named_as_such() {
        let arch = Arch::X86_64.profile();
        for magic in BITCODE_MAGICS {
            let mut data = magic.to_vec();
            data.extend_from_slice(&[0; 60]);
            let p = module_problems(&facts(&data), "m", arch, "6.12 mod_unload ");
            assert_eq!(p.len(), 1);
            assert!(p[0].contains("LLVM bitcode"), "{p:?}");
        }
    }

    #[test]
    fn wrong_type_machine_and_missing_modinfo_are_each_reported() {
        let arch = Arch::X86_64.profile();
        let f = facts(&elf_header(elf::ET_EXEC.0, elf::EM_AARCH64.0));
        assert_eq!(f.elf_type, Some(elf::ET_EXEC.0));
        let p = module_problems(&f, "m", arch, "v");
        assert!(p.iter().any(|l| l.contains("ELF type 2")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("machine 183")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("no vermagic")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("no name")), "{p:?}");
    }

    fn with_modinfo(vermagic: &str, name: &str) -> ModuleFacts {
        let mut f = facts(&elf_header(elf::ET_REL.0, elf::EM_X86_64.0));
        f.modinfo.insert("vermagic".into(), vermagic.into());
        f.modinfo.insert("name".into(), name.into());
        f
    }

    #[test]
    fn vermagic_and_lto_suffix() {
        let arch = Arch::X86_64.profile();
        let k = "6.12.117 mod_unload ";
        assert!(module_problems(&with_modinfo(k, "m"), "m", arch, k).is_empty());
        let p = module_problems(&with_modinfo("6.12.117 SMP mod_unload ", "m"), "m", arch, k);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("vermagic `6.12.117 SMP mod_unload `"),
            "{p:?}"
        );
        let p = module_problems(&with_modinfo(k, "m.lto"), "m", arch, k);
        assert!(p[0].contains(".lto"), "{p:?}");
    }

    #[test]
    fn not_elf_is_reported() {
        let p = module_problems(
            &facts(b"hello world, not a module"),
            "m",
            Arch::Arm64.profile(),
            "v",
        );
        assert_eq!(p, vec!["is not a 64-bit ELF file".to_string()]);
    }
}
