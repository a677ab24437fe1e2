//! Section sizes: how many bytes of code and read-only data (text),
//! writable data and bss an ELF file allocates, as Berkeley `size` counts
//! them. The build stage records vmlinux's in `metadata.json`.

use anyhow::{Context, Result};
use object::{Object, ObjectSection, SectionFlags, SectionKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Section sizes, counted as `size` (Berkeley format) does. vmlinux's are
/// in `metadata.json`: this serde form is part of that file's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    pub text: u64,
    pub data: u64,
    pub bss: u64,
}

/// Section sizes of an ELF file, as Berkeley `size` counts them: allocated
/// read-only (code and rodata) as text, allocated writable as data,
/// allocated NOBITS as bss.
pub fn elf_sizes(path: &Path) -> Result<Sizes> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing {}", path.display()))?;
    let mut s = Sizes::default();
    for sec in file.sections() {
        let SectionFlags::Elf { sh_flags, .. } = sec.flags() else {
            continue;
        };
        if !sh_flags.contains(object::elf::SHF_ALLOC) {
            continue;
        }
        let size = sec.size();
        if matches!(
            sec.kind(),
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        ) {
            s.bss += size;
        } else if sh_flags.contains(object::elf::SHF_WRITE) {
            s.data += size;
        } else {
            s.text += size;
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;
    use std::process::Command;

    /// Our Berkeley-style counting agrees with llvm-size on a real ELF.
    #[test]
    fn elf_sizes_match_llvm_size() {
        crate::skip_unless!(
            "elf_sizes_match_llvm_size",
            Need::Tool {
                tool: "llvm-size-19",
                package: "llvm-19"
            },
            Need::File {
                path: "/bin/busybox",
                package: "busybox-static"
            },
        );
        let elf = Path::new("/bin/busybox");
        let out = Command::new("llvm-size-19")
            .arg(elf)
            .output()
            .expect("llvm-size-19 (Debian llvm-19; ci/setup installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        let nums: Vec<u64> = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(3)
            .map(|n| n.parse().unwrap())
            .collect();
        let s = elf_sizes(elf).unwrap();
        assert_eq!(
            [s.text, s.data, s.bss],
            [nums[0], nums[1], nums[2]],
            "{text}"
        );
    }
}
