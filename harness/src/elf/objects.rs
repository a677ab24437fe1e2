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
    /// Every other object the build made: outside `vmlinux.a`, the
    /// `lib.a` archives and every module's objects (its `.mod` list), so
    /// never in an LTO link but kbuild's own few ([`LINKED_WITH_LTO`]).
    /// None in entries published before it was recorded.
    #[serde(default)]
    pub outside: Option<OutsideObjects>,
    /// Each module's objects (its `.mod` list, by module name) and what
    /// they are: under LTO a module of several objects is linked from
    /// bitcode. None in entries published before it was recorded.
    #[serde(default)]
    pub modules: Option<BTreeMap<String, Vec<(String, ObjectKind)>>>,
}

/// Objects in a module's list that stay ELF in an LTO kernel: lkdtm's
/// `rodata_objcopy.o`, made by objcopy from `rodata.o`, which lkdtm's
/// Makefile builds without the LTO flags so the code it moves into
/// `.rodata` is machine code.
pub const MODULE_ISLANDS: &[&str] = &["drivers/misc/lkdtm/rodata_objcopy.o"];

/// Every file under `dir`, however deep (symbolic links not followed).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out
}

/// The objects outside `vmlinux.a`, the `lib.a` archives and the modules'
/// objects, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideObjects {
    pub elf: usize,
    /// Paths (relative to the `O=` dir) of those that are LLVM bitcode.
    pub bitcode: Vec<String>,
    pub other: usize,
}

/// Objects outside `vmlinux.a` and the modules' lists that kbuild compiles
/// with the LTO flags and links with LTO all the same: the exported-symbol
/// table and the version timestamp beside vmlinux.o (scripts/Makefile.vmlinux),
/// a module's `.mod.o` and `.module-common.o` beside it (scripts/Makefile.modfinal).
pub const LINKED_WITH_LTO: &[&str] = &[
    ".vmlinux.export.o",
    "init/version-timestamp.o",
    ".module-common.o",
];

/// Whether `path` is one of the objects kbuild links with LTO outside
/// `vmlinux.a` and the module lists.
pub fn linked_with_lto(path: &str) -> bool {
    LINKED_WITH_LTO.contains(&path) || path.ends_with(".mod.o")
}

/// What the objects of an `O=` dir are, beyond `vmlinux.a`: the modules'
/// and every other one.
pub struct TreeObjects {
    /// Each module's objects, from its `.mod` file, with their kinds.
    pub modules: BTreeMap<String, Vec<(String, ObjectKind)>>,
    /// The objects outside `vmlinux.a`, the `lib.a` archives and the
    /// modules' `.mod` lists (the host tools under `scripts/` and `tools/`
    /// are ELF from the host compiler; they are counted like the rest).
    pub outside: OutsideObjects,
}

/// One walk of `dir` (an `O=` dir) for [`TreeObjects`].
pub fn tree_objects(dir: &Path) -> TreeObjects {
    let mut inside = std::collections::BTreeSet::new();
    let mut objects = Vec::new();
    let mut modules = BTreeMap::new();
    for path in files_under(dir) {
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "vmlinux.a" || name == "lib.a" {
            // A thin archive names its members from its own directory.
            let base = Path::new(&rel).parent().unwrap_or(Path::new(""));
            if let Ok(data) = std::fs::read(&path) {
                inside.extend(
                    thin_members(&data)
                        .iter()
                        .map(|m| base.join(m).to_string_lossy().into_owned()),
                );
            }
        } else if let Some(module) = name.strip_suffix(".mod") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let listed: Vec<(String, ObjectKind)> = text
                    .split_whitespace()
                    .map(|o| (o.to_owned(), ObjectKind::of_file(&dir.join(o))))
                    .collect();
                inside.extend(listed.iter().map(|(o, _)| o.clone()));
                modules.insert(module.to_owned(), listed);
            }
        } else if name.ends_with(".o") {
            objects.push(rel);
        }
    }
    let mut outside = OutsideObjects::default();
    objects.sort();
    for rel in objects.iter().filter(|o| !inside.contains(o.as_str())) {
        match ObjectKind::of_file(&dir.join(rel)) {
            ObjectKind::Elf => outside.elf += 1,
            ObjectKind::Bitcode => outside.bitcode.push(rel.clone()),
            _ => outside.other += 1,
        }
    }
    TreeObjects { modules, outside }
}

/// The member paths of a thin archive (none when it is not one).
fn thin_members(data: &[u8]) -> Vec<String> {
    let Ok(archive) = ArchiveFile::parse(data) else {
        return vec![];
    };
    if !archive.is_thin() {
        return vec![];
    }
    archive
        .members()
        .flatten()
        .map(|m| {
            let name = String::from_utf8_lossy(m.name()).into_owned();
            name.strip_prefix("./").map(str::to_owned).unwrap_or(name)
        })
        .collect()
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
        outside: None,
        modules: None,
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
    fn objects_outside_the_archives_and_module_lists_are_found() {
        let d = tempfile::tempdir().unwrap();
        let write = |rel: &str, bytes: &[u8]| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let (elf, bc) = (b"\x7fELF\x02\x01".as_slice(), b"BC\xC0\xDE\x35".as_slice());
        write("init/main.o", bc);
        write("lib/string.o", bc);
        write("drivers/m/core.o", bc);
        write("drivers/m/m.mod", b"drivers/m/core.o\n");
        write("drivers/m/m.mod.o", bc);
        write("arch/x86/boot/main.o", bc);
        write("arch/x86/boot/a20.o", elf);
        write("x.o", b"junk");
        // Thin archives as kbuild makes them (GNU ar, paths from the O= dir).
        let ar = |archive: &str, members: &[&str]| {
            std::process::Command::new("ar")
                .current_dir(d.path())
                .args(["cDPrsT", archive])
                .args(members)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !(ar("vmlinux.a", &["init/main.o"]) && ar("lib/lib.a", &["lib/string.o"])) {
            eprintln!("no GNU ar: skipping");
            return;
        }
        let t = tree_objects(d.path());
        assert_eq!(
            t.modules["m"],
            [("drivers/m/core.o".to_string(), ObjectKind::Bitcode)]
        );
        let o = t.outside;
        assert_eq!(o.bitcode, ["arch/x86/boot/main.o", "drivers/m/m.mod.o"]);
        assert_eq!((o.elf, o.other), (1, 1));
        assert!(linked_with_lto("drivers/m/m.mod.o") && !linked_with_lto("arch/x86/boot/main.o"));
    }

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
