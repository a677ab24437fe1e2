//! ELF notes, and the one LTO leaves: every vmlinux (`init/version.c`) and
//! every module (`scripts/module-common.c`) carries a note named `Linux`
//! of type 0x101 (`LINUX_ELFNOTE_LTO_INFO`, `include/linux/elfnote-lto.h`)
//! whose `u32` desc is 1 with `CONFIG_LTO` and 0 without. vmlinux has it in
//! `.notes`, modules in `.note.Linux`; at run time the kernel shows the
//! raw notes in `/sys/kernel/notes` and `/sys/module/<m>/notes/.note.Linux`,
//! which [`parse_notes`] reads the same way as a file's SHT_NOTE sections.

use super::table::u32_at;
use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, SectionKind};
use serde::Serialize;

/// The name of the kernel's own notes.
pub const LINUX_NOTE_NAME: &str = "Linux";
/// `LINUX_ELFNOTE_LTO_INFO`.
pub const LTO_NOTE_TYPE: u32 = 0x101;

/// One note: `namesz`, `descsz`, `type`, then the name and the desc, each
/// padded to the alignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The name without its NUL (`Linux`, `GNU`, `Xen`).
    pub name: String,
    pub ntype: u32,
    pub desc: Vec<u8>,
}

impl Note {
    /// The desc as one `u32`, when it is exactly 4 bytes.
    pub fn desc_u32(&self, little_endian: bool) -> Option<u32> {
        if self.desc.len() == 4 {
            u32_at(&self.desc, 0, little_endian)
        } else {
            None
        }
    }
}

/// Parses little-endian notes aligned to 4 bytes (the kernel's notes on
/// x86_64 and arm64, and `/sys/kernel/notes`). Stops at the first note
/// the bytes cannot hold; never fails.
pub fn parse_notes(bytes: &[u8]) -> Vec<Note> {
    parse_notes_with(bytes, 4, true)
}

/// Parses notes with `align`-byte padding (4 or 8; anything else is taken
/// as 4) in the given byte order.
pub fn parse_notes_with(bytes: &[u8], align: u64, little_endian: bool) -> Vec<Note> {
    let align = if align == 8 { 8 } else { 4 };
    let mut out = Vec::new();
    let mut at: u64 = 0;
    while let Some((note, next)) = note_at(bytes, at, align, little_endian) {
        out.push(note);
        at = next;
    }
    out
}

/// The note at `at` and where the next one starts.
fn note_at(bytes: &[u8], at: u64, align: u64, little: bool) -> Option<(Note, u64)> {
    let namesz = u64::from(u32_at(bytes, at, little)?);
    let descsz = u64::from(u32_at(bytes, at.checked_add(4)?, little)?);
    let ntype = u32_at(bytes, at.checked_add(8)?, little)?;
    let name_start = at.checked_add(12)?;
    let name_end = name_start.checked_add(namesz)?;
    let desc_start = name_end.checked_next_multiple_of(align)?;
    let desc_end = desc_start.checked_add(descsz)?;
    let next = desc_end.checked_next_multiple_of(align)?;
    let name = slice(bytes, name_start, name_end)?;
    let desc = slice(bytes, desc_start, desc_end)?;
    let name = name.split(|b| *b == 0).next().unwrap_or(&[]);
    Some((
        Note {
            name: String::from_utf8_lossy(name).into_owned(),
            ntype,
            desc: desc.to_vec(),
        },
        next,
    ))
}

fn slice(bytes: &[u8], start: u64, end: u64) -> Option<&[u8]> {
    bytes.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
}

/// Every note in the SHT_NOTE sections of an ELF file.
pub fn elf_notes(data: &[u8]) -> Result<Vec<Note>> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let little = file.is_little_endian();
    let mut out = Vec::new();
    for section in file.sections().filter(|s| s.kind() == SectionKind::Note) {
        let bytes = section.data().unwrap_or(&[]);
        out.extend(parse_notes_with(bytes, section.align(), little));
    }
    Ok(out)
}

/// The desc of the LTO note (`Linux`, 0x101) in any SHT_NOTE section of a
/// vmlinux or module: `Some(1)` built with LTO, `Some(0)` without, `None`
/// when the file has no such note. Errors: not ELF, an LTO note whose
/// desc is not one `u32`, two LTO notes that disagree.
pub fn lto_note(data: &[u8]) -> Result<Option<u32>> {
    let little = object::File::parse(data)
        .context("not an ELF file")?
        .is_little_endian();
    lto_note_in(&elf_notes(data)?, little)
}

/// The LTO note's desc among `notes` (from a file or `/sys`), as
/// [`lto_note`] judges it.
pub fn lto_note_in(notes: &[Note], little_endian: bool) -> Result<Option<u32>> {
    let mut found: Option<u32> = None;
    for note in notes
        .iter()
        .filter(|n| n.name == LINUX_NOTE_NAME && n.ntype == LTO_NOTE_TYPE)
    {
        let Some(value) = note.desc_u32(little_endian) else {
            bail!(
                "the LTO note (Linux, 0x101) has a {}-byte desc, expected 4",
                note.desc.len()
            );
        };
        match found {
            Some(seen) if seen != value => {
                bail!("two LTO notes (Linux, 0x101) disagree: {seen} and {value}")
            }
            _ => found = Some(value),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{for_each_damaged, TestElf};
    use object::elf;

    /// One note, 4-aligned, little-endian.
    fn note(name: &str, ntype: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&ntype.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(desc);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    fn lto(value: u32) -> Vec<u8> {
        note("Linux", LTO_NOTE_TYPE, &value.to_le_bytes())
    }

    fn with_notes(section: &str, notes: &[u8]) -> Vec<u8> {
        let mut elf = TestElf::rel();
        elf.progbits(".text", 6, 0, &[0x90; 8]);
        elf.section(section, elf::SHT_NOTE.0, 2, 0, notes);
        elf.build()
    }

    #[test]
    fn raw_notes_parse_like_sys_kernel_notes() {
        let mut bytes = note("GNU", 3, &[0xab; 20]);
        bytes.extend(lto(1));
        bytes.extend(note("Xen", 5, b"abc"));
        let notes = parse_notes(&bytes);
        assert_eq!(notes.len(), 3);
        assert_eq!((notes[0].name.as_str(), notes[0].ntype), ("GNU", 3));
        assert_eq!(notes[0].desc, [0xab; 20]);
        assert_eq!(notes[1].desc_u32(true), Some(1));
        assert_eq!(notes[2].desc, b"abc");
        assert_eq!(notes[2].desc_u32(true), None);
        assert_eq!(lto_note_in(&notes, true).unwrap(), Some(1));
        // Cut inside the last note: the whole ones remain.
        assert_eq!(parse_notes(&bytes[..bytes.len() - 2]).len(), 2);
        assert!(parse_notes(&[]).is_empty());
        // A name size running past the end stops the walk.
        let mut huge = lto(1);
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_notes(&huge).is_empty());
    }

    #[test]
    fn lto_note_of_vmlinux_and_modules() {
        let mut vmlinux_notes = note("GNU", 3, &[1; 20]);
        vmlinux_notes.extend(lto(1));
        assert_eq!(
            lto_note(&with_notes(".notes", &vmlinux_notes)).unwrap(),
            Some(1)
        );
        assert_eq!(
            lto_note(&with_notes(".note.Linux", &lto(0))).unwrap(),
            Some(0)
        );
        let other = note("Linux", 0x100, &7u32.to_le_bytes());
        assert_eq!(lto_note(&with_notes(".note.Linux", &other)).unwrap(), None);
        assert_eq!(
            elf_notes(&with_notes(".note.Linux", &other)).unwrap().len(),
            1
        );
        // A PROGBITS section with the same bytes is not a note section.
        let mut elf = TestElf::rel();
        elf.progbits(".notes", 2, 0, &lto(1));
        assert_eq!(lto_note(&elf.build()).unwrap(), None);
    }

    #[test]
    fn malformed_lto_notes_are_errors() {
        let wide = note("Linux", LTO_NOTE_TYPE, &[1, 0, 0, 0, 0, 0, 0, 0]);
        let err = lto_note(&with_notes(".notes", &wide)).unwrap_err();
        assert!(err.to_string().contains("8-byte desc"), "{err}");
        let mut both = lto(1);
        both.extend(lto(0));
        let err = lto_note(&with_notes(".notes", &both)).unwrap_err();
        assert!(err.to_string().contains("disagree: 1 and 0"), "{err}");
        let mut same = lto(1);
        same.extend(lto(1));
        assert_eq!(lto_note(&with_notes(".notes", &same)).unwrap(), Some(1));
        assert!(lto_note(b"garbage").is_err());
    }

    #[test]
    fn eight_byte_alignment_pads_name_and_desc_to_eight() {
        // namesz 4 ("GNU\0") ends at 16, already 8-aligned; desc of 4
        // bytes is padded to 8 before the next note.
        let mut bytes = Vec::new();
        for v in [4u32, 4, 5] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(b"GNU\0");
        bytes.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
        bytes.extend(bytes.clone());
        let notes = parse_notes_with(&bytes, 8, true);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[1].desc, [1, 2, 3, 4]);
        // Read with 4-byte padding, the second note is taken from the
        // desc's padding: another note, not the same one.
        let misread = parse_notes_with(&bytes, 4, true);
        assert_ne!(misread.get(1), Some(&notes[1]), "{misread:?}");
    }

    #[test]
    fn no_panic_on_damaged_notes_or_files() {
        let mut bytes = note("GNU", 3, &[1; 20]);
        bytes.extend(lto(1));
        let mut found = 0;
        for_each_damaged(&bytes, |d| {
            found += parse_notes(d).len();
            let _ = parse_notes_with(d, 8, false);
        });
        assert!(found > 0);
        let n = for_each_damaged(&with_notes(".notes", &bytes), |d| {
            let _ = lto_note(d);
        });
        assert!(n > 1000);
    }
}
