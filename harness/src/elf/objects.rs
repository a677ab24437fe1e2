//! What a build's object files are: ELF or LLVM bitcode. Under LTO the
//! objects of `vmlinux.a` are bitcode and the series' non-LTO islands (the
//! vDSO, `arch/x86/power/cpu.o`, lkdtm's `rodata.o`, …) stay ELF. Read from
//! the `O=` directory when a build is published (the work dir moves on
//! afterwards), and kept as `objects.json` beside the kernel.

use super::initcall_script::ObjectInitcalls;
use object::read::archive::ArchiveFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What an object file holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Elf,
    /// LLVM bitcode (raw `BC\xC0\xDE` or the wrapper `\xDE\xC0\x17\x0B`).
    Bitcode,
    /// Something else (a truncated file, an archive).
    Other,
    /// Not in the build directory (a config that does not build it).
    Absent,
}

impl ObjectKind {
    /// The kind of a file's contents, from its magic.
    pub fn of_bytes(head: &[u8]) -> ObjectKind {
        if head.starts_with(b"\x7fELF") {
            ObjectKind::Elf
        } else if head.starts_with(b"BC\xC0\xDE") || head.starts_with(b"\xDE\xC0\x17\x0B") {
            ObjectKind::Bitcode
        } else {
            ObjectKind::Other
        }
    }

    /// The kind of a file, [`ObjectKind::Absent`] when it does not exist.
    pub fn of_file(path: &Path) -> ObjectKind {
        let Ok(mut f) = std::fs::File::open(path) else {
            return ObjectKind::Absent;
        };
        let mut head = [0u8; 4];
        match f.read_exact(&mut head) {
            Ok(()) => ObjectKind::of_bytes(&head),
            Err(_) => ObjectKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Elf => "ELF",
            ObjectKind::Bitcode => "LLVM bitcode",
            ObjectKind::Other => "neither ELF nor bitcode",
            ObjectKind::Absent => "absent",
        }
    }
}

/// The members of `vmlinux.a` by kind, with the ELF ones named (under LTO
/// those are the objects the initcall ordering script cannot read with
/// llvm-nm unless it handles them, and the islands).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    pub bitcode: usize,
    pub elf: usize,
    pub other: usize,
    /// Paths (relative to the `O=` dir) of the members that are ELF.
    pub elf_members: Vec<String>,
}

/// What the build directory's objects are, as published in `objects.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFacts {
    /// `vmlinux.a`'s members; `None` when there is no thin `vmlinux.a`.
    pub vmlinux_a: Option<ArchiveSummary>,
    /// The arch's non-LTO objects (see `ArchProfile::non_lto_objects`).
    pub non_lto: BTreeMap<String, ObjectKind>,
    /// Every object of the vmlinux.o link that defines initcalls, in link
    /// order, read with `llvm-nm` (bitcode and ELF alike), or why not.
    #[serde(default)]
    pub initcalls: Option<Result<Vec<ObjectInitcalls>, String>>,
}

/// Reads `vmlinux.a` (a thin archive: members are paths into the `O=` dir)
/// and the kinds of `non_lto` objects, all relative to `dir`.
pub fn object_facts(dir: &Path, non_lto: &[&str]) -> ObjectFacts {
    ObjectFacts {
        vmlinux_a: std::fs::read(dir.join("vmlinux.a"))
            .ok()
            .and_then(|data| summarise_thin_archive(&data, dir)),
        non_lto: non_lto
            .iter()
            .map(|rel| (rel.to_string(), ObjectKind::of_file(&dir.join(rel))))
            .collect(),
        initcalls: None,
    }
}

/// Each member of a thin archive, by kind. `None` when `data` is not a
/// thin archive.
pub fn summarise_thin_archive(data: &[u8], dir: &Path) -> Option<ArchiveSummary> {
    let archive = ArchiveFile::parse(data).ok()?;
    if !archive.is_thin() {
        return None;
    }
    let mut s = ArchiveSummary::default();
    for member in archive.members() {
        let Ok(member) = member else {
            s.other += 1;
            continue;
        };
        let name = String::from_utf8_lossy(member.name()).into_owned();
        match ObjectKind::of_file(&dir.join(&name)) {
            ObjectKind::Bitcode => s.bitcode += 1,
            ObjectKind::Elf => {
                s.elf += 1;
                s.elf_members.push(name);
            }
            _ => s.other += 1,
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_tells_elf_from_bitcode() {
        assert_eq!(ObjectKind::of_bytes(b"\x7fELF\x02"), ObjectKind::Elf);
        assert_eq!(ObjectKind::of_bytes(b"BC\xC0\xDE\x35"), ObjectKind::Bitcode);
        assert_eq!(
            ObjectKind::of_bytes(b"\xDE\xC0\x17\x0B"),
            ObjectKind::Bitcode
        );
        assert_eq!(ObjectKind::of_bytes(b"!<a"), ObjectKind::Other);
        assert_eq!(ObjectKind::of_bytes(b""), ObjectKind::Other);
        assert_eq!(
            ObjectKind::of_file(Path::new("/nonexistent/x.o")),
            ObjectKind::Absent
        );
    }

    /// A thin archive as GNU ar / llvm-ar write it: a `//` name table and
    /// members that are offsets into it, with no data.
    fn thin_archive(names: &[&str]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut offsets = Vec::new();
        for n in names {
            offsets.push(table.len());
            table.extend_from_slice(n.as_bytes());
            table.extend_from_slice(b"/\n");
        }
        let mut out = b"!<thin>\n".to_vec();
        let header = |name: &str, size: usize| {
            format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644).into_bytes()
        };
        out.extend(header("//", table.len()));
        out.extend(&table);
        if table.len() % 2 == 1 {
            out.push(b'\n');
        }
        for o in offsets {
            out.extend(header(&format!("/{o}"), 100));
        }
        out
    }

    #[test]
    fn thin_archive_members_are_classified_from_their_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kernel")).unwrap();
        std::fs::write(dir.path().join("kernel/a.o"), b"BC\xC0\xDE....").unwrap();
        std::fs::write(dir.path().join("kernel/b.o"), b"\x7fELF....").unwrap();
        let data = thin_archive(&["kernel/a.o", "kernel/b.o", "kernel/gone.o"]);
        let s = summarise_thin_archive(&data, dir.path()).expect("thin archive");
        assert_eq!(s.bitcode, 1);
        assert_eq!(s.elf, 1);
        assert_eq!(s.other, 1);
        assert_eq!(s.elf_members, vec!["kernel/b.o".to_string()]);
    }

    #[test]
    fn garbage_is_not_an_archive() {
        assert!(summarise_thin_archive(b"not an archive", Path::new("/")).is_none());
        let mut data = thin_archive(&["a.o"]);
        data.truncate(20);
        // Truncated: either not parsed or no members, never a panic.
        let _ = summarise_thin_archive(&data, Path::new("/"));
    }
}
