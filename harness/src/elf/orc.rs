//! ORC unwind tables (x86_64 with `CONFIG_UNWINDER_ORC`): objtool writes
//! `.orc_unwind_ip` (one PREL32 `int` per instruction address, 4 bytes)
//! and `.orc_unwind` (one `struct orc_entry`, 6 bytes, per address) into
//! vmlinux (from `vmlinux.o`, delayed to after the LTO link) and into
//! every module. The two tables must have the same number of entries.

use super::table::{section_entries, EntryCount};
use anyhow::{Context, Result};
use serde::Serialize;

/// Size of one `.orc_unwind_ip` entry.
pub const ORC_IP_SIZE: u64 = 4;
/// Size of one `.orc_unwind` entry (`struct orc_entry`).
pub const ORC_ENTRY_SIZE: u64 = 6;

/// The ORC tables of a vmlinux or a `.ko`; `None` for a table the file
/// does not have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrcFacts {
    pub unwind_ip: Option<EntryCount>,
    pub unwind: Option<EntryCount>,
}

impl OrcFacts {
    /// Entries of `.orc_unwind_ip` (0 when absent).
    pub fn ip_entries(&self) -> u64 {
        self.unwind_ip.map_or(0, |c| c.entries)
    }

    /// Entries of `.orc_unwind` (0 when absent).
    pub fn unwind_entries(&self) -> u64 {
        self.unwind.map_or(0, |c| c.entries)
    }
}

/// Counts the entries of a vmlinux's or a module's ORC tables (from the
/// section headers: a `.ko`'s `.orc_unwind_ip` is filled by relocations).
pub fn orc_facts(data: &[u8]) -> Result<OrcFacts> {
    let file = object::File::parse(data).context("not an ELF file")?;
    Ok(OrcFacts {
        unwind_ip: section_entries(&file, ".orc_unwind_ip", ORC_IP_SIZE),
        unwind: section_entries(&file, ".orc_unwind", ORC_ENTRY_SIZE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf::{for_each_damaged, TestElf};

    fn ko(ip: usize, unwind: usize) -> Vec<u8> {
        let mut elf = TestElf::rel();
        elf.progbits(".text", 6, 0, &[0x90; 16]);
        if ip > 0 {
            elf.progbits(".orc_unwind_ip", 2, 0, &vec![0; ip]);
        }
        if unwind > 0 {
            elf.progbits(".orc_unwind", 2, 0, &vec![0; unwind]);
        }
        elf.build()
    }

    #[test]
    fn whole_tables_count_entries() {
        let f = orc_facts(&ko(12, 18)).unwrap();
        assert_eq!(f.unwind_ip, Some(EntryCount::of(12, 4)));
        assert_eq!((f.ip_entries(), f.unwind_entries()), (3, 3));
        assert!(f.unwind.unwrap().is_whole());
    }

    #[test]
    fn absent_and_ragged_tables_are_reported() {
        let none = orc_facts(&ko(0, 0)).unwrap();
        assert_eq!(none, OrcFacts::default());
        assert_eq!((none.ip_entries(), none.unwind_entries()), (0, 0));
        let ragged = orc_facts(&ko(12, 20)).unwrap().unwind.unwrap();
        assert_eq!((ragged.entries, ragged.leftover_bytes), (3, 2));
        assert!(orc_facts(b"not ELF").is_err());
    }

    #[test]
    fn no_panic_on_damaged_files() {
        let mut read = 0;
        let n = for_each_damaged(&ko(8, 12), |d| {
            read += usize::from(orc_facts(d).is_ok());
        });
        assert!(n > 1000 && read > 0, "{n} copies, {read} read");
    }
}
