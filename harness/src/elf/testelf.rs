//! Synthetic ELF64 little-endian files for the readers' unit tests (the
//! `object` crate is built without its writer): sections with contents and
//! addresses, a `.symtab`, optionally a `.dynsym`, and helpers to corrupt
//! a file (every truncation, a flipped bit at every offset) to show that a
//! reader never panics.

use object::elf;

pub const STB_LOCAL: u8 = elf::STB_LOCAL.0;
pub const STB_GLOBAL: u8 = elf::STB_GLOBAL.0;
pub const STB_WEAK: u8 = elf::STB_WEAK.0;
pub const STT_NOTYPE: u8 = elf::STT_NOTYPE.0;
pub const STT_OBJECT: u8 = elf::STT_OBJECT.0;
pub const STT_FUNC: u8 = elf::STT_FUNC.0;

/// One section: name, `sh_type`, `sh_flags`, address and contents (or only
/// a size, for NOBITS).
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub addr: u64,
    pub data: Vec<u8>,
    /// Size of a NOBITS section (which has no data in the file).
    pub nobits_size: u64,
    pub align: u64,
    pub entsize: u64,
    /// `sh_info` (the section a relocation section applies to).
    pub info: u32,
    /// Whether `sh_link` names `.symtab` (relocation sections).
    pub link_symtab: bool,
}

/// One symbol; `section` is the index [`TestElf::section`] returned (0 for
/// undefined).
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub kind: u8,
    pub bind: u8,
    pub section: u16,
}

/// A file being built.
#[derive(Debug, Clone)]
pub struct TestElf {
    pub e_type: u16,
    pub machine: u16,
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    pub dynsyms: Vec<Symbol>,
}

impl TestElf {
    pub fn new(e_type: elf::FileType, machine: elf::Machine) -> TestElf {
        TestElf {
            e_type: e_type.0,
            machine: machine.0,
            sections: Vec::new(),
            symbols: Vec::new(),
            dynsyms: Vec::new(),
        }
    }

    /// An x86_64 `vmlinux`-like executable.
    pub fn exec() -> TestElf {
        TestElf::new(elf::ET_EXEC, elf::EM_X86_64)
    }

    /// An x86_64 module-like relocatable object.
    pub fn rel() -> TestElf {
        TestElf::new(elf::ET_REL, elf::EM_X86_64)
    }

    /// Adds a PROGBITS section, returning its index.
    pub fn progbits(&mut self, name: &str, flags: u64, addr: u64, data: &[u8]) -> u16 {
        self.section(name, elf::SHT_PROGBITS.0, flags, addr, data)
    }

    /// Adds a section of any type, returning its index.
    pub fn section(&mut self, name: &str, sh_type: u32, flags: u64, addr: u64, data: &[u8]) -> u16 {
        self.sections.push(Section {
            name: name.to_owned(),
            sh_type,
            flags,
            addr,
            data: data.to_vec(),
            nobits_size: 0,
            align: 4,
            entsize: 0,
            info: 0,
            link_symtab: false,
        });
        self.sections.len() as u16
    }

    /// Adds `.rela<target's name>`, relocations of section `target`:
    /// `(offset, type, symbol index, addend)` each.
    pub fn rela(&mut self, target: u16, relocs: &[(u64, u32, u32, i64)]) -> u16 {
        let mut data = Vec::new();
        for &(offset, r_type, sym, addend) in relocs {
            push64(&mut data, offset);
            push64(&mut data, (u64::from(sym) << 32) | u64::from(r_type));
            push64(&mut data, addend as u64);
        }
        let name = format!(".rela{}", self.sections[usize::from(target) - 1].name);
        let index = self.section(&name, elf::SHT_RELA.0, elf::SHF_INFO_LINK.0, 0, &data);
        let s = &mut self.sections[usize::from(index) - 1];
        s.info = u32::from(target);
        s.link_symtab = true;
        s.entsize = 24;
        s.align = 8;
        index
    }

    /// Adds a NOBITS section of `size` bytes, returning its index.
    pub fn nobits(&mut self, name: &str, flags: u64, addr: u64, size: u64) -> u16 {
        let index = self.section(name, elf::SHT_NOBITS.0, flags, addr, &[]);
        self.sections[usize::from(index) - 1].nobits_size = size;
        index
    }

    pub fn symbol(&mut self, name: &str, value: u64, kind: u8, bind: u8, section: u16) {
        self.symbols.push(Symbol {
            name: name.to_owned(),
            value,
            size: 0,
            kind,
            bind,
            section,
        });
    }

    pub fn dynsym(&mut self, name: &str, value: u64, kind: u8, bind: u8, section: u16) {
        self.dynsyms.push(Symbol {
            name: name.to_owned(),
            value,
            size: 0,
            kind,
            bind,
            section,
        });
    }

    /// The file: header, section contents, symbol and string tables, then
    /// the section headers (`.shstrtab` last).
    pub fn build(&self) -> Vec<u8> {
        let mut sections = self.sections.clone();
        let first_table = sections.len() as u32 + 1;

        let (symtab, strtab, locals) = symbol_table(&self.symbols);
        sections.push(table(".symtab", elf::SHT_SYMTAB.0, symtab, 24));
        sections.push(table(".strtab", elf::SHT_STRTAB.0, strtab, 0));
        let mut infos = vec![(first_table, locals)];
        if !self.dynsyms.is_empty() {
            let (dynsym, dynstr, dyn_locals) = symbol_table(&self.dynsyms);
            let at = sections.len() as u32 + 1;
            sections.push(table(".dynsym", elf::SHT_DYNSYM.0, dynsym, 24));
            sections.push(table(".dynstr", elf::SHT_STRTAB.0, dynstr, 0));
            infos.push((at, dyn_locals));
        }
        let mut shstrtab = vec![0u8];
        let mut names: Vec<u32> = sections
            .iter()
            .map(|s| add_str(&mut shstrtab, &s.name))
            .collect();
        names.push(add_str(&mut shstrtab, ".shstrtab"));
        sections.push(table(".shstrtab", elf::SHT_STRTAB.0, shstrtab, 0));

        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for s in &sections {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            offsets.push(out.len() as u64);
            out.extend_from_slice(&s.data);
        }
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len() as u64;
        out.extend_from_slice(&[0u8; 64]); // the null section header
        for (i, s) in sections.iter().enumerate() {
            let index = i as u32 + 1;
            let info = infos
                .iter()
                .find(|(at, _)| *at == index)
                .map_or(s.info, |(_, locals)| *locals);
            let size = if s.sh_type == elf::SHT_NOBITS.0 {
                s.nobits_size
            } else {
                s.data.len() as u64
            };
            push32(&mut out, names[i]);
            push32(&mut out, s.sh_type);
            push64(&mut out, s.flags);
            push64(&mut out, s.addr);
            push64(&mut out, offsets[i]);
            push64(&mut out, size);
            push32(&mut out, link_of(s, index, first_table));
            push32(&mut out, info);
            push64(&mut out, s.align);
            push64(&mut out, s.entsize);
        }
        let shnum = sections.len() as u16 + 1;
        let mut h = Vec::new();
        h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        push16(&mut h, self.e_type);
        push16(&mut h, self.machine);
        push32(&mut h, 1);
        push64(&mut h, 0); // entry
        push64(&mut h, 0); // phoff
        push64(&mut h, shoff);
        push32(&mut h, 0); // flags
        push16(&mut h, 64); // ehsize
        push16(&mut h, 56); // phentsize
        push16(&mut h, 0); // phnum
        push16(&mut h, 64); // shentsize
        push16(&mut h, shnum);
        push16(&mut h, shnum - 1); // shstrndx
        out[..64].copy_from_slice(&h);
        out
    }
}

/// `sh_link` of a symbol table is its string table, the next section; of
/// a relocation section, `.symtab`; of anything else, 0.
fn link_of(s: &Section, index: u32, symtab: u32) -> u32 {
    if s.sh_type == elf::SHT_SYMTAB.0 || s.sh_type == elf::SHT_DYNSYM.0 {
        index + 1
    } else if s.link_symtab {
        symtab
    } else {
        0
    }
}

fn table(name: &str, sh_type: u32, data: Vec<u8>, entsize: u64) -> Section {
    Section {
        name: name.to_owned(),
        sh_type,
        flags: 0,
        addr: 0,
        data,
        nobits_size: 0,
        align: 8,
        entsize,
        info: 0,
        link_symtab: false,
    }
}

/// A symbol table (locals first) with its string table, and the index of
/// the first global (`sh_info`).
fn symbol_table(symbols: &[Symbol]) -> (Vec<u8>, Vec<u8>, u32) {
    let mut sorted: Vec<&Symbol> = symbols.iter().collect();
    sorted.sort_by_key(|s| s.bind != STB_LOCAL);
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    for s in &sorted {
        push32(&mut symtab, add_str(&mut strtab, &s.name));
        symtab.push(s.bind << 4 | s.kind);
        symtab.push(0);
        push16(&mut symtab, s.section);
        push64(&mut symtab, s.value);
        push64(&mut symtab, s.size);
    }
    let locals = 1 + sorted.iter().filter(|s| s.bind == STB_LOCAL).count() as u32;
    (symtab, strtab, locals)
}

fn add_str(table: &mut Vec<u8>, s: &str) -> u32 {
    let at = table.len() as u32;
    table.extend_from_slice(s.as_bytes());
    table.push(0);
    at
}

pub fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Calls `f` on every truncation of `data` and on copies of it with one
/// bit flipped at each offset (the bit varies with the offset), and with
/// one byte set to 0xff: the shapes of a damaged file. Returns how many
/// copies it made, so a test can assert the loop ran.
pub fn for_each_damaged(data: &[u8], mut f: impl FnMut(&[u8])) -> usize {
    let mut n = 0;
    for len in 0..data.len() {
        f(&data[..len]);
        n += 1;
    }
    for i in 0..data.len() {
        let mut copy = data.to_vec();
        copy[i] ^= 1 << (i % 8);
        f(&copy);
        copy[i] = 0xff;
        f(&copy);
        n += 2;
    }
    n
}
