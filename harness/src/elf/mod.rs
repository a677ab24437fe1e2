//! ELF: what the built artefacts say without booting them, read with the
//! `object` crate. The checks in [`crate::checks`] decide what these facts
//! mean; the build stage records [`sizes`] in its metadata.
//!
//! * [`ftrace`]: vmlinux's mcount table (is every entry a function start
//!   holding the arch's NOP?) and the size of each module's;
//! * [`initcalls`]: the initcall tables of vmlinux, in run order;
//! * [`initcall_script`]: the LTO ordering script, and the order it should give;
//! * [`kcfi`]: the kCFI instrumentation a vmlinux carries;
//! * [`module`]: the kernel's vermagic and the ELF facts of each module
//!   (`.ko`): file type, machine, leftover LLVM bitcode, `.modinfo`;
//! * [`modversions`]: symbol CRCs as `Module.symvers`,
//!   `.vmlinux.export.c`, vmlinux's `__ksymtab`/`__kcrctab` and each
//!   module's `__versions` record them;
//! * [`notes`]: ELF notes, raw or in a file, and the LTO note (`Linux`,
//!   0x101) of vmlinux and modules;
//! * [`objects`]: which build objects are ELF and which LLVM bitcode;
//! * [`orc`]: the sizes of the ORC unwind tables;
//! * [`sections`]: module data sections LTO's merge left split or
//!   duplicated, and ThinLTO's `.llvm.` symbol names;
//! * [`sizes`]: section sizes, as Berkeley `size` counts them;
//! * [`table`]: bounds-checked reading of fixed-size tables and of the
//!   bytes at an address, which the readers above share;
//! * [`vdso`]: the vDSO image's type, exports, relocations and kCFI traces.

pub mod ftrace;
pub mod initcall_script;
pub mod initcalls;
pub mod kcfi;
pub mod module;
pub mod modversions;
pub mod notes;
pub mod objects;
pub mod orc;
pub mod sections;
pub mod sizes;
pub mod table;
pub mod vdso;

#[cfg(test)]
mod survey;
#[cfg(test)]
pub(crate) mod testelf;

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Reads a whole file, naming it on error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() < 4 {
        bail!("{} is empty or truncated", path.display());
    }
    Ok(data)
}
