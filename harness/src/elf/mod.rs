//! ELF: what the built artefacts say without booting them, read with the
//! `object` crate. The checks in [`crate::checks`] decide what these facts
//! mean; the build stage records [`sizes`] in its metadata.
//!
//! * [`initcalls`]: the initcall tables of vmlinux, in run order;
//! * [`initcall_script`]: the LTO ordering script, and the order it should give;
//! * [`kcfi`]: the kCFI instrumentation a vmlinux carries;
//! * [`module`]: the kernel's vermagic and the ELF facts of each module
//!   (`.ko`): file type, machine, leftover LLVM bitcode, `.modinfo`;
//! * [`objects`]: which build objects are ELF and which LLVM bitcode;
//! * [`sizes`]: section sizes, as Berkeley `size` counts them.

pub mod initcall_script;
pub mod initcalls;
pub mod kcfi;
pub mod module;
pub mod objects;
pub mod sizes;

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
