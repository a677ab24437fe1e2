//! kCFI evidence: how much of each of the architecture's kCFI markers
//! (trap sections, `__cfi_` preambles, arm64 `BRK` traps) a vmlinux
//! carries. A kernel built with kCFI has some of each.

use crate::arch::{ArchProfile, KcfiCode, KcfiMarker};
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
                    .filter_map(brk_imm)
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
    Ok(a64_words(&file).filter(|w| is_blr(*w)).count() as u64)
}

/// The immediate of an AArch64 `BRK #imm16` (1101 0100 001 imm16 000 00).
fn brk_imm(w: u32) -> Option<u32> {
    (w & 0xFFE0_001F == 0xD420_0000).then_some((w >> 5) & 0xFFFF)
}

/// Whether an AArch64 word is `BLR Xn` (1101 0110 0011 1111 0000 00 Rn 00000).
fn is_blr(w: u32) -> bool {
    w & 0xFFFF_FC1F == 0xD63F_0000
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

/// kCFI function by function in one relocatable object (a `.ko`): each
/// function whose address is taken must carry a type hash, and each
/// indirect call must be checked. A module with a single object built
/// without kCFI still has preambles elsewhere, so only this tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionKcfi {
    /// Functions with code (FUNC symbols of non-zero size, preambles aside).
    pub functions: usize,
    /// Of those, the ones whose address the object takes (a relocation
    /// from data, or from code that is not a direct call or jump).
    pub address_taken: usize,
    /// Indirect calls in code.
    pub indirect_calls: usize,
    /// Address-taken functions without a type hash, by name.
    pub unhashed: Vec<String>,
    /// Indirect calls without a kCFI check before them.
    pub unchecked: Vec<UncheckedCall>,
}

/// An indirect call kCFI did not guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncheckedCall {
    /// The function it is in.
    pub function: String,
    /// Its offset in that function.
    pub offset: u64,
}

impl std::fmt::Display for UncheckedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:#x}", self.function, self.offset)
    }
}

/// Sections that point at function starts for the tools' sake (tracing,
/// unwinding, patching, exception tables, kCFI's own trap list), not
/// because C code takes the function's address.
const TOOL_TABLES: &[&str] = &[
    ".kcfi_traps",
    "__kcfi_traps",
    "__mcount_loc",
    "__patchable_function_entries",
    ".orc_unwind_ip",
    ".orc_unwind",
    "__ex_table",
    ".altinstructions",
    ".retpoline_sites",
    ".return_sites",
    ".call_sites",
    ".ibt_endbr_seal",
    ".static_call_sites",
    "__jump_table",
    "__bug_table",
    ".smp_locks",
    ".parainstructions",
    ".eh_frame",
];

fn is_tool_table(name: &str) -> bool {
    TOOL_TABLES.contains(&name)
        || name.starts_with(".discard")
        || name.starts_with(".debug")
        || name.starts_with(".note")
        || name.starts_with(".BTF")
}

/// One function's code: its section, start and size.
struct Function<'a> {
    name: &'a str,
    section: object::SectionIndex,
    start: u64,
    size: u64,
}

/// Reads `data` (an ELF relocatable object) function by function, as
/// kCFI shows on `arch` ([`ArchProfile::kcfi_code`], and on arm64 the
/// `BRK` range of its kCFI markers).
pub fn function_kcfi(data: &[u8], arch: &ArchProfile) -> Result<FunctionKcfi> {
    let code = arch.kcfi_code;
    let brk = arch.kcfi_markers.iter().find_map(|m| match m {
        KcfiMarker::A64Brk { lo, hi } => Some(*lo..=*hi),
        _ => None,
    });
    use object::{ObjectSymbol, RelocationTarget, SymbolKind, SymbolSection};
    use std::collections::{BTreeSet, HashMap, HashSet};
    let file = object::File::parse(data).context("not an ELF file")?;
    let mut functions: Vec<Function> = Vec::new();
    let mut preambles: HashSet<(object::SectionIndex, u64)> = HashSet::new();
    let mut data_marks: HashSet<(object::SectionIndex, u64)> = HashSet::new();
    for s in file.symbols() {
        let SymbolSection::Section(section) = s.section() else {
            continue;
        };
        let Ok(name) = s.name() else { continue };
        let in_code = file
            .section_by_index(section)
            .is_ok_and(|s| s.kind() == SectionKind::Text);
        // A function moved out of code (lkdtm's rodata.o, objcopied into
        // .rodata to be executed from there) is data to kCFI.
        if s.kind() == SymbolKind::Text && s.size() > 0 && in_code {
            if name.starts_with("__cfi_") {
                // The preamble ends where its function starts.
                preambles.insert((section, s.address() + s.size()));
            } else {
                functions.push(Function {
                    name,
                    section,
                    start: s.address(),
                    size: s.size(),
                });
            }
        } else if name == "$d" || name.starts_with("$d.") {
            data_marks.insert((section, s.address()));
        }
    }
    let starts: HashMap<(object::SectionIndex, u64), usize> = functions
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.section, f.start), i))
        .collect();
    // Where a relocation points: (section, address), for symbols defined
    // in a section (section symbols carry the offset in the addend).
    let target_of = |r: &object::Relocation| -> Option<((object::SectionIndex, u64), String)> {
        let RelocationTarget::Symbol(i) = r.target() else {
            return None;
        };
        let sym = file.symbol_by_index(i).ok()?;
        let name = sym.name().unwrap_or("").to_owned();
        match sym.section() {
            SymbolSection::Section(sec) => {
                let at = sym.address().checked_add_signed(r.addend())?;
                Some(((sec, at), name))
            }
            _ => Some(((object::SectionIndex(usize::MAX), 0), name)),
        }
    };
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    // x86: the ud2 sites `.kcfi_traps` lists, by section.
    let mut traps: HashMap<object::SectionIndex, BTreeSet<u64>> = HashMap::new();
    // x86: calls through a retpoline thunk, by (section, offset of the
    // relocation), and every relocated offset in code.
    let mut thunk_calls: HashSet<(object::SectionIndex, u64)> = HashSet::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        let is_code = section.kind() == SectionKind::Text;
        let contents = if is_code {
            section.data().unwrap_or(&[])
        } else {
            &[]
        };
        for (offset, r) in section.relocations() {
            let Some((at, target_name)) = target_of(&r) else {
                continue;
            };
            // `__kcfi_traps` once module.lds.S has renamed it.
            if name == ".kcfi_traps" || name == "__kcfi_traps" {
                // `.long 1b - .`: PC-relative, so the addend is the trap.
                traps.entry(at.0).or_default().insert(at.1);
                continue;
            }
            if is_tool_table(name) || section.kind() == SectionKind::Metadata {
                continue;
            }
            let r_type = match r.flags() {
                object::RelocationFlags::Elf { r_type } => r_type,
                _ => object::elf::RelocationType(0),
            };
            if is_code {
                if target_name.starts_with("__x86_indirect_thunk_")
                    || target_name.starts_with("__x86_indirect_call_thunk_")
                {
                    thunk_calls.insert((section.index(), offset));
                    continue;
                }
                if direct_branch(code, r_type, contents, offset) {
                    continue;
                }
            }
            // x86 PC-relative data references point 4 bytes short of
            // where the code means (the addend counts from the field's end)
            // only in code; in data the target is exact.
            let at = if is_code && code == KcfiCode::X86Preamble && pc_relative_x86(r_type) {
                (at.0, at.1.wrapping_add(4))
            } else {
                at
            };
            if let Some(&i) = starts.get(&at) {
                taken.insert(i);
            }
        }
    }
    let mut out = FunctionKcfi {
        functions: functions.len(),
        address_taken: taken.len(),
        ..FunctionKcfi::default()
    };
    for &i in &taken {
        let f = &functions[i];
        let hashed = match code {
            KcfiCode::X86Preamble => preambles.contains(&(f.section, f.start)),
            KcfiCode::A64HashWord => f.start >= 4 && data_marks.contains(&(f.section, f.start - 4)),
        };
        if !hashed {
            out.unhashed.push(f.name.to_owned());
        }
    }
    for f in &functions {
        let Some(section) = file.section_by_index(f.section).ok() else {
            continue;
        };
        let Ok(bytes) = section.data() else { continue };
        let Some((lo, hi)) = f
            .start
            .checked_sub(section.address())
            .and_then(|lo| Some((lo, lo.checked_add(f.size)?)))
            .and_then(|(lo, hi)| Some((usize::try_from(lo).ok()?, usize::try_from(hi).ok()?)))
        else {
            continue;
        };
        let Some(body) = bytes.get(lo..hi.min(bytes.len())) else {
            continue;
        };
        let sites: Vec<(u64, bool)> = match code {
            KcfiCode::X86Preamble => {
                let empty = BTreeSet::new();
                let t = traps.get(&f.section).unwrap_or(&empty);
                x86_indirect_calls(body, f.start, f.section, &thunk_calls)
                    .into_iter()
                    .map(|ip| (ip, t.range(ip.saturating_sub(16)..ip).next().is_some()))
                    .collect()
            }
            KcfiCode::A64HashWord => a64_calls_checked(body, f.start, brk.clone()),
        };
        out.indirect_calls += sites.len();
        for (ip, checked) in sites {
            if !checked {
                out.unchecked.push(UncheckedCall {
                    function: f.name.to_owned(),
                    offset: ip.wrapping_sub(f.start),
                });
            }
        }
    }
    out.unhashed.sort();
    out.unhashed.dedup();
    Ok(out)
}

/// Whether a relocation in code is the operand of a direct call or jump
/// (which does not take the target's address).
fn direct_branch(
    code: KcfiCode,
    r_type: object::elf::RelocationType,
    contents: &[u8],
    offset: u64,
) -> bool {
    match code {
        KcfiCode::A64HashWord => matches!(
            r_type,
            object::elf::R_AARCH64_CALL26 | object::elf::R_AARCH64_JUMP26
        ),
        KcfiCode::X86Preamble => {
            let Ok(o) = usize::try_from(offset) else {
                return false;
            };
            let before = |n: usize| o.checked_sub(n).and_then(|i| contents.get(i)).copied();
            pc_relative_x86(r_type)
                && (matches!(before(1), Some(0xe8 | 0xe9))
                    || (before(2) == Some(0x0f) && matches!(before(1), Some(0x80..=0x8f))))
        }
    }
}

fn pc_relative_x86(r_type: object::elf::RelocationType) -> bool {
    matches!(
        r_type,
        object::elf::R_X86_64_PC32 | object::elf::R_X86_64_PLT32
    )
}

/// The addresses of the indirect calls in one x86_64 function: `call`
/// through a register or memory, a tail call (`jmp` through a register:
/// jump tables go through memory), and `call`/`jmp` to a retpoline thunk.
fn x86_indirect_calls(
    body: &[u8],
    start: u64,
    section: object::SectionIndex,
    thunk_calls: &std::collections::HashSet<(object::SectionIndex, u64)>,
) -> Vec<u64> {
    use iced_x86::{Decoder, DecoderOptions, FlowControl};
    let mut out = Vec::new();
    let mut decoder = Decoder::with_ip(64, body, start, DecoderOptions::NONE);
    for ins in decoder.iter() {
        if ins.is_invalid() {
            continue;
        }
        let through_thunk = matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::UnconditionalBranch
        ) && ins.len() == 5
            && thunk_calls.contains(&(section, ins.ip() + 1));
        let tail_call = ins.flow_control() == FlowControl::IndirectBranch
            && ins.op0_kind() == iced_x86::OpKind::Register;
        if ins.flow_control() == FlowControl::IndirectCall || tail_call || through_thunk {
            out.push(ins.ip());
        }
    }
    out
}

/// Each `BLR Xn` of one AArch64 function, and whether a kCFI `BRK` (its
/// immediate in `brk`, the arch's kCFI range) comes within the four
/// instructions before it.
fn a64_calls_checked(
    body: &[u8],
    start: u64,
    brk: Option<std::ops::RangeInclusive<u32>>,
) -> Vec<(u64, bool)> {
    let words: Vec<u32> = body
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let is_kcfi_brk =
        |w: u32| brk_imm(w).is_some_and(|imm| brk.as_ref().is_some_and(|r| r.contains(&imm)));
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| is_blr(**w))
        .map(|(i, _)| {
            let checked = words[i.saturating_sub(4)..i]
                .iter()
                .any(|w| is_kcfi_brk(*w));
            (start.wrapping_add(4 * i as u64), checked)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PROFILES;

    /// The arch whose kCFI shows as `code`.
    fn arch(code: KcfiCode) -> &'static ArchProfile {
        PROFILES.iter().find(|p| p.kcfi_code == code).unwrap()
    }

    fn fixture(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/elf");
        std::fs::read(format!("{dir}/{name}")).unwrap()
    }

    #[test]
    fn an_object_built_with_kcfi_has_no_gap() {
        for (file, code) in [
            ("kcfi/checked-x86_64.o", KcfiCode::X86Preamble),
            ("kcfi/checked-arm64.o", KcfiCode::A64HashWord),
        ] {
            let k = function_kcfi(&fixture(file), arch(code)).unwrap();
            assert_eq!(k.unhashed, Vec::<String>::new(), "{file}");
            assert_eq!(k.unchecked, vec![], "{file}");
            // helper (in table[]) is address-taken; call_it's f(v) is the
            // one indirect call.
            assert_eq!((k.address_taken, k.indirect_calls), (1, 1), "{file}: {k:?}");
        }
    }

    #[test]
    fn an_object_linked_in_without_kcfi_is_named_function_by_function() {
        for (file, code, offset) in [
            ("kcfi/mixed-x86_64.o", KcfiCode::X86Preamble, 6),
            ("kcfi/mixed-arm64.o", KcfiCode::A64HashWord, 0x10),
        ] {
            let k = function_kcfi(&fixture(file), arch(code)).unwrap();
            assert_eq!(k.unhashed, vec!["plain_target".to_owned()], "{file}");
            assert_eq!(k.address_taken, 2, "{file}: {k:?}");
            assert_eq!(k.indirect_calls, 2, "{file}: {k:?}");
            assert_eq!(
                k.unchecked,
                vec![UncheckedCall {
                    function: "plain_call".into(),
                    offset
                }],
                "{file}"
            );
        }
    }

    #[test]
    fn real_kcfi_modules_have_no_gap() {
        for (file, code) in [
            ("x86_64-thin-cfi-test_module.ko", KcfiCode::X86Preamble),
            ("arm64-thin-cfi-test_module.ko", KcfiCode::A64HashWord),
        ] {
            let k = function_kcfi(&fixture(file), arch(code)).unwrap();
            assert!(
                k.unhashed.is_empty() && k.unchecked.is_empty(),
                "{file}: {k:?}"
            );
            // init_module and cleanup_module are called through the
            // module struct.
            assert!(k.address_taken >= 2, "{file}: {k:?}");
        }
    }

    /// lkdtm of the shipped full-LTO kCFI cases (Linux 6.12.118): every
    /// indirect call checked (x86 through `__kcfi_traps`, as module.lds.S
    /// renames it; a tail call in lkdtm_indirect_call among them) but
    /// execute_location's, which perms.c declares `__nocfi`; its rodata.o
    /// test function is in .rodata, not code.
    #[test]
    fn real_lto_lkdtm_has_one_unchecked_call_in_its_nocfi_function() {
        for (file, code, calls, offset) in [
            ("x86_64-full-cfi-lkdtm.ko", KcfiCode::X86Preamble, 5, 0x46),
            ("arm64-full-cfi-lkdtm.ko", KcfiCode::A64HashWord, 4, 0x6c),
        ] {
            let k = function_kcfi(&fixture(file), arch(code)).unwrap();
            assert_eq!(k.unhashed, Vec::<String>::new(), "{file}");
            assert_eq!(k.indirect_calls, calls, "{file}");
            assert_eq!(
                k.unchecked,
                vec![UncheckedCall {
                    function: "execute_location".into(),
                    offset
                }],
                "{file}"
            );
            assert!(k.address_taken > 100, "{file}: {k:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(function_kcfi(b"not an elf", arch(KcfiCode::X86Preamble)).is_err());
    }
}
