//! Initcall tables: the order in which a kernel runs its built-in
//! initcalls, read statically from `vmlinux` (the `__initcall*_start`
//! tables of PREL32 entries), with symbol names normalised (LTO
//! `__initstub__kmod_…` stubs, ThinLTO `.llvm.N` suffixes).
//!
//! Judging an order (golden files, the unified diff) is
//! [`crate::checks::golden`]'s; the order a boot ran is
//! [`crate::checks::boot_order`]'s.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde::Serialize;

/// One initcall: its level and its function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Initcall {
    /// A level id as used in golden files: "early", "0".."7", "0s".."7s",
    /// "rootfs" (or [`UNKNOWN_LEVEL`](crate::checks::boot_order::UNKNOWN_LEVEL)
    /// from [`attach_levels`](crate::checks::boot_order::attach_levels)).
    pub level: String,
    /// The C function, normalised (no LTO stub name, no `.llvm.N`).
    pub func: String,
}

impl Initcall {
    pub fn new(level: impl Into<String>, func: impl Into<String>) -> Self {
        Initcall {
            level: level.into(),
            func: func.into(),
        }
    }
}

impl fmt::Display for Initcall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level, self.func)
    }
}

/// Whether `id` is a level id: `early`, `0`-`7`, `0s`-`7s` or `rootfs`.
pub fn is_level(id: &str) -> bool {
    match id.as_bytes() {
        [d] | [d, b's'] => (b'0'..=b'7').contains(d),
        _ => id == "early" || id == "rootfs",
    }
}

// ---- names -------------------------------------------------------------------

const STUB_PREFIX: &str = "__initstub__";
const ENTRY_PREFIX: &str = "__initcall__";
const CFI_PREFIX: &str = "__cfi_";

/// Normalise a printed/ELF symbol: strips `.llvm.N`, and for LTO stubs
/// (`__initstub__kmod_<mod>__<ctr>_<line>_<fn><id>`) returns
/// `(fn, Some(id))`; for plain names `(name, None)`.
pub fn normalise(symbol: &str) -> (String, Option<String>) {
    let name = strip_llvm_suffix(symbol);
    match split_initcall_name(name, STUB_PREFIX) {
        Some((func, id)) => (func.to_owned(), Some(id.to_owned())),
        None => (name.to_owned(), None),
    }
}

/// `foo.llvm.12345` → `foo` (ThinLTO promoted locals); other names
/// unchanged, `.llvm.1` too: a promoted local has a name before the suffix.
fn strip_llvm_suffix(name: &str) -> &str {
    match name.rfind(".llvm.") {
        Some(dot) if dot > 0 && all_digits(&name[dot + ".llvm.".len()..]) => &name[..dot],
        _ => name,
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `<prefix>kmod_<mod>__<counter>_<line>_<fn><id>` into `(fn, id)`.
fn split_initcall_name<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix("kmod_")?;
    split_level_id(skip_module_counter_line(rest)?)
}

/// `<mod>__<counter>_<line>_<tail>` → `<tail>`, using the first
/// `__<digits>_<digits>_` (module names may contain underscores).
fn skip_module_counter_line(s: &str) -> Option<&str> {
    // Start at 1: the module name is never empty. Only char boundaries:
    // a name off a serial line may hold any character (U+FFFD).
    s.char_indices()
        .map(|(i, _)| &s[i..])
        .skip(1)
        .filter_map(|t| t.strip_prefix("__"))
        .find_map(counter_line_tail)
}

/// `<digits>_<digits>_<tail>` → `<tail>`.
fn counter_line_tail(s: &str) -> Option<&str> {
    let s = strip_digits(s)?.strip_prefix('_')?;
    strip_digits(s)?.strip_prefix('_')
}

fn strip_digits(s: &str) -> Option<&str> {
    let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < s.len()).then_some(rest)
}

/// `<fn><id>` → `(fn, id)`, taking the longest level id at the end.
fn split_level_id(s: &str) -> Option<(&str, &str)> {
    let id_len = match s.as_bytes() {
        [.., b'r', b'o', b'o', b't', b'f', b's'] => 6,
        [.., b'e', b'a', b'r', b'l', b'y'] => 5,
        [.., b'0'..=b'7', b's'] => 2,
        [.., b'0'..=b'7'] => 1,
        _ => return None,
    };
    let split = s.len().checked_sub(id_len).filter(|&n| n > 0)?;
    Some(s.split_at(split))
}

// ---- static order from vmlinux --------------------------------------------------

/// The initcall tables in run order: level name and start symbol. Each
/// range ends where the next begins; the last one at [`TABLE_END`].
const RANGES: [(&str, &str); 10] = [
    ("early", "__initcall_start"),
    ("0", "__initcall0_start"),
    ("1", "__initcall1_start"),
    ("2", "__initcall2_start"),
    ("3", "__initcall3_start"),
    ("4", "__initcall4_start"),
    ("5", "__initcall5_start"),
    ("rootfs", "__initcallrootfs_start"),
    ("6", "__initcall6_start"),
    ("7", "__initcall7_start"),
];
const TABLE_END: &str = "__initcall_end";
/// Size of one PREL32 entry.
const ENTRY_SIZE: u64 = 4;

/// Static order from a vmlinux file: every entry of every range, in table
/// order, resolved and normalised.
///
/// Entries are PREL32 (`target = entry + i32`). The level of an entry is the
/// id in its `__initcall__kmod_…` label (or in the LTO stub name), falling
/// back to the range's name when there is neither; an id that does not
/// belong to its range is an error. Also errors: not ELF, missing boundary
/// symbols, an entry pointing to no function symbol, a range whose size is
/// not a multiple of 4.
pub fn static_order(vmlinux: &Path) -> Result<Vec<Initcall>> {
    let data =
        std::fs::read(vmlinux).with_context(|| format!("cannot read {}", vmlinux.display()))?;
    static_order_from_bytes(&data)
        .with_context(|| format!("{}: cannot extract the initcall order", vmlinux.display()))
}

/// Same, from bytes already in memory (for tests and benches).
pub fn static_order_from_bytes(data: &[u8]) -> Result<Vec<Initcall>> {
    let file = object::File::parse(data).context("not an ELF file")?;
    if file.format() != object::BinaryFormat::Elf {
        bail!("not an ELF file ({:?})", file.format());
    }
    let symbols = TableSymbols::scan(&file);
    let ranges = symbols.ranges()?;
    let entries = read_entries(&file, &ranges, &symbols)?;
    let targets = resolve_targets(&file, &entries);
    entries
        .iter()
        .map(|entry| entry.initcall(&ranges[entry.range], &targets))
        .collect()
}

/// Splits an entry label `__initcall__kmod_<mod>__<counter>_<line>_<fn><level>`
/// (a ThinLTO `.llvm.N` suffix allowed) into its id
/// (`kmod_<mod>__<counter>_<line>_<fn>`) and level id.
pub fn split_entry_label(label: &str) -> Option<(&str, &str)> {
    let rest = strip_llvm_suffix(label).strip_prefix(ENTRY_PREFIX)?;
    let tail = rest.strip_prefix("kmod_")?;
    skip_module_counter_line(tail)?;
    split_level_id(rest)
}

/// vmlinux's initcall tables by entry label, for comparing with the
/// ordering script: each entry's id and level in table order, and the
/// labels that lie outside every table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableLabels {
    /// (level, id) per entry; entries without a label are left out and
    /// counted in `unlabelled`.
    pub entries: Vec<(String, String)>,
    pub unlabelled: usize,
    /// `__initcall__…` labels of a known level whose address is in no
    /// table: an initcall section the link did not place, which never runs.
    pub orphans: Vec<String>,
}

/// Reads [`TableLabels`] from vmlinux bytes.
pub fn table_labels(data: &[u8]) -> Result<TableLabels> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let symbols = TableSymbols::scan(&file);
    let ranges = symbols.ranges()?;
    let entries = read_entries(&file, &ranges, &symbols)?;
    let mut out = TableLabels::default();
    for e in &entries {
        match e.label.and_then(split_entry_label) {
            Some((id, level)) => out.entries.push((level.to_owned(), id.to_owned())),
            None => out.unlabelled += 1,
        }
    }
    let start = ranges.first().map_or(0, |r| r.start);
    let end = ranges.last().map_or(0, |r| r.end);
    let mut orphans: Vec<String> = symbols
        .entry_labels
        .iter()
        .filter(|(addr, _)| **addr < start || **addr >= end)
        .filter(|(_, label)| split_entry_label(label).is_some_and(|(_, l)| is_level(l)))
        .map(|(_, label)| label.to_string())
        .collect();
    orphans.sort();
    out.orphans = orphans;
    Ok(out)
}

/// One initcall table: `[start, end)` between two boundary symbols.
#[derive(Debug)]
struct Range {
    level: &'static str,
    start_symbol: &'static str,
    end_symbol: &'static str,
    start: u64,
    end: u64,
}

impl Range {
    fn describe(&self) -> String {
        format!(
            "level {} ({}..{})",
            self.level, self.start_symbol, self.end_symbol
        )
    }

    /// Whether an entry with level id `id` belongs in this range.
    fn admits(&self, id: &str) -> bool {
        id == self.level || (self.level.len() == 1 && id.strip_suffix('s') == Some(self.level))
    }
}

/// The symbols that describe the tables: boundaries and entry labels.
struct TableSymbols<'d> {
    boundaries: HashMap<&'d str, u64>,
    entry_labels: HashMap<u64, &'d str>,
}

impl<'d> TableSymbols<'d> {
    fn scan(file: &object::File<'d>) -> Self {
        let mut boundaries = HashMap::new();
        let mut entry_labels = HashMap::new();
        for symbol in file.symbols() {
            let Ok(name) = symbol.name() else { continue };
            if name.starts_with(ENTRY_PREFIX) {
                entry_labels.insert(symbol.address(), name);
            } else if is_boundary(name) {
                boundaries.insert(name, symbol.address());
            }
        }
        TableSymbols {
            boundaries,
            entry_labels,
        }
    }

    fn ranges(&self) -> Result<Vec<Range>> {
        let missing: Vec<&str> = boundary_names()
            .filter(|name| !self.boundaries.contains_key(name))
            .collect();
        if !missing.is_empty() {
            bail!("missing initcall boundary symbols: {}", missing.join(", "));
        }
        let ends = RANGES.iter().skip(1).map(|&(_, start)| start);
        let ranges: Vec<Range> = RANGES
            .iter()
            .zip(ends.chain([TABLE_END]))
            .map(|(&(level, start_symbol), end_symbol)| Range {
                level,
                start_symbol,
                end_symbol,
                start: self.boundaries[start_symbol],
                end: self.boundaries[end_symbol],
            })
            .collect();
        for range in &ranges {
            check_range(range)?;
        }
        Ok(ranges)
    }
}

fn boundary_names() -> impl Iterator<Item = &'static str> {
    RANGES.iter().map(|&(_, start)| start).chain([TABLE_END])
}

fn is_boundary(name: &str) -> bool {
    boundary_names().any(|boundary| boundary == name)
}

fn check_range(range: &Range) -> Result<()> {
    if range.end < range.start {
        bail!(
            "initcall table {} ends at {:#x}, before it starts at {:#x}",
            range.describe(),
            range.end,
            range.start
        );
    }
    let size = range.end - range.start;
    if !size.is_multiple_of(ENTRY_SIZE) {
        bail!(
            "initcall table {} is {size} bytes, not a multiple of {ENTRY_SIZE}",
            range.describe()
        );
    }
    Ok(())
}

/// One table entry and where it points.
struct Entry<'d> {
    /// Position in the whole table (all levels), 0-based.
    index: usize,
    /// Index into the ranges.
    range: usize,
    address: u64,
    target: u64,
    /// The `__initcall__kmod_…` label at `address`, if any.
    label: Option<&'d str>,
}

impl Entry<'_> {
    fn initcall(&self, range: &Range, targets: &HashMap<u64, &str>) -> Result<Initcall> {
        let target = targets.get(&self.target).ok_or_else(|| {
            anyhow!(
                "initcall entry #{} at {:#x} (in {}) points to {:#x}, where there is no function symbol",
                self.index,
                self.address,
                range.describe(),
                self.target
            )
        })?;
        let (func, stub_id) = normalise(target);
        let label_id = self.label.and_then(label_level);
        check_level(range, self.label, label_id)?;
        check_level(range, Some(target), stub_id.as_deref())?;
        let level = label_id.or(stub_id.as_deref()).unwrap_or(range.level);
        Ok(Initcall::new(level, func))
    }
}

/// The level id of an `__initcall__kmod_…` entry label.
fn label_level(label: &str) -> Option<&str> {
    split_initcall_name(strip_llvm_suffix(label), ENTRY_PREFIX).map(|(_, id)| id)
}

/// The function name of an `__initcall__kmod_…` entry label.
fn label_func(label: &str) -> Option<&str> {
    split_initcall_name(strip_llvm_suffix(label), ENTRY_PREFIX).map(|(func, _)| func)
}

fn check_level(range: &Range, symbol: Option<&str>, id: Option<&str>) -> Result<()> {
    match (symbol, id) {
        (Some(symbol), Some(id)) if !range.admits(id) => bail!(
            "`{symbol}` has level id `{id}` but sits in the initcall table of {}",
            range.describe()
        ),
        _ => Ok(()),
    }
}

fn read_entries<'d>(
    file: &object::File<'d>,
    ranges: &[Range],
    symbols: &TableSymbols<'d>,
) -> Result<Vec<Entry<'d>>> {
    let little_endian = file.is_little_endian();
    let mut entries = Vec::new();
    for (range_index, range) in ranges.iter().enumerate() {
        let bytes = range_bytes(file, range)?;
        for (i, chunk) in bytes.chunks_exact(ENTRY_SIZE as usize).enumerate() {
            let address = range.start + i as u64 * ENTRY_SIZE;
            let raw = [chunk[0], chunk[1], chunk[2], chunk[3]];
            let offset = if little_endian {
                i32::from_le_bytes(raw)
            } else {
                i32::from_be_bytes(raw)
            };
            entries.push(Entry {
                index: entries.len(),
                range: range_index,
                address,
                target: address.wrapping_add_signed(i64::from(offset)),
                label: symbols.entry_labels.get(&address).copied(),
            });
        }
    }
    Ok(entries)
}

/// The file bytes of a range, from whichever section holds them.
fn range_bytes<'d>(file: &object::File<'d>, range: &Range) -> Result<&'d [u8]> {
    let size = range.end - range.start;
    if size == 0 {
        return Ok(&[]);
    }
    for section in file.sections() {
        if let Ok(Some(bytes)) = section.data_range(range.start, size) {
            return Ok(bytes);
        }
    }
    bail!(
        "initcall table {} at {:#x}..{:#x} is not inside any section with file data",
        range.describe(),
        range.start,
        range.end
    )
}

/// The best function symbol name at each entry target.
///
/// Only `STT_FUNC` symbols count, never kCFI `__cfi_` preambles. Among
/// aliases, an LTO stub wins, then a name matching the entry label's
/// function, then the first in the symbol table.
fn resolve_targets<'d>(file: &object::File<'d>, entries: &[Entry<'d>]) -> HashMap<u64, &'d str> {
    let expected: HashMap<u64, Option<&str>> = entries
        .iter()
        .map(|entry| (entry.target, entry.label.and_then(label_func)))
        .collect();
    let mut best: HashMap<u64, (&'d str, (bool, bool))> = HashMap::new();
    for symbol in file.symbols() {
        let Some(expected_func) = expected.get(&symbol.address()) else {
            continue;
        };
        if symbol.kind() != SymbolKind::Text {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        if name.starts_with(CFI_PREFIX) {
            continue;
        }
        let rank = alias_rank(name, *expected_func);
        let slot = best.entry(symbol.address()).or_insert((name, rank));
        if rank > slot.1 {
            *slot = (name, rank);
        }
    }
    best.into_iter()
        .map(|(address, (name, _))| (address, name))
        .collect()
}

/// Higher is better: (is an LTO stub, matches the expected function).
fn alias_rank(name: &str, expected_func: Option<&str>) -> (bool, bool) {
    let (func, id) = normalise(name);
    (id.is_some(), expected_func == Some(func.as_str()))
}

/// What the tests of initcall orders (here, `checks::golden`,
/// `checks::boot_order`) write their expectations with.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Initcall;

    /// One initcall.
    pub fn ic(level: &str, func: &str) -> Initcall {
        Initcall::new(level, func)
    }

    /// An order of `(level, function)` pairs.
    pub fn order(spec: &[(&str, &str)]) -> Vec<Initcall> {
        spec.iter().map(|&(level, func)| ic(level, func)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    // Only the hand-run test below uses it, to print a readable diff.
    use crate::checks::golden;

    use super::test_support::{ic, order};

    // ---- normalise ----

    fn norm(symbol: &str) -> (String, Option<String>) {
        normalise(symbol)
    }

    fn stub(func: &str, id: &str) -> (String, Option<String>) {
        (func.to_owned(), Some(id.to_owned()))
    }

    fn plain(func: &str) -> (String, Option<String>) {
        (func.to_owned(), None)
    }

    #[test]
    fn normalise_stubs_with_every_id_kind() {
        assert_eq!(
            norm("__initstub__kmod_core__363_2214_init_hw_perf_eventsearly"),
            stub("init_hw_perf_events", "early")
        );
        assert_eq!(
            norm("__initstub__kmod_initramfs__337_779_populate_rootfsrootfs"),
            stub("populate_rootfs", "rootfs")
        );
        for level in 0..=7 {
            assert_eq!(
                norm(&format!("__initstub__kmod_m__1_2_foo{level}")),
                stub("foo", &level.to_string())
            );
            assert_eq!(
                norm(&format!("__initstub__kmod_m__1_2_foo{level}s")),
                stub("foo", &format!("{level}s"))
            );
        }
    }

    #[test]
    fn normalise_names_ending_in_digits_or_ids() {
        assert_eq!(
            norm("__initstub__kmod_vdso_image_64__65_560_init_vdso_image_644"),
            stub("init_vdso_image_64", "4")
        );
        assert_eq!(
            norm("__initstub__kmod_m__1_2_foo_init16"),
            stub("foo_init1", "6")
        );
        assert_eq!(
            norm("__initstub__kmod_m__1_2_foo_init11s"),
            stub("foo_init1", "1s")
        );
        assert_eq!(
            norm("__initstub__kmod_m__1_2_x_early6"),
            stub("x_early", "6")
        );
        assert_eq!(
            norm("__initstub__kmod_m__1_2_x_rootfsearly"),
            stub("x_rootfs", "early")
        );
        // Level 8 does not exist: `8` is part of the name and there is no id.
        assert_eq!(
            norm("__initstub__kmod_m__1_2_foo8"),
            plain("__initstub__kmod_m__1_2_foo8")
        );
    }

    #[test]
    fn normalise_module_names_with_underscores() {
        assert_eq!(
            norm("__initstub__kmod_flow_dissector__629_2115_init_default_flow_dissectors1"),
            stub("init_default_flow_dissectors", "1")
        );
        // The first `__<digits>_<digits>_` separates; later ones belong to the function.
        assert_eq!(
            norm("__initstub__kmod_a_b__7_8___9_10_f3"),
            stub("__9_10_f", "3")
        );
    }

    #[test]
    fn normalise_strips_llvm_suffixes() {
        assert_eq!(norm("foo.llvm.123"), plain("foo"));
        assert_eq!(
            norm("__initstub__kmod_sock__904_3991_net_inuse_init1.llvm.8812345"),
            stub("net_inuse_init", "1")
        );
        // Only `.llvm.<digits>` is a ThinLTO suffix.
        assert_eq!(norm("foo.llvm.x"), plain("foo.llvm.x"));
        assert_eq!(norm("foo.cold"), plain("foo.cold"));
        // A suffix with no name before it is not one (proptest found the
        // console line `calling  .llvm.1` normalising to an empty name).
        assert_eq!(norm(".llvm.1"), plain(".llvm.1"));
    }

    #[test]
    fn normalise_never_panics_on_other_characters() {
        // A serial glitch decoded as U+FFFD inside a stub name, which
        // sliced at a byte offset inside the character.
        for name in [
            "__initstub__kmod_\u{fffd}__1_2_foo6",
            "__initstub__kmod_a\u{fffd}_1_2_foo6",
            "__initstub__kmod_é__12_34_f\u{fffd}6",
            "__initstub__kmod_x\u{fffd}\u{fffd}__",
            "\u{fffd}.llvm.1",
        ] {
            let _ = normalise(name);
        }
        assert_eq!(
            normalise("__initstub__kmod_\u{fffd}x__1_2_foo6"),
            ("foo".to_string(), Some("6".to_string()))
        );
    }

    #[test]
    fn normalise_plain_names() {
        assert_eq!(norm("init_hw_perf_events"), plain("init_hw_perf_events"));
        assert_eq!(norm("foo1"), plain("foo1"));
        assert_eq!(norm("__initstub__weird"), plain("__initstub__weird"));
        assert_eq!(
            norm("__initstub__kmod_m__1_2_early"),
            plain("__initstub__kmod_m__1_2_early")
        );
    }

    #[test]
    fn level_ids() {
        for id in ["early", "0", "7", "0s", "7s", "rootfs"] {
            assert!(is_level(id), "{id}");
        }
        for id in ["8", "8s", "s", "", "1ss", "late", "?", "Early"] {
            assert!(!is_level(id), "{id}");
        }
    }

    // ---- static order on synthetic ELF files ----

    const TEXT_ADDR: u64 = 0xffff_ffff_8100_0000;
    const TABLE_ADDR: u64 = 0xffff_ffff_8190_0000;

    const STT_NOTYPE: u8 = 0;
    const STT_OBJECT: u8 = 1;
    const STT_FUNC: u8 = 2;
    const STB_LOCAL: u8 = 0;
    const STB_GLOBAL: u8 = 1;

    /// A level and its entries: optional label and target offset in `.text`.
    type LevelEntries<'a> = (&'a str, Vec<(Option<&'a str>, u64)>);

    /// One row of the synthetic initcall table.
    enum Row {
        /// A boundary symbol at the current position.
        Boundary(&'static str),
        /// A 4-byte entry pointing at `target`, with an optional label.
        Entry { label: Option<String>, target: u64 },
        /// Raw padding bytes.
        Pad(usize),
    }

    struct Sym {
        name: String,
        value: u64,
        kind: u8,
        bind: u8,
        /// Section header index.
        section: u16,
    }

    /// A tiny ELF64 little-endian x86-64 executable: a NOBITS `.text`
    /// (only its symbols' addresses matter) and an `.init.data` holding the
    /// initcall table, with boundary symbols and entry labels.
    #[derive(Default)]
    struct SynthElf {
        functions: Vec<(String, u64, u8)>,
        rows: Vec<Row>,
    }

    impl SynthElf {
        fn func(self, name: &str, offset: u64) -> Self {
            self.symbol(name, offset, STT_FUNC)
        }

        fn symbol(mut self, name: &str, offset: u64, kind: u8) -> Self {
            self.functions
                .push((name.to_owned(), TEXT_ADDR + offset, kind));
            self
        }

        fn boundary(mut self, name: &'static str) -> Self {
            self.rows.push(Row::Boundary(name));
            self
        }

        fn entry(mut self, label: Option<&str>, target_offset: u64) -> Self {
            self.rows.push(Row::Entry {
                label: label.map(str::to_owned),
                target: TEXT_ADDR + target_offset,
            });
            self
        }

        fn pad(mut self, n: usize) -> Self {
            self.rows.push(Row::Pad(n));
            self
        }

        /// All boundaries in order, each followed by `entries[level]`.
        fn standard(mut self, entries: &[LevelEntries]) -> Self {
            for &(level, start) in &RANGES {
                self = self.boundary(start);
                for (_, list) in entries.iter().filter(|(l, _)| *l == level) {
                    for &(label, target) in list {
                        self = self.entry(label, target);
                    }
                }
            }
            self.boundary(TABLE_END)
        }

        fn build(&self) -> Vec<u8> {
            const TEXT: u16 = 1;
            const DATA: u16 = 2;
            let mut table = Vec::new();
            let mut symbols = Vec::new();
            for (name, value, kind) in &self.functions {
                symbols.push(Sym {
                    name: name.clone(),
                    value: *value,
                    kind: *kind,
                    bind: STB_LOCAL,
                    section: TEXT,
                });
            }
            for row in &self.rows {
                let address = TABLE_ADDR + table.len() as u64;
                match row {
                    Row::Boundary(name) => symbols.push(Sym {
                        name: (*name).to_owned(),
                        value: address,
                        kind: STT_NOTYPE,
                        bind: STB_GLOBAL,
                        section: DATA,
                    }),
                    Row::Entry { label, target } => {
                        let offset = (*target as i64).wrapping_sub(address as i64) as i32;
                        table.extend_from_slice(&offset.to_le_bytes());
                        if let Some(label) = label {
                            symbols.push(Sym {
                                name: label.clone(),
                                value: address,
                                kind: STT_NOTYPE,
                                bind: STB_LOCAL,
                                section: DATA,
                            });
                        }
                    }
                    Row::Pad(n) => table.resize(table.len() + n, 0),
                }
            }
            // Locals must precede globals in an ELF symbol table.
            symbols.sort_by_key(|s| s.bind);
            write_elf(&table, &symbols)
        }
    }

    fn push_u16(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn push_u32(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn push_u64(out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends `name` and a NUL to a string table, returning its offset.
    fn add_str(table: &mut Vec<u8>, name: &str) -> u32 {
        let offset = table.len() as u32;
        table.extend_from_slice(name.as_bytes());
        table.push(0);
        offset
    }

    /// `.symtab` and `.strtab` for `symbols` (locals first), and the index
    /// of the first global symbol.
    fn symbol_tables(symbols: &[Sym]) -> (Vec<u8>, Vec<u8>, u64) {
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24]; // the null symbol
        for sym in symbols {
            push_u32(&mut symtab, add_str(&mut strtab, &sym.name));
            symtab.push(sym.bind << 4 | sym.kind);
            symtab.push(0);
            push_u16(&mut symtab, sym.section);
            push_u64(&mut symtab, sym.value);
            push_u64(&mut symtab, 0);
        }
        let first_global = 1 + symbols.iter().filter(|s| s.bind == STB_LOCAL).count() as u64;
        (symtab, strtab, first_global)
    }

    const EHDR_SIZE: u64 = 64;

    /// The ELF header of an x86-64 executable with `shnum` section headers
    /// at `shoff`, the last of them `.shstrtab`.
    fn elf_header(shoff: u64, shnum: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        push_u16(&mut out, 2); // ET_EXEC
        push_u16(&mut out, 62); // EM_X86_64
        push_u32(&mut out, 1);
        push_u64(&mut out, TEXT_ADDR); // entry
        push_u64(&mut out, 0); // phoff
        push_u64(&mut out, shoff);
        push_u32(&mut out, 0); // flags
        push_u16(&mut out, EHDR_SIZE as u16);
        push_u16(&mut out, 56); // phentsize
        push_u16(&mut out, 0); // phnum
        push_u16(&mut out, 64); // shentsize
        push_u16(&mut out, shnum);
        push_u16(&mut out, shnum - 1); // shstrndx
        out
    }

    /// A section header's fields: name, type, flags, addr, offset, size,
    /// link, info, entsize.
    type Shdr = [u64; 9];

    /// Appends a section header (every section 8-aligned).
    fn push_shdr(out: &mut Vec<u8>, h: &Shdr) {
        let [name, kind, flags, addr, offset, size, link, info, entsize] = *h;
        push_u32(out, name as u32);
        push_u32(out, kind as u32);
        push_u64(out, flags);
        push_u64(out, addr);
        push_u64(out, offset);
        push_u64(out, size);
        push_u32(out, link as u32);
        push_u32(out, info as u32);
        push_u64(out, 8);
        push_u64(out, entsize);
    }

    fn write_elf(table: &[u8], symbols: &[Sym]) -> Vec<u8> {
        const TEXT_SIZE: u64 = 0x1000;
        let (symtab, strtab, first_global) = symbol_tables(symbols);
        let mut shstrtab = vec![0u8];
        let names: Vec<u64> = [".text", ".init.data", ".symtab", ".strtab", ".shstrtab"]
            .iter()
            .map(|name| add_str(&mut shstrtab, name).into())
            .collect();

        // Layout: header, table, symtab, strtab, shstrtab, section headers.
        let table_offset = EHDR_SIZE;
        let symtab_offset = (table_offset + table.len() as u64).next_multiple_of(8);
        let strtab_offset = symtab_offset + symtab.len() as u64;
        let shstrtab_offset = strtab_offset + strtab.len() as u64;
        let shdr_offset = (shstrtab_offset + shstrtab.len() as u64).next_multiple_of(8);
        let (table_size, symtab_size) = (table.len() as u64, symtab.len() as u64);
        let (strtab_size, shstrtab_size) = (strtab.len() as u64, shstrtab.len() as u64);
        let headers: [Shdr; 6] = [
            [0; 9],
            // .text is NOBITS here: only its addresses matter.
            [
                names[0],
                8,
                0x6,
                TEXT_ADDR,
                table_offset,
                TEXT_SIZE,
                0,
                0,
                0,
            ],
            [
                names[1],
                1,
                0x3,
                TABLE_ADDR,
                table_offset,
                table_size,
                0,
                0,
                0,
            ],
            [
                names[2],
                2,
                0,
                0,
                symtab_offset,
                symtab_size,
                4,
                first_global,
                24,
            ],
            [names[3], 3, 0, 0, strtab_offset, strtab_size, 0, 0, 0],
            [names[4], 3, 0, 0, shstrtab_offset, shstrtab_size, 0, 0, 0],
        ];

        let mut out = elf_header(shdr_offset, headers.len() as u16);
        out.extend_from_slice(table);
        out.resize(symtab_offset as usize, 0);
        out.extend_from_slice(&symtab);
        out.extend_from_slice(&strtab);
        out.extend_from_slice(&shstrtab);
        out.resize(shdr_offset as usize, 0);
        for h in &headers {
            push_shdr(&mut out, h);
        }
        out
    }

    /// A non-LTO kernel: entries point straight at (local) functions.
    fn non_lto_kernel() -> SynthElf {
        SynthElf::default()
            .func("init_hw_perf_events", 0x100)
            .func("init_mmap_min_addr", 0x200)
            // Two local functions named `setup` at different addresses.
            .func("setup", 0x300)
            .func("setup", 0x400)
            .func("promoted.llvm.4242", 0x500)
            .func("populate_rootfs", 0x600)
            .func("late", 0x700)
            .standard(&[
                (
                    "early",
                    vec![(
                        Some("__initcall__kmod_core__363_2214_init_hw_perf_eventsearly"),
                        0x100,
                    )],
                ),
                (
                    "0",
                    vec![(
                        Some("__initcall__kmod_min_addr__295_53_init_mmap_min_addr0"),
                        0x200,
                    )],
                ),
                (
                    "1",
                    vec![
                        (Some("__initcall__kmod_a__1_10_setup1"), 0x400),
                        (Some("__initcall__kmod_b__2_20_setup1s"), 0x300),
                    ],
                ),
                ("4", vec![(None, 0x500)]),
                (
                    "rootfs",
                    vec![(
                        Some("__initcall__kmod_initramfs__337_779_populate_rootfsrootfs"),
                        0x600,
                    )],
                ),
                ("7", vec![(Some("__initcall__kmod_l__9_9_late7s"), 0x700)]),
            ])
    }

    fn expected_kernel_order() -> Vec<Initcall> {
        order(&[
            ("early", "init_hw_perf_events"),
            ("0", "init_mmap_min_addr"),
            ("1", "setup"),
            ("1s", "setup"),
            ("4", "promoted"),
            ("rootfs", "populate_rootfs"),
            ("7s", "late"),
        ])
    }

    #[test]
    fn static_order_non_lto() {
        let elf = non_lto_kernel().build();
        assert_eq!(
            static_order_from_bytes(&elf).unwrap(),
            expected_kernel_order()
        );
    }

    /// An LTO kCFI kernel: entries point at stubs, `__cfi_` preambles sit
    /// just before them, and some stubs have aliases.
    fn lto_kernel() -> SynthElf {
        let stubs = [
            (
                "__initstub__kmod_core__363_2214_init_hw_perf_eventsearly",
                0x100,
            ),
            (
                "__initstub__kmod_min_addr__295_53_init_mmap_min_addr0",
                0x200,
            ),
            ("__initstub__kmod_a__1_10_setup1", 0x300),
            ("__initstub__kmod_b__2_20_setup1s.llvm.77", 0x400),
            ("__initstub__kmod_p__3_30_promoted4", 0x500),
            (
                "__initstub__kmod_initramfs__337_779_populate_rootfsrootfs",
                0x600,
            ),
            ("__initstub__kmod_l__9_9_late7s", 0x700),
        ];
        let mut elf = SynthElf::default()
            // An alias listed before the stub, and a data object at the same address.
            .func("some_alias", 0x300)
            .symbol("_sinittext", 0x100, STT_NOTYPE)
            .symbol("an_object", 0x200, STT_OBJECT);
        for (name, offset) in stubs {
            elf = elf
                .func(&format!("__cfi_{name}"), offset - 0x10)
                .func(name, offset)
                .func(&format!("__cfi_{name}"), offset);
        }
        // Entry labels are absent for level 4: the stub gives the level.
        let entries: Vec<LevelEntries> = vec![
            (
                "early",
                vec![(
                    Some("__initcall__kmod_core__363_2214_init_hw_perf_eventsearly"),
                    0x100,
                )],
            ),
            (
                "0",
                vec![(
                    Some("__initcall__kmod_min_addr__295_53_init_mmap_min_addr0"),
                    0x200,
                )],
            ),
            (
                "1",
                vec![
                    (Some("__initcall__kmod_a__1_10_setup1"), 0x300),
                    (None, 0x400),
                ],
            ),
            ("4", vec![(None, 0x500)]),
            (
                "rootfs",
                vec![(
                    Some("__initcall__kmod_initramfs__337_779_populate_rootfsrootfs"),
                    0x600,
                )],
            ),
            ("7", vec![(None, 0x700)]),
        ];
        elf.standard(&entries)
    }

    #[test]
    fn static_order_lto_stubs() {
        let elf = lto_kernel().build();
        assert_eq!(
            static_order_from_bytes(&elf).unwrap(),
            expected_kernel_order()
        );
    }

    #[test]
    fn static_order_prefers_alias_matching_the_label() {
        let elf = SynthElf::default()
            .func("alias_first", 0x100)
            .func("wanted", 0x100)
            .func("alias_last", 0x100)
            .standard(&[("3", vec![(Some("__initcall__kmod_m__1_2_wanted3"), 0x100)])])
            .build();
        assert_eq!(
            static_order_from_bytes(&elf).unwrap(),
            order(&[("3", "wanted")])
        );
    }

    #[test]
    fn static_order_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vmlinux");
        std::fs::write(&path, non_lto_kernel().build()).unwrap();
        assert_eq!(static_order(&path).unwrap(), expected_kernel_order());
        let missing = dir.path().join("nope");
        let err = format!("{:#}", static_order(&missing).unwrap_err());
        assert!(err.contains("nope"), "{err}");
    }

    fn static_error(elf: &[u8]) -> String {
        format!("{:#}", static_order_from_bytes(elf).unwrap_err())
    }

    #[test]
    fn static_order_rejects_non_elf() {
        let err = static_error(b"#!/bin/sh\necho not a kernel\n");
        assert!(err.contains("not an ELF file"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bzImage");
        std::fs::write(&path, b"MZ nope").unwrap();
        let err = format!("{:#}", static_order(&path).unwrap_err());
        assert!(
            err.contains("bzImage") && err.contains("not an ELF file"),
            "{err}"
        );
    }

    #[test]
    fn static_order_names_missing_boundaries() {
        let mut elf = SynthElf::default();
        for &(level, start) in &RANGES {
            if level != "3" && level != "rootfs" {
                elf = elf.boundary(start);
            }
        }
        let err = static_error(&elf.build());
        assert!(
            err.contains("missing initcall boundary symbols: __initcall3_start, __initcallrootfs_start, __initcall_end"),
            "{err}"
        );
    }

    #[test]
    fn static_order_entry_without_function() {
        let elf = SynthElf::default()
            .func("good", 0x100)
            .symbol("not_a_function", 0x180, STT_NOTYPE)
            .func("__cfi_only_cfi", 0x200)
            .standard(&[
                ("2", vec![(None, 0x100), (None, 0x180)]),
                ("3", vec![(None, 0x200)]),
            ])
            .build();
        let err = static_error(&elf);
        let at = TABLE_ADDR + 4;
        let to = TEXT_ADDR + 0x180;
        assert!(err.contains(&format!("entry #1 at {at:#x}")), "{err}");
        assert!(err.contains(&format!("points to {to:#x}")), "{err}");
        assert!(err.contains("no function symbol"), "{err}");

        let cfi_only = SynthElf::default()
            .func("__cfi_only_cfi", 0x200)
            .standard(&[("3", vec![(None, 0x200)])])
            .build();
        assert!(static_error(&cfi_only).contains("entry #0"));
    }

    #[test]
    fn static_order_range_not_multiple_of_four() {
        let mut elf = SynthElf::default().func("f", 0x100);
        for &(level, start) in &RANGES {
            elf = elf.boundary(start);
            if level == "5" {
                elf = elf.entry(None, 0x100).pad(2);
            }
        }
        let err = static_error(&elf.boundary(TABLE_END).build());
        assert!(
            err.contains("level 5 (__initcall5_start..__initcallrootfs_start) is 6 bytes"),
            "{err}"
        );
    }

    #[test]
    fn static_order_rejects_level_outside_its_range() {
        let label = "__initcall__kmod_m__1_2_misplaced3";
        let elf = SynthElf::default()
            .func("misplaced", 0x100)
            .standard(&[("2", vec![(Some(label), 0x100)])])
            .build();
        let err = static_error(&elf);
        assert!(err.contains(label) && err.contains("level 2"), "{err}");

        let stub = "__initstub__kmod_m__1_2_misplaced2s";
        let elf = SynthElf::default()
            .func(stub, 0x100)
            .standard(&[("early", vec![(None, 0x100)])])
            .build();
        let err = static_error(&elf);
        assert!(err.contains(stub) && err.contains("level early"), "{err}");
    }

    #[test]
    fn range_admits_its_ids_only() {
        let range = |level| Range {
            level,
            start_symbol: "",
            end_symbol: "",
            start: 0,
            end: 0,
        };
        assert!(range("1").admits("1") && range("1").admits("1s"));
        assert!(!range("1").admits("2") && !range("1").admits("early"));
        assert!(range("early").admits("early") && !range("early").admits("earlys"));
        assert!(range("rootfs").admits("rootfs") && !range("rootfs").admits("5"));
    }

    // ---- real kernels (run by hand) ----

    /// `LTO_HARNESS_VMLINUXES=a/vmlinux:b/vmlinux cargo test --release -p lto-harness --lib
    /// real_vmlinux_orders_agree -- --ignored --nocapture`
    ///
    /// Prints the initcall count per level of each kernel, checks each
    /// against the `__initcall__kmod_` labels of the `System.map` next to
    /// it (when there is one), and asserts that all x86_64 kernels agree.
    #[test]
    #[ignore = "needs real kernels: set LTO_HARNESS_VMLINUXES"]
    fn real_vmlinux_orders_agree() {
        let paths = std::env::var("LTO_HARNESS_VMLINUXES")
            .expect("set LTO_HARNESS_VMLINUXES to colon-separated vmlinux paths");
        let mut by_arch: HashMap<String, Vec<(PathBuf, Vec<Initcall>)>> = HashMap::new();
        for path in paths
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
        {
            let data = std::fs::read(&path).unwrap();
            let arch = format!("{:?}", object::File::parse(&*data).unwrap().architecture());
            let started = std::time::Instant::now();
            let order = static_order(&path).unwrap();
            let elapsed = started.elapsed();
            println!(
                "{} ({arch}): {} initcalls in {elapsed:.2?}: {}",
                path.display(),
                order.len(),
                level_counts(&order)
            );
            let map = path.with_file_name("System.map");
            if let Ok(text) = std::fs::read_to_string(&map) {
                let labelled = system_map_order(&text);
                if let Some(m) = golden::compare(&labelled, &map, &order, "static order") {
                    panic!(
                        "{} disagrees with its System.map: {}\n{}",
                        path.display(),
                        m.summary,
                        m.diff
                    );
                }
                println!("  agrees with {}", map.display());
            }
            by_arch.entry(arch).or_default().push((path, order));
        }
        for (arch, kernels) in &by_arch {
            let (first_path, first) = &kernels[0];
            for (path, order) in &kernels[1..] {
                let verdict =
                    golden::compare(first, first_path, order, &path.display().to_string());
                match (&verdict, arch.as_str()) {
                    (None, _) => println!("{arch}: {} = {}", path.display(), first_path.display()),
                    (Some(m), "X86_64") => panic!("{}\n{}", m.summary, m.diff),
                    (Some(m), _) => println!(
                        "{arch}: {} differs from {}: {}",
                        path.display(),
                        first_path.display(),
                        m.summary
                    ),
                }
            }
        }
    }

    fn level_counts(order: &[Initcall]) -> String {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for entry in order {
            match counts.iter_mut().find(|(level, _)| *level == entry.level) {
                Some((_, n)) => *n += 1,
                None => counts.push((&entry.level, 1)),
            }
        }
        let counts: Vec<String> = counts.iter().map(|(l, n)| format!("{l}:{n}")).collect();
        counts.join(" ")
    }

    /// The order given by the `d __initcall__kmod_…` lines of a System.map
    /// between `__initcall_start` and `__initcall_end` (console initcalls,
    /// `…con_initcon`, sit in their own table after it).
    fn system_map_order(text: &str) -> Vec<Initcall> {
        let symbols: Vec<(u64, &str)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let address = u64::from_str_radix(fields.next()?, 16).ok()?;
                Some((address, fields.nth(1)?))
            })
            .collect();
        let address_of = |wanted: &str| {
            symbols
                .iter()
                .find(|&&(_, name)| name == wanted)
                .map(|&(address, _)| address)
                .unwrap()
        };
        let table = address_of("__initcall_start")..address_of(TABLE_END);
        let mut labels: Vec<(u64, &str)> = symbols
            .iter()
            .copied()
            .filter(|&(address, name)| table.contains(&address) && name.starts_with(ENTRY_PREFIX))
            .collect();
        labels.sort_by_key(|&(address, _)| address);
        let unique: HashSet<u64> = labels.iter().map(|&(a, _)| a).collect();
        assert_eq!(unique.len(), labels.len(), "two labels at one address");
        labels
            .iter()
            .map(|(_, label)| {
                let (func, id) = split_initcall_name(label, ENTRY_PREFIX).unwrap();
                ic(id, func)
            })
            .collect()
    }
}
