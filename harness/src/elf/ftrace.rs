//! ftrace's mcount tables: where dynamic ftrace may patch a call into each
//! function. In vmlinux the table lies between `__start_mcount_loc` and
//! `__stop_mcount_loc` (8-byte absolute addresses on x86_64 and arm64).
//! Each entry should point at an ftrace site of one of the layouts the
//! architecture's compiler emits ([`ArchProfile::ftrace_sites`]: at a
//! function's entry, after its IBT/BTI landing pad, or at arm64 CALL_OPS's
//! NOPs before it), holding NOPs, the state ftrace expects before it
//! patches anything; ftrace skips entries that are 0. On x86 objtool
//! writes the table (`--mcount --mnop`, run on `vmlinux.o` under LTO); on
//! arm64 the compiler does (`-fpatchable-function-entry`). In a module
//! the table is a section ([`ArchProfile::module_mcount_section`]) whose
//! entries relocations fill.
//!
//! A relocatable arm64 vmlinux built with `--no-apply-dynamic-relocs`
//! would hold zeros here (the addresses live in `.rela.dyn`); the
//! harness' configs do not build one.

use super::table::{u64_at, AddressMap, EntryCount};
use crate::arch::{ArchProfile, FtraceSite};
use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Size of one mcount table entry (a 64-bit address).
const ENTRY_SIZE: u64 = 8;
/// At most this many examples of each kind of bad entry are kept.
pub const MAX_EXAMPLES: usize = 20;

/// What vmlinux's mcount table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct McountFacts {
    /// Whole entries between `__start_mcount_loc` and `__stop_mcount_loc`
    /// (the boot's `ftrace: allocating N entries` counts the same).
    pub entries: u64,
    /// Bytes after the last whole entry (0 in a well-formed table).
    pub leftover_bytes: u64,
    /// Entries that are 0, which ftrace skips (`ftrace_process_locs`:
    /// padding between objects' tables, or sites in functions the linker
    /// dropped, such as overridden weak ones); they are not judged below.
    pub null_entries: u64,
    /// Entries smaller than the one before them: a table that
    /// `CONFIG_BUILDTIME_MCOUNT_SORT` should have sorted and did not.
    pub out_of_order: u64,
    /// How many entries matched each site layout, by
    /// [`FtraceSite::name`](crate::arch::FtraceSite).
    pub layouts: BTreeMap<String, u64>,
    /// How many of those sites follow a landing pad (IBT's `ENDBR64`,
    /// `BTI C`).
    pub after_landing_pad: u64,
    /// Entries in code no function symbol covers (past the end of the
    /// function before them, by its symbol's size): an overridden `__weak`
    /// function whose code the linker kept but whose symbol it dropped
    /// (`free_initmem` in 6.1's init/main.c). The kernel skips those
    /// records at boot (`FTRACE_MCOUNT_MAX_OFFSET`, since 6.0), and newer
    /// sorttables zero them; not judged below, but they must hold the NOP.
    #[serde(default)]
    pub unnamed_code: u64,
    /// How many entries are at no function in any of the arch's layouts
    /// (the function's start, after its landing pad, before it).
    pub not_function_start_count: u64,
    /// The first [`MAX_EXAMPLES`] of them: address and why.
    pub not_function_start: Vec<(u64, String)>,
    /// How many entries do not hold the NOPs of their layout (for an entry
    /// at no function: the arch's NOP).
    pub not_nop_count: u64,
    /// The first [`MAX_EXAMPLES`] of them: address and what is there.
    pub not_nop: Vec<(u64, String)>,
}

/// Reads vmlinux's mcount table and judges each entry's shape. `None` when
/// vmlinux has no `__start_mcount_loc` (a kernel without
/// `FTRACE_MCOUNT_RECORD`). Errors: not ELF, one boundary symbol without
/// the other, `__stop_mcount_loc` before `__start_mcount_loc`, a table
/// the file does not hold.
pub fn vmlinux_mcount(vmlinux: &[u8], arch: &ArchProfile) -> Result<Option<McountFacts>> {
    let file = object::File::parse(vmlinux).context("not an ELF file")?;
    let little = file.is_little_endian();
    let mut start = None;
    let mut stop = None;
    let mut functions: Vec<(u64, &str)> = Vec::new();
    // Each function symbol's extent, for telling code inside a function
    // from code no symbol covers.
    let mut extents: Vec<(u64, u64)> = Vec::new();
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        match name {
            "__start_mcount_loc" => start = Some(sym.address()),
            "__stop_mcount_loc" => stop = Some(sym.address()),
            _ if sym.kind() == SymbolKind::Text && !sym.is_undefined() => {
                functions.push((sym.address(), name));
                extents.push((sym.address(), sym.address().saturating_add(sym.size())));
            }
            _ => {}
        }
    }
    let extents = Extents::new(extents);
    let (start, stop) = match (start, stop) {
        (None, None) => return Ok(None),
        (Some(a), Some(b)) => (a, b),
        (Some(_), None) => bail!("vmlinux has __start_mcount_loc but no __stop_mcount_loc"),
        (None, Some(_)) => bail!("vmlinux has __stop_mcount_loc but no __start_mcount_loc"),
    };
    let len = stop.checked_sub(start).with_context(|| {
        format!("__stop_mcount_loc ({stop:#x}) lies before __start_mcount_loc ({start:#x})")
    })?;
    let count = EntryCount::of(len, ENTRY_SIZE);
    let mut facts = McountFacts {
        entries: count.entries,
        leftover_bytes: count.leftover_bytes,
        ..McountFacts::default()
    };
    if len == 0 {
        return Ok(Some(facts));
    }
    let map = AddressMap::new(&file);
    let table = map.bytes_at(start, len).with_context(|| {
        format!("the mcount table ({start:#x}, {len} bytes) is not in any section of the file")
    })?;
    functions.sort_unstable();
    let starts: HashSet<u64> = functions.iter().map(|(a, _)| *a).collect();
    let shape = Shape {
        map: &map,
        functions: &functions,
        starts: &starts,
        arch,
    };
    let mut previous = 0;
    for i in 0..count.entries {
        let Some(address) = u64_at(table, i * ENTRY_SIZE, little) else {
            break;
        };
        if address < previous {
            facts.out_of_order += 1;
        }
        previous = address;
        if address == 0 {
            facts.null_entries += 1;
            continue;
        }
        match shape.judge(address) {
            Site::Layout(site) => {
                *facts.layouts.entry(site.name.to_owned()).or_default() += 1;
                facts.after_landing_pad += u64::from(site.landing_pad);
            }
            Site::NotNop(what) => {
                facts.not_nop_count += 1;
                if facts.not_nop.len() < MAX_EXAMPLES {
                    facts.not_nop.push((address, what));
                }
            }
            Site::NoFunction(_, Ok(())) if extents.outside_every_function(address) => {
                facts.unnamed_code += 1;
            }
            Site::NoFunction(why, nop) => {
                facts.not_function_start_count += 1;
                if facts.not_function_start.len() < MAX_EXAMPLES {
                    facts.not_function_start.push((address, why));
                }
                if let Err(what) = nop {
                    facts.not_nop_count += 1;
                    if facts.not_nop.len() < MAX_EXAMPLES {
                        facts.not_nop.push((address, what));
                    }
                }
            }
        }
    }
    Ok(Some(facts))
}

/// Function symbols' extents `[start, start + size)` sorted by start,
/// with the furthest end reached by any symbol up to each one.
struct Extents(Vec<(u64, u64, u64)>);

impl Extents {
    fn new(mut extents: Vec<(u64, u64)>) -> Extents {
        extents.sort_unstable();
        let mut furthest = 0;
        Extents(
            extents
                .into_iter()
                .map(|(start, end)| {
                    furthest = furthest.max(end);
                    (start, end, furthest)
                })
                .collect(),
        )
    }

    /// Whether `address` lies in code no function symbol covers: past the
    /// end of every function before it. Not when no symbol lies before
    /// it, nor when the nearest one has size 0 (its extent is unknown).
    fn outside_every_function(&self, address: u64) -> bool {
        let before = self.0.partition_point(|(a, _, _)| *a <= address);
        match before.checked_sub(1).and_then(|i| self.0.get(i)) {
            Some(&(start, end, furthest)) => end > start && furthest <= address,
            None => false,
        }
    }
}

/// What an mcount entry is.
enum Site<'a> {
    /// A site of this layout, holding its NOPs.
    Layout(&'a FtraceSite),
    /// At a function as some layout places it, without that layout's
    /// bytes: what is there.
    NotNop(String),
    /// At no function: why, and whether the arch's NOP is there.
    NoFunction(String, Result<(), String>),
}

/// What an mcount entry is checked against.
struct Shape<'a, 'd> {
    map: &'a AddressMap<'d>,
    /// Function symbols by address.
    functions: &'a [(u64, &'d str)],
    starts: &'a HashSet<u64>,
    arch: &'a ArchProfile,
}

impl<'a> Shape<'a, '_> {
    fn judge(&self, address: u64) -> Site<'a> {
        let mut mismatch = None;
        for site in self.arch.ftrace_sites {
            let offset = i64::from(site.entry_offset);
            let Some(func) = address.checked_add_signed(-offset) else {
                continue;
            };
            if !self.starts.contains(&func) {
                continue;
            }
            let from = func.wrapping_add_signed(offset.min(0));
            match self.map.bytes_at(from, site.code.len() as u64) {
                Some(bytes) if bytes == site.code => return Site::Layout(site),
                found => {
                    mismatch.get_or_insert_with(|| {
                        format!(
                            "`{}` holds {}, expected {} ({})",
                            self.name_at(func),
                            found.map_or_else(|| "bytes the file does not have".into(), hex),
                            hex(site.code),
                            site.name
                        )
                    });
                }
            }
        }
        match mismatch {
            Some(what) => Site::NotNop(what),
            None => Site::NoFunction(self.nearest(address), self.nop(address)),
        }
    }

    /// Where `address` lies, for an entry at no function.
    fn nearest(&self, address: u64) -> String {
        let before = self.functions.partition_point(|(a, _)| *a <= address);
        match before.checked_sub(1).and_then(|i| self.functions.get(i)) {
            Some((func, name)) => format!(
                "is not a function start: it is `{name}`+{:#x}",
                address.wrapping_sub(*func)
            ),
            None => "is not a function start: no function symbol lies at or before it".into(),
        }
    }

    fn name_at(&self, address: u64) -> &str {
        let i = self.functions.partition_point(|(a, _)| *a < address);
        self.functions.get(i).map_or("?", |(_, n)| n)
    }

    /// `Err(what is there)` unless `address` holds the arch's NOP.
    fn nop(&self, address: u64) -> Result<(), String> {
        let nop = self.arch.ftrace_nop;
        match self.map.bytes_at(address, nop.len() as u64) {
            Some(bytes) if bytes == nop => Ok(()),
            Some(bytes) => Err(format!("holds {}, expected {}", hex(bytes), hex(nop))),
            None => Err(format!(
                "no section of the file holds {} bytes at this address",
                nop.len()
            )),
        }
    }
}

/// Bytes as `0f 1f 44 00 00`.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A module's mcount table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModuleMcount {
    /// Entries of [`ArchProfile::module_mcount_section`].
    pub entries: EntryCount,
    /// Relocations that fill them in (one per entry in a well-formed `.ko`).
    pub relocations: u64,
}

/// A module's mcount table, `None` when the module has no such section
/// (FUNCTION_TRACER off, or a module with no traceable function).
pub fn module_mcount(ko: &[u8], arch: &ArchProfile) -> Result<Option<ModuleMcount>> {
    let file = object::File::parse(ko).context("not an ELF file")?;
    let Some(section) = file.section_by_name(arch.module_mcount_section) else {
        return Ok(None);
    };
    Ok(Some(ModuleMcount {
        entries: EntryCount::of(section.size(), ENTRY_SIZE),
        relocations: section.relocations().count() as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{
        for_each_damaged, TestElf, STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_NOTYPE,
    };
    use crate::model::Arch;
    use object::elf;

    const TEXT: u64 = 0xffff_ffff_8100_0000;
    const INIT_DATA: u64 = 0xffff_ffff_8200_0000;
    const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
    const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

    /// A vmlinux with functions `(name, offset, code)` in `.text` (code
    /// only, no symbol, for an empty name)
    /// and an mcount table of `entries` (offsets into `.text`) between
    /// `__start_mcount_loc` and `__stop_mcount_loc` (`extra` bytes more).
    fn vmlinux(
        machine: elf::Machine,
        functions: &[(&str, u64, &[u8])],
        entries: &[u64],
        extra: usize,
    ) -> Vec<u8> {
        let mut text = vec![0xcc; 0x60];
        for (_, at, code) in functions {
            text[*at as usize..*at as usize + code.len()].copy_from_slice(code);
        }
        let mut table: Vec<u8> = entries
            .iter()
            .flat_map(|e| (TEXT + e).to_le_bytes())
            .collect();
        table.resize(table.len() + extra, 0);
        let mut elf = TestElf::new(elf::ET_EXEC, machine);
        let t = elf.progbits(".text", 6, TEXT, &text);
        let d = elf.progbits(".init.data", 3, INIT_DATA, &table);
        for (name, at, _) in functions.iter().filter(|(n, _, _)| !n.is_empty()) {
            elf.symbol(name, TEXT + at, STT_FUNC, STB_LOCAL, t);
        }
        elf.symbol("__start_mcount_loc", INIT_DATA, STT_NOTYPE, STB_GLOBAL, d);
        let stop = INIT_DATA + table.len() as u64;
        elf.symbol("__stop_mcount_loc", stop, STT_NOTYPE, STB_GLOBAL, d);
        elf.build()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn layouts(counts: &[(&str, u64)]) -> BTreeMap<String, u64> {
        counts.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn x86_entries_are_function_starts_holding_the_nop() {
        let a = cat(&[&NOP5, &[0xc3]]);
        let b = cat(&[&ENDBR64, &NOP5, &[0xc3]]);
        let data = vmlinux(
            elf::EM_X86_64,
            &[("a", 0, &a), ("b", 0x10, &b)],
            &[0, 0x14],
            0,
        );
        let facts = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(
            facts,
            McountFacts {
                entries: 2,
                layouts: layouts(&[
                    ("NOP5 at the function's entry", 1),
                    ("NOP5 after ENDBR64 (IBT)", 1)
                ]),
                after_landing_pad: 1,
                ..McountFacts::default()
            }
        );
    }

    /// An entry past the end of the function before it (by symbol size)
    /// is an overridden weak function's kept code, as in Linux 6.1: counted
    /// apart and not a failure when it holds the NOP; an entry inside a
    /// function, or in unnamed code without the NOP, still is.
    #[test]
    fn entries_in_code_no_symbol_covers_are_dropped_weak_functions() {
        let a = cat(&[&NOP5, &[0xc3]]);
        let b = cat(&[&NOP5, &NOP5, &[0xc3]]);
        // Unnamed code at 0x06 (NOP5 then ret), and 0xcc at 0x30.
        let data = vmlinux(
            elf::EM_X86_64,
            &[("a", 0, &a), ("", 0x06, &a), ("b", 0x10, &b)],
            &[0, 0x06, 0x10, 0x15, 0x30],
            0,
        );
        // Give a and b their sizes (as a real vmlinux's symbols have).
        let sized = with_sizes(&data, &[("a", a.len() as u64), ("b", b.len() as u64)]);
        let f = vmlinux_mcount(&sized, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(f.unnamed_code, 1, "{f:?}");
        assert_eq!(f.layouts, layouts(&[("NOP5 at the function's entry", 2)]));
        // b+0x5 is inside b; 0x30 is unnamed but holds no NOP.
        assert_eq!(f.not_function_start_count, 2, "{f:?}");
        assert_eq!(f.not_nop_count, 1, "{f:?}");
        // Without sizes nothing is known to lie outside a function.
        let f = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!((f.unnamed_code, f.not_function_start_count), (0, 3));
    }

    /// `data` with the named symbols' `st_size` set (64-bit ELF symtab).
    fn with_sizes(data: &[u8], sizes: &[(&str, u64)]) -> Vec<u8> {
        use object::{Object, ObjectSymbol};
        let file = object::File::parse(data).unwrap();
        let symtab = file.section_by_name(".symtab").unwrap();
        let (off, _) = object::ObjectSection::file_range(&symtab).unwrap();
        let mut out = data.to_vec();
        for sym in file.symbols() {
            let Some((_, size)) = sizes.iter().find(|(n, _)| sym.name() == Ok(*n)) else {
                continue;
            };
            // Elf64_Sym: name 4, info 1, other 1, shndx 2, value 8, size 8.
            let at = off as usize + sym.index().0 * 24 + 16;
            out[at..at + 8].copy_from_slice(&size.to_le_bytes());
        }
        out
    }

    #[test]
    fn x86_bad_entries_say_why() {
        let a = cat(&[&NOP5, &[0xc3]]);
        let call = [0xe8, 0, 0, 0, 0, 0xc3];
        // `d` has no ENDBR64, so d+4 is no landing-pad site.
        let d = cat(&[&[0x90; 4], &NOP5, &[0xc3]]);
        let e = cat(&[&NOP5, &NOP5, &[0xc3]]);
        let data = vmlinux(
            elf::EM_X86_64,
            &[
                ("a", 0, &a),
                ("c", 0x20, &call),
                ("d", 0x30, &d),
                ("e", 0x40, &e),
            ],
            &[0, 0x20, 0x34, 0x45],
            0,
        );
        let f = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(f.entries, 4);
        assert_eq!(f.layouts, layouts(&[("NOP5 at the function's entry", 1)]));
        assert_eq!(f.not_function_start_count, 1);
        assert_eq!(f.not_function_start[0].0, TEXT + 0x45);
        assert!(
            f.not_function_start[0].1.contains("`e`+0x5"),
            "{:?}",
            f.not_function_start
        );
        assert_eq!(f.not_nop_count, 2, "{:?}", f.not_nop);
        assert_eq!(f.not_nop[0].0, TEXT + 0x20);
        assert_eq!(
            f.not_nop[0].1,
            "`c` holds e8 00 00 00 00, expected 0f 1f 44 00 00 (NOP5 at the function's entry)"
        );
        assert_eq!(f.not_nop[1].0, TEXT + 0x34);
        assert_eq!(
            f.not_nop[1].1,
            "`d` holds 90 90 90 90 0f 1f 44 00 00, expected f3 0f 1e fa 0f 1f 44 00 00 \
             (NOP5 after ENDBR64 (IBT))"
        );
    }

    #[test]
    fn arm64_sites_at_the_entry_after_bti_and_before_the_function() {
        let nops = [0x1f, 0x20, 0x03, 0xd5, 0x1f, 0x20, 0x03, 0xd5];
        let bti = [0x5f, 0x24, 0x03, 0xd5];
        let f = cat(&[&nops, &[0xc0, 0x03, 0x5f, 0xd6]]);
        let g = cat(&[&bti, &nops]);
        // `h` (CALL_OPS): two NOPs before it (no symbol) and two at it.
        let data = vmlinux(
            elf::EM_AARCH64,
            &[
                ("f", 0, &f),
                ("g", 0x10, &g),
                ("", 0x28, &nops),
                ("h", 0x30, &nops),
            ],
            &[0, 0x14, 0x28, 0x4],
            0,
        );
        let facts = vmlinux_mcount(&data, Arch::Arm64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(facts.entries, 4);
        assert_eq!(
            facts.layouts,
            layouts(&[
                ("two NOPs at the function's entry", 1),
                ("two NOPs after BTI C", 1),
                (
                    "two NOPs before the function and two at its entry (CALL_OPS)",
                    1
                ),
            ])
        );
        assert_eq!(facts.after_landing_pad, 1);
        // f+4 would be after a BTI C that `f` does not have.
        assert_eq!(facts.not_function_start_count, 0);
        assert_eq!(facts.not_nop_count, 1);
        assert!(
            facts.not_nop[0].1.starts_with("`f` holds 1f 20 03 d5")
                && facts.not_nop[0].1.contains("(two NOPs after BTI C)"),
            "{:?}",
            facts.not_nop
        );
    }

    #[test]
    fn null_entries_are_skipped_and_order_is_checked() {
        let a = cat(&[&NOP5, &[0xc3]]);
        let b = cat(&[&NOP5, &[0xc3]]);
        let funcs: &[(&str, u64, &[u8])] = &[("a", 0, &a), ("b", 0x10, &b)];
        let mut data = vmlinux(elf::EM_X86_64, funcs, &[0, 0, 0x10], 8);
        // The table's last 8 bytes, after 0x10: a zero entry at the end.
        let f = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!((f.entries, f.null_entries), (4, 1), "{f:?}");
        assert_eq!(f.not_function_start_count + f.not_nop_count, 0, "{f:?}");
        // 0x10 then 0: the zero is out of order (as a built-time sorted
        // table never has it).
        assert_eq!(f.out_of_order, 1);
        // Rewrite the first two entries as TEXT + 0x10 and TEXT.
        let first = (TEXT + 0x10).to_le_bytes();
        let at = data
            .windows(8)
            .position(|w| w == TEXT.to_le_bytes())
            .unwrap();
        data[at..at + 8].copy_from_slice(&first);
        let f = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(f.null_entries, 1);
        assert_eq!(f.out_of_order, 2, "b, a, b, 0: two steps down");
    }

    #[test]
    fn examples_are_capped_but_every_bad_entry_is_counted() {
        let entries: Vec<u64> = (0..30).map(|i| 0x50 + i % 8).collect();
        let data = vmlinux(elf::EM_X86_64, &[], &entries, 0);
        let f = vmlinux_mcount(&data, Arch::X86_64.profile())
            .unwrap()
            .unwrap();
        assert_eq!(f.not_function_start_count, 30);
        assert_eq!(f.not_function_start.len(), MAX_EXAMPLES);
        assert!(
            f.not_function_start[0].1.contains("no function symbol"),
            "{f:?}"
        );
        assert_eq!(f.not_nop_count, 30);
        assert_eq!(f.not_nop.len(), MAX_EXAMPLES);
    }

    #[test]
    fn table_bounds() {
        let x86 = Arch::X86_64.profile();
        let a = cat(&[&NOP5]);
        let odd = vmlinux(elf::EM_X86_64, &[("a", 0, &a)], &[0], 4);
        let f = vmlinux_mcount(&odd, x86).unwrap().unwrap();
        assert_eq!((f.entries, f.leftover_bytes), (1, 4));
        let empty = vmlinux(elf::EM_X86_64, &[], &[], 0);
        assert_eq!(vmlinux_mcount(&empty, x86).unwrap().unwrap().entries, 0);

        assert_eq!(vmlinux_mcount(&TestElf::exec().build(), x86).unwrap(), None);
        let mut one = TestElf::exec();
        let d = one.progbits(".init.data", 3, INIT_DATA, &[0; 8]);
        one.symbol("__start_mcount_loc", INIT_DATA, STT_NOTYPE, STB_GLOBAL, d);
        let err = vmlinux_mcount(&one.build(), x86).unwrap_err();
        assert!(format!("{err}").contains("no __stop_mcount_loc"), "{err}");
        one.symbol(
            "__stop_mcount_loc",
            INIT_DATA - 8,
            STT_NOTYPE,
            STB_GLOBAL,
            d,
        );
        let err = vmlinux_mcount(&one.build(), x86).unwrap_err();
        assert!(format!("{err}").contains("lies before"), "{err}");
        let mut outside = TestElf::exec();
        let d = outside.progbits(".init.data", 3, INIT_DATA, &[0; 8]);
        outside.symbol("__start_mcount_loc", INIT_DATA, STT_NOTYPE, STB_GLOBAL, d);
        outside.symbol(
            "__stop_mcount_loc",
            INIT_DATA + 16,
            STT_NOTYPE,
            STB_GLOBAL,
            d,
        );
        let err = vmlinux_mcount(&outside.build(), x86).unwrap_err();
        assert!(format!("{err}").contains("not in any section"), "{err}");
    }

    fn module(section: &str, entries: usize, relocs: usize) -> Vec<u8> {
        let mut elf = TestElf::rel();
        let t = elf.progbits(".text", 6, 0, &[0x90; 32]);
        let m = elf.progbits(section, 2, 0, &vec![0; entries * 8]);
        elf.symbol(".text", 0, elf::STT_SECTION.0, STB_LOCAL, t);
        let relocs: Vec<_> = (0..relocs as u64)
            .map(|i| (i * 8, 1, 1, i as i64))
            .collect();
        elf.rela(m, &relocs);
        elf.build()
    }

    #[test]
    fn module_tables_use_the_arch_section() {
        let x86 = Arch::X86_64.profile();
        let arm = Arch::Arm64.profile();
        let ko = module("__mcount_loc", 3, 3);
        let m = module_mcount(&ko, x86).unwrap().unwrap();
        assert_eq!(
            (m.entries.entries, m.entries.leftover_bytes, m.relocations),
            (3, 0, 3)
        );
        assert_eq!(module_mcount(&ko, arm).unwrap(), None);
        let ko = module("__patchable_function_entries", 2, 0);
        let m = module_mcount(&ko, arm).unwrap().unwrap();
        assert_eq!((m.entries.entries, m.relocations), (2, 0));
    }

    #[test]
    fn no_reader_panics_on_damaged_files() {
        let a = cat(&[&ENDBR64, &NOP5]);
        let data = vmlinux(elf::EM_X86_64, &[("a", 0, &a)], &[4, 0, 0x30], 4);
        let x86 = Arch::X86_64.profile();
        let mut read = 0;
        let n = for_each_damaged(&data, |d| {
            read += usize::from(vmlinux_mcount(d, x86).is_ok_and(|f| f.is_some()));
        });
        assert!(n > 1000 && read > 0, "{n} copies, {read} read");
        for_each_damaged(&module("__mcount_loc", 2, 2), |d| {
            let _ = module_mcount(d, x86);
        });
    }
}
