//! A small reader for 32-bit little-endian ELF files (Cortex-M firmware):
//! section headers and the symbol table, enough for flash/RAM reports.
//! Every offset and length from the file is checked.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// `SHT_SYMTAB`.
const SHT_SYMTAB: u32 = 2;
/// `SHF_EXECINSTR`.
const SHF_EXECINSTR: u32 = 4;
/// `STT_FUNC`.
const STT_FUNC: u8 = 2;

/// One section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Name (`.text`, `.bss`, ...).
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u32,
    /// Load address.
    pub addr: u32,
    /// Size in memory.
    pub size: u32,
}

impl Section {
    /// Holds code.
    pub fn code(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }
}

/// One symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Name as stored (mangled).
    pub name: String,
    /// Address.
    pub value: u32,
    /// Size in bytes.
    pub size: u32,
    /// A function.
    pub func: bool,
    /// Index of its section (0 = undefined; >= 0xff00 special).
    pub section: u16,
}

impl Symbol {
    /// The demangled name (Rust legacy or v0 mangling; other names unchanged).
    pub fn demangled(&self) -> String {
        format!("{:#}", rustc_demangle::demangle(&self.name))
    }
}

/// Sections and symbols of an ELF32 file.
#[derive(Debug)]
pub struct Elf {
    /// Section headers, in file order.
    pub sections: Vec<Section>,
    /// Symbols of `.symtab` (empty when stripped).
    pub symbols: Vec<Symbol>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let bytes = b
        .get(at..at + 2)
        .with_context(|| format!("ELF truncated: 2 bytes at offset {at}"))?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let bytes = b
        .get(at..at + 4)
        .with_context(|| format!("ELF truncated: 4 bytes at offset {at}"))?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The NUL-terminated string at `at` in `table`.
fn str_at(table: &[u8], at: usize) -> Result<String> {
    let rest = table
        .get(at..)
        .with_context(|| format!("ELF string offset {at} outside its string table"))?;
    let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

impl Elf {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Elf> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Elf::parse(&bytes).with_context(|| format!("{}", path.display()))
    }

    /// Parses ELF32 little-endian bytes.
    pub fn parse(b: &[u8]) -> Result<Elf> {
        if b.get(0..4) != Some(b"\x7fELF") {
            bail!("not an ELF file (no \\x7fELF magic)");
        }
        if b.get(4) != Some(&1) || b.get(5) != Some(&1) {
            bail!("not a 32-bit little-endian ELF file (EI_CLASS/EI_DATA)");
        }
        let shoff = u32_at(b, 0x20)? as usize;
        let shentsize = usize::from(u16_at(b, 0x2E)?);
        let shnum = usize::from(u16_at(b, 0x30)?);
        let shstrndx = usize::from(u16_at(b, 0x32)?);
        if shnum > 0 && shentsize < 40 {
            bail!("section header entry size {shentsize} < 40");
        }
        // (type, flags, addr, offset, size, link, entsize, name offset)
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            raw.push((
                u32_at(b, h + 4)?,
                u32_at(b, h + 8)?,
                u32_at(b, h + 12)?,
                u32_at(b, h + 16)? as usize,
                u32_at(b, h + 20)? as usize,
                u32_at(b, h + 24)? as usize,
                u32_at(b, h + 36)? as usize,
                u32_at(b, h)? as usize,
            ));
        }
        let file_bytes = |offset: usize, size: usize, what: &str| -> Result<&[u8]> {
            b.get(offset..offset.saturating_add(size)).with_context(|| {
                format!("{what}: {size} bytes at offset {offset} outside the file")
            })
        };
        let shstr = match raw.get(shstrndx) {
            Some(&(_, _, _, off, size, ..)) => file_bytes(off, size, "section name table")?,
            None => &[][..],
        };
        let mut sections = Vec::with_capacity(shnum);
        for &(kind, flags, addr, _, size, _, _, name) in &raw {
            sections.push(Section {
                name: str_at(shstr, name).unwrap_or_default(),
                kind,
                flags,
                addr,
                size: size as u32,
            });
        }
        let mut symbols = Vec::new();
        for &(kind, _, _, off, size, link, entsize, _) in &raw {
            if kind != SHT_SYMTAB {
                continue;
            }
            if entsize < 16 {
                bail!("symbol table entry size {entsize} < 16");
            }
            let table = file_bytes(off, size, "symbol table")?;
            let strtab = match raw.get(link) {
                Some(&(_, _, _, o, s, ..)) => file_bytes(o, s, "symbol string table")?,
                None => bail!("symbol table links to missing section {link}"),
            };
            for e in table.chunks_exact(entsize) {
                let info = e[12];
                symbols.push(Symbol {
                    name: str_at(strtab, u32_at(e, 0)? as usize)?,
                    value: u32_at(e, 4)?,
                    size: u32_at(e, 8)?,
                    func: info & 0xf == STT_FUNC,
                    section: u16_at(e, 14)?,
                });
            }
        }
        Ok(Elf { sections, symbols })
    }

    /// The section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Bytes of the sections named `names` (missing ones count 0).
    pub fn size_of(&self, names: &[&str]) -> u64 {
        names
            .iter()
            .filter_map(|n| self.section(n))
            .map(|s| u64::from(s.size))
            .sum()
    }

    /// Index of the section named `name`.
    pub fn section_index(&self, name: &str) -> Option<u16> {
        self.sections
            .iter()
            .position(|s| s.name == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Function symbols with a size, in the code sections.
    pub fn functions(&self) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter().filter(|s| {
            s.func
                && s.size > 0
                && self
                    .sections
                    .get(usize::from(s.section))
                    .is_some_and(|sec| sec.code())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHT_NOBITS: u32 = 8;
    const SHF_WRITE: u32 = 1;
    const SHF_ALLOC: u32 = 2;

    /// A hand-built ELF32 with sections [null, .text, .bss, .symtab, .strtab, .shstrtab]
    /// and one function symbol `f` (12 bytes in .text).
    fn tiny() -> Vec<u8> {
        let shstr = b"\0.text\0.bss\0.symtab\0.strtab\0.shstrtab\0";
        let strtab = b"\0f\0";
        let mut sym = vec![0u8; 32];
        sym[16..20].copy_from_slice(&1u32.to_le_bytes()); // name "f"
        sym[20..24].copy_from_slice(&0x100u32.to_le_bytes());
        sym[24..28].copy_from_slice(&12u32.to_le_bytes());
        sym[28] = STT_FUNC;
        sym[30..32].copy_from_slice(&1u16.to_le_bytes());
        let mut b = vec![0u8; 52];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 1;
        let sym_off = b.len();
        b.extend_from_slice(&sym);
        let str_off = b.len();
        b.extend_from_slice(strtab);
        let shstr_off = b.len();
        b.extend_from_slice(shstr);
        let shoff = b.len();
        b[0x20..0x24].copy_from_slice(&(shoff as u32).to_le_bytes());
        b[0x2E..0x30].copy_from_slice(&40u16.to_le_bytes());
        b[0x30..0x32].copy_from_slice(&6u16.to_le_bytes());
        b[0x32..0x34].copy_from_slice(&5u16.to_le_bytes());
        // (name, type, flags, addr, offset, size, link, entsize)
        type Header = (u32, u32, u32, u32, usize, usize, u32, u32);
        let headers: [Header; 6] = [
            (0, 0, 0, 0, 0, 0, 0, 0),
            (1, 1, SHF_ALLOC | SHF_EXECINSTR, 0x100, 0, 64, 0, 0),
            (
                7,
                SHT_NOBITS,
                SHF_ALLOC | SHF_WRITE,
                0x2000_0000,
                0,
                4096,
                0,
                0,
            ),
            (12, SHT_SYMTAB, 0, 0, sym_off, 32, 4, 16),
            (20, 3, 0, 0, str_off, strtab.len(), 0, 0),
            (28, 3, 0, 0, shstr_off, shstr.len(), 0, 0),
        ];
        for (name, kind, flags, addr, off, size, link, entsize) in headers {
            let mut h = [0u8; 40];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[8..12].copy_from_slice(&flags.to_le_bytes());
            h[12..16].copy_from_slice(&addr.to_le_bytes());
            h[16..20].copy_from_slice(&(off as u32).to_le_bytes());
            h[20..24].copy_from_slice(&(size as u32).to_le_bytes());
            h[24..28].copy_from_slice(&link.to_le_bytes());
            h[36..40].copy_from_slice(&entsize.to_le_bytes());
            b.extend_from_slice(&h);
        }
        b
    }

    #[test]
    fn reads_sections_and_symbols() {
        let elf = Elf::parse(&tiny()).unwrap();
        let names: Vec<_> = elf.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["", ".text", ".bss", ".symtab", ".strtab", ".shstrtab"]
        );
        let bss = elf.section(".bss").unwrap();
        assert_eq!((bss.kind, bss.flags), (SHT_NOBITS, SHF_ALLOC | SHF_WRITE));
        assert!(elf.section(".text").unwrap().code() && !bss.code());
        assert_eq!(elf.size_of(&[".text", ".bss", ".missing"]), 64 + 4096);
        let f: Vec<_> = elf.functions().collect();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].name.as_str(), f[0].value, f[0].size),
            ("f", 0x100, 12)
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Elf::parse(b"MZ\0\0").is_err());
        let mut t = tiny();
        t[4] = 2; // 64-bit
        assert!(Elf::parse(&t).is_err());
        let mut t = tiny();
        let len = t.len();
        t.truncate(len - 10); // cut into the last section header
        assert!(Elf::parse(&t).is_err());
    }
}
