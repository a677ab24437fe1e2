//! kCFI evidence: how much of each of the architecture's kCFI markers
//! (trap sections, `__cfi_` preambles, arm64 `BRK` traps) a vmlinux
//! carries. A kernel built with kCFI has some of each.

use crate::arch::{ArchProfile, KcfiMarker};
use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use serde::Serialize;

/// How much of one kind of kCFI instrumentation a vmlinux carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KcfiCount {
    /// What was counted, e.g. "section __kcfi_traps (bytes)".
    pub what: String,
    pub count: u64,
}

/// Counts each of the architecture's kCFI markers in a vmlinux image.
pub fn kcfi_evidence(data: &[u8], arch: &ArchProfile) -> Result<Vec<KcfiCount>> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let mut out = Vec::new();
    for marker in arch.kcfi_markers {
        let (what, count) = match marker {
            KcfiMarker::Section(name) => (
                format!("bytes in section {name}"),
                file.section_by_name(name).map_or(0, |s| s.size()),
            ),
            KcfiMarker::SymbolPrefix(prefix) => (
                format!("symbols named {prefix}*"),
                file.symbols()
                    .filter(|s| s.name().is_ok_and(|n| n.starts_with(prefix)))
                    .count() as u64,
            ),
            KcfiMarker::A64Brk { lo, hi } => {
                let n = a64_words(&file)
                    // BRK #imm16: 1101 0100 001 imm16 000 00
                    .filter(|w| w & 0xFFE0_001F == 0xD420_0000)
                    .map(|w| (w >> 5) & 0xFFFF)
                    .filter(|imm| (*lo..=*hi).contains(imm))
                    .count() as u64;
                (format!("BRK #{lo:#x}..#{hi:#x} trap instructions"), n)
            }
        };
        out.push(KcfiCount { what, count });
    }
    Ok(out)
}

/// AArch64 indirect calls (`BLR Xn`) in code: each must be guarded by a
/// kCFI check (and its `BRK`) in a kCFI module. A module with none has
/// nothing for kCFI to instrument on arm64, so its lack of traps says
/// nothing.
pub fn a64_indirect_calls(data: &[u8]) -> Result<u64> {
    let file = object::File::parse(data).context("not an ELF file")?;
    Ok(a64_words(&file)
        // BLR Xn: 1101 0110 0011 1111 0000 00 Rn 00000
        .filter(|w| w & 0xFFFF_FC1F == 0xD63F_0000)
        .count() as u64)
}

/// Every little-endian 32-bit word of the file's code sections (AArch64
/// instructions).
fn a64_words<'d>(file: &object::File<'d>) -> impl Iterator<Item = u32> + 'd {
    file.sections()
        .filter(|s| s.kind() == SectionKind::Text)
        .flat_map(|s| {
            s.data()
                .unwrap_or(&[])
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        })
        .collect::<Vec<u32>>()
        .into_iter()
}
