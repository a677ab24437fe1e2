//! Module versioning (`CONFIG_MODVERSIONS`): the CRC of every exported
//! symbol, as four artefacts of one build record it. Under LTO genksyms
//! runs on the preprocessed source of each bitcode object that exports
//! something, and modpost copies its `#SYMVER` lines into
//!
//! * `Module.symvers` ([`parse_symvers`]), one line per export;
//! * `.vmlinux.export.c` ([`parse_export_c`]): a `KSYMTAB_FUNC`/`KSYMTAB_DATA`
//!   line per export, and with MODVERSIONS a `SYMBOL_CRC` line per export;
//! * vmlinux's `__ksymtab`(`_gpl`) and `__kcrctab`(`_gpl`) tables
//!   ([`kernel_crcs`]), compiled from that file;
//! * each module's `__versions` table ([`module_versions`]): the CRC the
//!   module expects of each kernel symbol it uses, which the loader
//!   compares with `__kcrctab` (kernel/module/version.c).
//!
//! These are facts; [`crate::checks`] judges whether they agree. The
//! layouts are those of Linux 6.12: `scripts/mod/modpost.c`,
//! `include/linux/export-internal.h`, `include/asm-generic/vmlinux.lds.h`,
//! `kernel/module/internal.h` (`struct kernel_symbol`) and
//! `include/linux/module.h` (`struct modversion_info`).

use super::table::{cstr_at, i32_at, prel32_target, u32_at, u64_at, AddressMap, EntryCount};
use anyhow::{bail, Context, Result};
use object::read::elf::{ElfFile64, SectionHeader};
use object::{Object, ObjectSection};
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of `Module.symvers`:
/// `0x<crc>\t<symbol>\t<module>\tEXPORT_SYMBOL[_GPL]\t<namespace>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymversEntry {
    pub crc: u32,
    pub symbol: String,
    /// `vmlinux` or the module's path without `.ko` (`drivers/misc/lkdtm/lkdtm`).
    pub module: String,
    /// `EXPORT_SYMBOL_GPL` rather than `EXPORT_SYMBOL`.
    pub gpl: bool,
    /// The symbol namespace, empty for none.
    pub namespace: String,
}

/// Parses `Module.symvers` as modpost's `read_dump` does. A malformed line
/// (too few fields, a CRC that is not hexadecimal or wider than 32 bits,
/// an empty symbol or module, an export type other than `EXPORT_SYMBOL`
/// and `EXPORT_SYMBOL_GPL`, an empty line) is an error naming its line
/// number (from 1) and what is wrong.
pub fn parse_symvers(text: &str) -> Result<Vec<SymversEntry>> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            parse_symvers_line(line)
                .with_context(|| format!("Module.symvers line {}: `{line}`", i + 1))
        })
        .collect()
}

fn parse_symvers_line(line: &str) -> Result<SymversEntry> {
    let fields: Vec<&str> = line.splitn(5, '\t').collect();
    let [crc, symbol, module, export, namespace] = fields[..] else {
        bail!(
            "has {} tab-separated fields, expected 5 (crc, symbol, module, export type, namespace)",
            fields.len()
        );
    };
    let crc = parse_crc(crc)?;
    if symbol.is_empty() {
        bail!("has an empty symbol name");
    }
    if module.is_empty() {
        bail!("has an empty module name");
    }
    let gpl = match export {
        "EXPORT_SYMBOL" => false,
        "EXPORT_SYMBOL_GPL" => true,
        other => bail!("has export type `{other}`, expected EXPORT_SYMBOL or EXPORT_SYMBOL_GPL"),
    };
    Ok(SymversEntry {
        crc,
        symbol: symbol.to_owned(),
        module: module.to_owned(),
        gpl,
        namespace: namespace.to_owned(),
    })
}

/// A CRC as modpost prints it (`0x%08x`; the `0x` is optional, as for
/// `strtoul(…, 16)`).
fn parse_crc(text: &str) -> Result<u32> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("has CRC `{text}`, which is not a hexadecimal number");
    }
    u32::from_str_radix(digits, 16)
        .ok()
        .with_context(|| format!("has CRC `{text}`, wider than 32 bits"))
}

/// One `KSYMTAB_FUNC(sym, "<_gpl>", "<ns>");` or `KSYMTAB_DATA(…)` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportLine {
    pub name: String,
    /// `KSYMTAB_FUNC` rather than `KSYMTAB_DATA`.
    pub func: bool,
    pub gpl: bool,
    pub namespace: String,
}

/// What modpost's `.vmlinux.export.c` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportTable {
    /// The `KSYMTAB_*` lines, in file order.
    pub exports: Vec<ExportLine>,
    /// The `SYMBOL_CRC(sym, 0x<crc>, "<_gpl>");` lines (none without
    /// MODVERSIONS).
    pub crcs: BTreeMap<String, u32>,
    /// Lines that start like a `KSYMTAB_` or `SYMBOL_CRC(` line but do not
    /// parse: line number (from 1) and why.
    pub malformed: Vec<(usize, String)>,
}

impl ExportTable {
    /// The exported names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.exports.iter().map(|e| e.name.as_str())
    }
}

/// Parses `.vmlinux.export.c` (or a module's `.mod.c`, whose export lines
/// have the same form). Other lines (`#include`, blank lines, the rest of
/// a `.mod.c`) are skipped; a `KSYMTAB_`/`SYMBOL_CRC(` line that does not
/// parse lands in [`ExportTable::malformed`].
pub fn parse_export_c(text: &str) -> ExportTable {
    let mut table = ExportTable::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let parsed = if let Some(rest) = line.strip_prefix("KSYMTAB_") {
            parse_ksymtab_line(rest).map(|e| table.exports.push(e))
        } else if let Some(rest) = line.strip_prefix("SYMBOL_CRC(") {
            parse_crc_line(rest).map(|(name, crc)| {
                table.crcs.insert(name, crc);
            })
        } else {
            Ok(())
        };
        if let Err(e) = parsed {
            table.malformed.push((i + 1, format!("{e:#}")));
        }
    }
    table
}

/// `FUNC(sym, "_gpl", "ns");` (after `KSYMTAB_`).
fn parse_ksymtab_line(rest: &str) -> Result<ExportLine> {
    let (func, rest) = if let Some(r) = rest.strip_prefix("FUNC(") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("DATA(") {
        (false, r)
    } else {
        bail!("expected KSYMTAB_FUNC( or KSYMTAB_DATA(");
    };
    let (name, rest) = identifier(rest)?;
    let (sec, rest) = quoted(comma(rest)?)?;
    let (namespace, rest) = quoted(comma(rest)?)?;
    end_of_call(rest)?;
    Ok(ExportLine {
        name: name.to_owned(),
        func,
        gpl: gpl_section(sec)?,
        namespace: namespace.to_owned(),
    })
}

/// `sym, 0x1234abcd, "_gpl");` (after `SYMBOL_CRC(`).
fn parse_crc_line(rest: &str) -> Result<(String, u32)> {
    let (name, rest) = identifier(rest)?;
    let rest = comma(rest)?;
    let end = rest
        .find(',')
        .context("expected `, \"<section>\"` after the CRC")?;
    let crc = parse_crc(rest[..end].trim()).context("in SYMBOL_CRC")?;
    let (sec, rest) = quoted(comma(&rest[end..])?)?;
    gpl_section(sec)?;
    end_of_call(rest)?;
    Ok((name.to_owned(), crc))
}

fn identifier(s: &str) -> Result<(&str, &str)> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.'))
        .unwrap_or(s.len());
    if end == 0 {
        bail!("expected a symbol name");
    }
    Ok(s.split_at(end))
}

fn comma(s: &str) -> Result<&str> {
    s.trim_start()
        .strip_prefix(',')
        .map(str::trim_start)
        .context("expected `,`")
}

/// A string literal without escapes (modpost never writes any): its
/// contents and the rest.
fn quoted(s: &str) -> Result<(&str, &str)> {
    let body = s.strip_prefix('"').context("expected a string literal")?;
    let end = body.find('"').context("unterminated string literal")?;
    Ok((&body[..end], &body[end + 1..]))
}

fn end_of_call(s: &str) -> Result<()> {
    match s.trim() {
        ");" => Ok(()),
        other => bail!("expected `);`, found `{other}`"),
    }
}

fn gpl_section(sec: &str) -> Result<bool> {
    match sec {
        "" => Ok(false),
        "_gpl" => Ok(true),
        other => bail!("section suffix `{other}`, expected \"\" or \"_gpl\""),
    }
}

/// vmlinux's exported symbols and their CRCs, as the module loader sees
/// them: `__ksymtab` and `__ksymtab_gpl` hold `struct kernel_symbol`
/// (three PREL32 `int`s: value, name, namespace; 12 bytes, as
/// `CONFIG_HAVE_ARCH_PREL32_RELOCATIONS` makes them on x86_64 and arm64),
/// and `__kcrctab`/`__kcrctab_gpl` the parallel arrays of `u32` CRCs (both
/// tables are sorted by symbol name by the linker script, and the loader
/// takes entry `i`'s CRC from index `i`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelCrcs {
    /// Entries of `__ksymtab`.
    pub ksymtab: u64,
    /// Entries of `__ksymtab_gpl`.
    pub ksymtab_gpl: u64,
    /// Entries of `__kcrctab`.
    pub kcrctab: u64,
    /// Entries of `__kcrctab_gpl`.
    pub kcrctab_gpl: u64,
    /// Each exported name with the CRC at its index (GPL-only ones too).
    pub crcs: BTreeMap<String, u32>,
    /// Exported names with no CRC (their index is past the end of the CRC
    /// table): all of them in a kernel without MODVERSIONS.
    pub without_crc: Vec<String>,
    /// The namespaces of exports that have one.
    pub namespaces: BTreeMap<String, String>,
}

/// Size of `struct kernel_symbol` with PREL32 relocations.
const KERNEL_SYMBOL_SIZE: u64 = 12;
/// Size of one `__kcrctab` entry.
const CRC_SIZE: u64 = 4;

/// Reads vmlinux's export tables. A missing table counts 0 entries
/// (`CONFIG_MODULES` off, or no MODVERSIONS for `__kcrctab`). Errors: not
/// an ELF file, a table whose size is not a whole number of entries, an
/// entry whose name does not resolve to a NUL-terminated string in the
/// file.
pub fn kernel_crcs(vmlinux: &[u8]) -> Result<KernelCrcs> {
    let file = object::File::parse(vmlinux).context("not an ELF file")?;
    let little = file.is_little_endian();
    let map = AddressMap::new(&file);
    let mut out = KernelCrcs::default();
    for (ksymtab, kcrctab) in [
        ("__ksymtab", "__kcrctab"),
        ("__ksymtab_gpl", "__kcrctab_gpl"),
    ] {
        let (syms, sym_addr) = table_bytes(&file, ksymtab, KERNEL_SYMBOL_SIZE)?;
        let (crcs, _) = table_bytes(&file, kcrctab, CRC_SIZE)?;
        let n_syms = syms.len() as u64 / KERNEL_SYMBOL_SIZE;
        let n_crcs = crcs.len() as u64 / CRC_SIZE;
        if ksymtab == "__ksymtab" {
            (out.ksymtab, out.kcrctab) = (n_syms, n_crcs);
        } else {
            (out.ksymtab_gpl, out.kcrctab_gpl) = (n_syms, n_crcs);
        }
        for i in 0..n_syms {
            let entry = i * KERNEL_SYMBOL_SIZE;
            let name = prel32_string(&map, syms, sym_addr, entry + 4, little)
                .with_context(|| format!("{ksymtab} entry {i}: cannot read its name"))?;
            let namespace =
                prel32_string(&map, syms, sym_addr, entry + 8, little).with_context(|| {
                    format!("{ksymtab} entry {i} ({name}): cannot read its namespace")
                })?;
            if !namespace.is_empty() {
                out.namespaces.insert(name.clone(), namespace);
            }
            match u32_at(crcs, i * CRC_SIZE, little) {
                Some(crc) => {
                    out.crcs.insert(name, crc);
                }
                None => out.without_crc.push(name),
            }
        }
    }
    Ok(out)
}

/// The bytes of a table section and its address; empty when the section
/// is absent. Its size must be a whole number of entries.
fn table_bytes<'d>(file: &object::File<'d>, name: &str, entry: u64) -> Result<(&'d [u8], u64)> {
    let Some(section) = file.section_by_name(name) else {
        return Ok((&[], 0));
    };
    let count = EntryCount::of(section.size(), entry);
    if !count.is_whole() {
        bail!(
            "{name} is {} bytes, not a whole number of {entry}-byte entries",
            section.size()
        );
    }
    let bytes = section
        .data()
        .with_context(|| format!("cannot read the contents of {name}"))?;
    if bytes.len() as u64 != section.size() {
        bail!(
            "{name} has {} bytes in the file, its header says {}",
            bytes.len(),
            section.size()
        );
    }
    Ok((bytes, section.address()))
}

/// The string a PREL32 field at `offset` of a table (loaded at `base`)
/// points to.
fn prel32_string(
    map: &AddressMap,
    table: &[u8],
    base: u64,
    offset: u64,
    little: bool,
) -> Result<String> {
    let rel = i32_at(table, offset, little).context("the entry is cut short")?;
    let target = prel32_target(base.wrapping_add(offset), rel);
    let bytes = map
        .cstr_at(target)
        .with_context(|| format!("{target:#x} is not a NUL-terminated string in any section"))?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// One entry of a module's `__versions`: `struct modversion_info
/// { unsigned long crc; char name[MODULE_NAME_LEN]; }`, 64 bytes on a
/// 64-bit kernel. The loader compares all of `crc` with the kernel's `u32`
/// CRC, so an entry with any of the upper 32 bits set never matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModVersion {
    pub name: String,
    pub crc: u64,
}

/// Size of `struct modversion_info` on a 64-bit kernel.
pub const MODVERSION_SIZE: u64 = 64;
/// `MODULE_NAME_LEN` (64 minus the `unsigned long`).
const MODVERSION_NAME_LEN: u64 = 56;
/// The section modpost puts a module's versions in.
const VERSIONS: &str = "__versions";

/// A module's `__versions` entries in file order, `None` when it has no
/// `__versions` section (a module built without MODVERSIONS, or one whose
/// versions modpost could not write). Errors: not ELF, a section size that
/// is not a whole number of 64-byte entries, a name that fills its 56
/// bytes without a NUL.
pub fn module_versions(ko: &[u8]) -> Result<Option<Vec<ModVersion>>> {
    let file = object::File::parse(ko).context("not an ELF file")?;
    let little = file.is_little_endian();
    let Some(section) = file.section_by_name(VERSIONS) else {
        return Ok(None);
    };
    let bytes = section
        .data()
        .context("cannot read the contents of __versions")?;
    let count = EntryCount::of(bytes.len() as u64, MODVERSION_SIZE);
    if !count.is_whole() || bytes.len() as u64 != section.size() {
        bail!(
            "__versions is {} bytes ({} in the file), not a whole number of {MODVERSION_SIZE}-byte entries",
            section.size(),
            bytes.len()
        );
    }
    let mut out = Vec::new();
    for i in 0..count.entries {
        let at = i * MODVERSION_SIZE;
        let crc = u64_at(bytes, at, little).context("__versions entry cut short")?;
        let name_field = bytes
            .get(at as usize + 8..(at + 8 + MODVERSION_NAME_LEN) as usize)
            .context("__versions entry cut short")?;
        let name = cstr_at(name_field, 0).with_context(|| {
            format!("__versions entry {i}: the name has no NUL in its 56 bytes")
        })?;
        out.push(ModVersion {
            name: String::from_utf8_lossy(name).into_owned(),
            crc,
        });
    }
    Ok(Some(out))
}

/// Where a module's `__versions` lies in the file: `(offset, length)` in
/// bytes, `None` when it has none or the header points outside the file.
/// Entry `i`'s CRC starts at `offset + 64 * i` (low byte first on
/// little-endian x86_64 and arm64), its name 8 bytes later.
pub fn versions_section_range(ko: &[u8]) -> Option<(usize, usize)> {
    let file = ElfFile64::<object::Endianness>::parse(ko).ok()?;
    let endian = file.endian();
    let section = file.section_by_name(VERSIONS)?;
    let (offset, size) = section.elf_section_header().file_range(endian)?;
    let (offset, size) = (usize::try_from(offset).ok()?, usize::try_from(size).ok()?);
    (offset.checked_add(size)? <= ko.len()).then_some((offset, size))
}

/// The file offset of the first byte of the CRC of `symbol` in a module's
/// `__versions` (to make a copy with one CRC bit flipped), `None` when the
/// module has no such entry.
pub fn version_crc_offset(ko: &[u8], symbol: &str) -> Option<usize> {
    let (offset, _) = versions_section_range(ko)?;
    let index = module_versions(ko)
        .ok()??
        .iter()
        .position(|v| v.name == symbol)?;
    offset.checked_add(index.checked_mul(MODVERSION_SIZE as usize)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{for_each_damaged, TestElf};

    #[test]
    fn symvers_lines_parse_with_and_without_namespace() {
        let text = "0x1a2b3c4d\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n\
                    0x00000000\tcxl_x\tdrivers/cxl/cxl\tEXPORT_SYMBOL_GPL\tCXL\n";
        let entries = parse_symvers(text).unwrap();
        assert_eq!(
            entries,
            vec![
                SymversEntry {
                    crc: 0x1a2b_3c4d,
                    symbol: "printk".into(),
                    module: "vmlinux".into(),
                    gpl: false,
                    namespace: String::new(),
                },
                SymversEntry {
                    crc: 0,
                    symbol: "cxl_x".into(),
                    module: "drivers/cxl/cxl".into(),
                    gpl: true,
                    namespace: "CXL".into(),
                },
            ]
        );
        assert!(parse_symvers("").unwrap().is_empty());
    }

    #[test]
    fn malformed_symvers_lines_name_their_line_and_fault() {
        let good = "0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\n";
        for (bad, fault) in [
            ("0x1\ta\tvmlinux\tEXPORT_SYMBOL", "4 tab-separated fields"),
            ("0xzz\ta\tvmlinux\tEXPORT_SYMBOL\t", "not a hexadecimal"),
            (
                "0x123456789\ta\tvmlinux\tEXPORT_SYMBOL\t",
                "wider than 32 bits",
            ),
            ("0x1\t\tvmlinux\tEXPORT_SYMBOL\t", "empty symbol"),
            ("0x1\ta\t\tEXPORT_SYMBOL\t", "empty module"),
            (
                "0x1\ta\tvmlinux\tEXPORT_SYMBOL_NS\t",
                "export type `EXPORT_SYMBOL_NS`",
            ),
            ("", "1 tab-separated fields"),
        ] {
            let text = format!("{good}{good}{bad}\n{good}");
            let err = format!("{:#}", parse_symvers(&text).unwrap_err());
            assert!(err.contains("line 3"), "{err}");
            assert!(err.contains(fault), "{bad:?}: {err}");
        }
    }

    #[test]
    fn export_c_lines_and_crcs() {
        let text = r#"#include <linux/export-internal.h>

KSYMTAB_FUNC(entry_ibpb, "_gpl", "");
KSYMTAB_DATA(phys_base, "", "");
KSYMTAB_FUNC(anon_inode_make_secure_inode, "_gpl", "module:kvm");
KSYMTAB_FUNC(broken, "_gpl");

SYMBOL_CRC(entry_ibpb, 0x0badcafe, "_gpl");
SYMBOL_CRC(phys_base, 0x00000000, "");
SYMBOL_CRC(nocrc, 0xqq, "");
"#;
        let t = parse_export_c(text);
        assert_eq!(
            t.names().collect::<Vec<_>>(),
            ["entry_ibpb", "phys_base", "anon_inode_make_secure_inode"]
        );
        assert_eq!(
            t.exports[2],
            ExportLine {
                name: "anon_inode_make_secure_inode".into(),
                func: true,
                gpl: true,
                namespace: "module:kvm".into(),
            }
        );
        assert!(!t.exports[1].func && !t.exports[1].gpl);
        assert_eq!(t.crcs.get("entry_ibpb"), Some(&0x0bad_cafe));
        assert_eq!(t.crcs.get("phys_base"), Some(&0));
        assert_eq!(t.crcs.len(), 2);
        let lines: Vec<usize> = t.malformed.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [6, 10], "{:?}", t.malformed);
        assert!(t.malformed[1].1.contains("0xqq"), "{:?}", t.malformed);
    }

    const KSYMTAB: u64 = 0xffff_ffff_8200_0000;
    const KSYMTAB_GPL: u64 = KSYMTAB + 0x100;
    const KCRCTAB: u64 = KSYMTAB + 0x200;
    const KCRCTAB_GPL: u64 = KSYMTAB + 0x300;
    const STRINGS: u64 = KSYMTAB + 0x1000;

    /// A `struct kernel_symbol` at `at` naming the strings at `name`, `ns`.
    fn kernel_symbol(at: u64, name: u64, ns: u64) -> Vec<u8> {
        let mut e = Vec::new();
        for (field, target) in [(0, STRINGS), (4, name), (8, ns)] {
            let rel = target.wrapping_sub(at + field) as i64 as i32;
            e.extend_from_slice(&rel.to_le_bytes());
        }
        e
    }

    /// A vmlinux exporting foo and bar (CRCs 0x11111111, 0x22222222, the
    /// first `crcs` of them) and, GPL-only in namespace NS, baz (no CRC).
    fn vmlinux(crcs: usize) -> Vec<u8> {
        let strings = b"foo\0bar\0baz\0NS\0";
        let (foo, bar, baz, ns, empty) =
            (STRINGS, STRINGS + 4, STRINGS + 8, STRINGS + 12, STRINGS + 3);
        let mut ksymtab = kernel_symbol(KSYMTAB, foo, empty);
        ksymtab.extend(kernel_symbol(KSYMTAB + 12, bar, empty));
        let gpl = kernel_symbol(KSYMTAB_GPL, baz, ns);
        let crc: Vec<u8> = [0x1111_1111u32, 0x2222_2222]
            .iter()
            .take(crcs)
            .flat_map(|c| c.to_le_bytes())
            .collect();
        let mut elf = TestElf::exec();
        elf.progbits("__ksymtab", 2, KSYMTAB, &ksymtab);
        elf.progbits("__ksymtab_gpl", 2, KSYMTAB_GPL, &gpl);
        elf.progbits("__kcrctab", 2, KCRCTAB, &crc);
        elf.progbits("__kcrctab_gpl", 2, KCRCTAB_GPL, &[]);
        elf.progbits("__ksymtab_strings", 2, STRINGS, strings);
        elf.build()
    }

    #[test]
    fn kernel_crcs_follow_prel32_names_and_parallel_crcs() {
        let k = kernel_crcs(&vmlinux(2)).unwrap();
        assert_eq!(
            (k.ksymtab, k.ksymtab_gpl, k.kcrctab, k.kcrctab_gpl),
            (2, 1, 2, 0)
        );
        assert_eq!(k.crcs.get("foo"), Some(&0x1111_1111));
        assert_eq!(k.crcs.get("bar"), Some(&0x2222_2222));
        assert_eq!(k.crcs.len(), 2);
        assert_eq!(k.without_crc, ["baz"]);
        assert_eq!(k.namespaces.get("baz").map(String::as_str), Some("NS"));
        assert_eq!(k.namespaces.len(), 1);
    }

    #[test]
    fn a_short_kcrctab_leaves_exports_without_crc() {
        let k = kernel_crcs(&vmlinux(1)).unwrap();
        assert_eq!((k.ksymtab, k.kcrctab), (2, 1));
        assert_eq!(k.without_crc, ["bar", "baz"]);
    }

    #[test]
    fn broken_export_tables_are_errors() {
        let mut elf = TestElf::exec();
        elf.progbits("__ksymtab", 2, KSYMTAB, &[0; 13]);
        let err = format!("{:#}", kernel_crcs(&elf.build()).unwrap_err());
        assert!(
            err.contains("not a whole number of 12-byte entries"),
            "{err}"
        );

        // A name offset that points nowhere.
        let mut elf = TestElf::exec();
        elf.progbits(
            "__ksymtab",
            2,
            KSYMTAB,
            &kernel_symbol(KSYMTAB, 0x1234, 0x1234),
        );
        let err = format!("{:#}", kernel_crcs(&elf.build()).unwrap_err());
        assert!(err.contains("__ksymtab entry 0"), "{err}");

        assert!(kernel_crcs(b"\x7fELF not really").is_err());
        let none = kernel_crcs(&TestElf::exec().build()).unwrap();
        assert_eq!(none, KernelCrcs::default(), "no tables: no exports");
    }

    /// A module's `__versions` entry.
    fn version(crc: u64, name: &str) -> Vec<u8> {
        let mut e = crc.to_le_bytes().to_vec();
        e.extend_from_slice(name.as_bytes());
        e.resize(64, 0);
        e
    }

    fn module(versions: Option<&[u8]>) -> Vec<u8> {
        let mut elf = TestElf::rel();
        elf.progbits(".text", 6, 0, &[0xc3]);
        if let Some(v) = versions {
            elf.progbits("__versions", 2, 0, v);
        }
        elf.build()
    }

    #[test]
    fn module_versions_in_file_order() {
        let mut v = version(0x1234_5678, "module_layout");
        v.extend(version(0xdead_beef, "_printk"));
        let ko = module(Some(&v));
        let got = module_versions(&ko).unwrap().unwrap();
        assert_eq!(
            got,
            vec![
                ModVersion {
                    name: "module_layout".into(),
                    crc: 0x1234_5678
                },
                ModVersion {
                    name: "_printk".into(),
                    crc: 0xdead_beef
                },
            ]
        );
        assert_eq!(module_versions(&module(None)).unwrap(), None);
        assert_eq!(module_versions(&module(Some(&[]))).unwrap(), Some(vec![]));
    }

    #[test]
    fn the_versions_range_locates_each_crc_for_a_bit_flip() {
        let mut v = version(0x1234_5678, "module_layout");
        v.extend(version(0xdead_beef, "_printk"));
        let mut ko = module(Some(&v));
        let (offset, len) = versions_section_range(&ko).unwrap();
        assert_eq!(&ko[offset..offset + len], &v[..]);
        let at = version_crc_offset(&ko, "_printk").unwrap();
        assert_eq!(at, offset + 64);
        ko[at] ^= 1;
        let flipped = module_versions(&ko).unwrap().unwrap();
        assert_eq!(flipped[1].crc, 0xdead_beee);
        assert_eq!(flipped[0].crc, 0x1234_5678);
        assert_eq!(version_crc_offset(&ko, "absent"), None);
        assert_eq!(versions_section_range(&module(None)), None);
    }

    #[test]
    fn malformed_versions_are_errors() {
        let err = module_versions(&module(Some(&[0; 65]))).unwrap_err();
        assert!(format!("{err:#}").contains("65 bytes"), "{err:#}");
        let mut long = 1u64.to_le_bytes().to_vec();
        long.resize(64, b'x');
        let err = module_versions(&module(Some(&long))).unwrap_err();
        assert!(format!("{err:#}").contains("no NUL"), "{err:#}");
    }

    #[test]
    fn no_reader_panics_on_damaged_files() {
        let mut v = version(0x1234_5678, "module_layout");
        v.extend(version(0xdead_beef, "_printk"));
        let mut ok = 0;
        let n = for_each_damaged(&vmlinux(2), |d| {
            ok += usize::from(kernel_crcs(d).is_ok());
        });
        assert!(n > 1000 && ok > 0, "{n} copies, {ok} read");
        let n = for_each_damaged(&module(Some(&v)), |d| {
            let _ = module_versions(d);
            let _ = versions_section_range(d);
            let _ = version_crc_offset(d, "_printk");
        });
        assert!(n > 1000);
        let text = "0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\nKSYMTAB_FUNC(a, \"\", \"\");\n\
                    SYMBOL_CRC(a, 0x1, \"\");\n";
        for_each_damaged(text.as_bytes(), |d| {
            let s = String::from_utf8_lossy(d);
            let _ = parse_symvers(&s);
            let _ = parse_export_c(&s);
        });
    }
}
