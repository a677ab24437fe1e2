//! lto-harness: builds Linux kernels with Clang LTO (none, thin, full) and
//! kCFI on x86_64 and arm64, boots them under QEMU, and judges what they
//! did. The modules read like the pipeline:
//!
//! [`case`] → [`source`] → [`config`] → [`build`] → [`image`] → [`boot`] →
//! [`console`] → [`checks`] → [`report`], driven by [`runner`] and shown by
//! [`reporter`]. [`arch`] holds per-architecture facts as data;
//! [`toolchain`], [`cache`] and [`proc`] are the plumbing; [`ci`] splits a
//! run over CI machines and joins the parts.

pub mod arch;
pub mod bench;
pub mod boot;
pub mod build;
pub mod cache;
pub mod case;
pub mod checks;
pub mod ci;
pub mod compare;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod formats;
pub mod history;
pub mod image;
pub mod initcalls;
pub mod inspect;
pub mod proc;
pub mod report;
pub mod reporter;
pub mod runner;
pub mod series;
pub mod source;
pub mod stats;
pub mod toolchain;

/// The default cases directory: `./cases` when it exists, else the one
/// this binary was built from.
pub fn default_cases_dir() -> std::path::PathBuf {
    let local = std::path::PathBuf::from("cases");
    if local.join("fragments").is_dir() {
        local
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases")
    }
}
