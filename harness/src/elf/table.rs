//! Tables of fixed-size entries in ELF sections, read without trusting the
//! file: counting whole entries (and the bytes left over), reading integers
//! and C strings at an offset, and finding the bytes at a virtual address
//! in whichever section holds them. Every reader here returns `None` where
//! a truncated or corrupted file would otherwise make it index out of
//! bounds or overflow; the readers of [`super::modversions`],
//! [`super::ftrace`] and [`super::orc`] build on them.

use object::{Object, ObjectSection};
use serde::Serialize;

/// How many whole entries a table of `size` bytes holds, and how many
/// bytes are left over (a size that is not a whole number of entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EntryCount {
    pub entries: u64,
    /// Bytes after the last whole entry: 0 in a well-formed table.
    pub leftover_bytes: u64,
}

impl EntryCount {
    /// `size` bytes cut into entries of `entry_size` bytes (an entry size
    /// of 0 counts nothing and leaves every byte over).
    pub fn of(size: u64, entry_size: u64) -> EntryCount {
        match (size.checked_div(entry_size), size.checked_rem(entry_size)) {
            (Some(entries), Some(leftover_bytes)) => EntryCount {
                entries,
                leftover_bytes,
            },
            _ => EntryCount {
                entries: 0,
                leftover_bytes: size,
            },
        }
    }

    /// Whether the table holds whole entries only.
    pub fn is_whole(&self) -> bool {
        self.leftover_bytes == 0
    }
}

/// The entries of the section named `name`, `None` when there is none.
pub fn section_entries(file: &object::File, name: &str, entry_size: u64) -> Option<EntryCount> {
    file.section_by_name(name)
        .map(|s| EntryCount::of(s.size(), entry_size))
}

/// `N` bytes at `offset` of `bytes`.
fn array_at<const N: usize>(bytes: &[u8], offset: u64) -> Option<[u8; N]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(N)?;
    bytes.get(start..end)?.try_into().ok()
}

/// A `u32` at `offset`, in the file's byte order.
pub fn u32_at(bytes: &[u8], offset: u64, little_endian: bool) -> Option<u32> {
    let b = array_at::<4>(bytes, offset)?;
    Some(if little_endian {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    })
}

/// An `i32` at `offset`, in the file's byte order.
pub fn i32_at(bytes: &[u8], offset: u64, little_endian: bool) -> Option<i32> {
    u32_at(bytes, offset, little_endian).map(|v| v as i32)
}

/// A `u64` at `offset`, in the file's byte order.
pub fn u64_at(bytes: &[u8], offset: u64, little_endian: bool) -> Option<u64> {
    let b = array_at::<8>(bytes, offset)?;
    Some(if little_endian {
        u64::from_le_bytes(b)
    } else {
        u64::from_be_bytes(b)
    })
}

/// The NUL-terminated string starting at `offset` (without its NUL);
/// `None` when `offset` is outside `bytes` or no NUL follows it.
pub fn cstr_at(bytes: &[u8], offset: u64) -> Option<&[u8]> {
    let rest = bytes.get(usize::try_from(offset).ok()?..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    rest.get(..end)
}

/// `address + offset` for a PREL32 field at `address` holding `offset`
/// (the target of `.long sym - .`), wrapping as the linker does.
pub fn prel32_target(address: u64, offset: i32) -> u64 {
    address.wrapping_add(offset as i64 as u64)
}

/// One section with file contents: where it is loaded and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Mapped<'d> {
    pub name: &'d str,
    pub address: u64,
    pub bytes: &'d [u8],
}

impl<'d> Mapped<'d> {
    /// The offset of `address` in this section, if it lies inside it.
    pub fn offset_of(&self, address: u64) -> Option<u64> {
        let offset = address.checked_sub(self.address)?;
        (offset < self.bytes.len() as u64).then_some(offset)
    }
}

/// The sections of a linked image that have contents in the file, to find
/// the bytes behind a virtual address. Sections without file data
/// (NOBITS, or data the file does not hold) are left out, and so are
/// sections at address 0 (those of a relocatable `.ko`, x86_64's zero-based
/// `.data..percpu`), which would otherwise shadow real addresses.
pub struct AddressMap<'d> {
    sections: Vec<Mapped<'d>>,
}

impl<'d> AddressMap<'d> {
    pub fn new(file: &object::File<'d>) -> AddressMap<'d> {
        let sections = file
            .sections()
            .filter(|s| s.address() != 0)
            .filter_map(|s| {
                Some(Mapped {
                    name: s.name().unwrap_or(""),
                    address: s.address(),
                    bytes: s.data().ok().filter(|b| !b.is_empty())?,
                })
            })
            .collect();
        AddressMap { sections }
    }

    /// The section holding `address`, and the offset of `address` in it.
    pub fn find(&self, address: u64) -> Option<(&Mapped<'d>, u64)> {
        self.sections
            .iter()
            .find_map(|s| s.offset_of(address).map(|off| (s, off)))
    }

    /// `len` bytes at `address`, if one section holds them all.
    pub fn bytes_at(&self, address: u64, len: u64) -> Option<&'d [u8]> {
        let (section, offset) = self.find(address)?;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        section.bytes.get(start..end)
    }

    /// The NUL-terminated string at `address`.
    pub fn cstr_at(&self, address: u64) -> Option<&'d [u8]> {
        let (section, offset) = self.find(address)?;
        cstr_at(section.bytes, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_counts_report_leftovers_and_never_divide_by_zero() {
        assert_eq!(
            EntryCount::of(24, 12),
            EntryCount {
                entries: 2,
                leftover_bytes: 0
            }
        );
        let odd = EntryCount::of(26, 12);
        assert_eq!((odd.entries, odd.leftover_bytes), (2, 2));
        assert!(!odd.is_whole());
        assert_eq!(
            EntryCount::of(5, 0),
            EntryCount {
                entries: 0,
                leftover_bytes: 5
            }
        );
    }

    #[test]
    fn integer_and_string_readers_stay_in_bounds() {
        let b = [1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'a', 0];
        assert_eq!(u32_at(&b, 0, true), Some(1));
        assert_eq!(u32_at(&b, 0, false), Some(0x0100_0000));
        assert_eq!(i32_at(&b, 4, true), Some(-1));
        assert_eq!(u64_at(&b, 0, true), Some(0xffff_ffff_0000_0001));
        assert_eq!(u32_at(&b, 7, true), None);
        assert_eq!(u64_at(&b, u64::MAX, true), None);
        assert_eq!(cstr_at(&b, 8), Some(&b"a"[..]));
        assert_eq!(cstr_at(&b, 9), Some(&b""[..]));
        assert_eq!(cstr_at(&b, 10), None);
        assert_eq!(cstr_at(&b[..9], 8), None, "no NUL: no string");
        assert_eq!(prel32_target(0x1000, -16), 0xff0);
        assert_eq!(prel32_target(u64::MAX, 1), 0, "wraps, never overflows");
    }
}
