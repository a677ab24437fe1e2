//! `list`: prints one line per case file: name, arch, lto, cfi, base, tags.

use super::stdout::outln;
use anyhow::Result;
use lto_harness::case;
use std::path::Path;

/// `list`: every case in `cases_dir`, one summary line each.
pub fn list(cases_dir: &Path) -> Result<u8> {
    for c in case::load_dir(cases_dir)? {
        outln!("{}", c.summary())?;
    }
    Ok(0)
}
