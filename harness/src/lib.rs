//! lto-harness: builds Linux kernels with Clang LTO (none, thin, full) and
//! kCFI on x86_64 and arm64, boots them under QEMU, and judges what they
//! did. The folders read like the pipeline, and dependencies point one
//! way, from the top of this list to the bottom:
//!
//! * [`model`]: the shared vocabulary (statuses, faults, results, what a
//!   kernel is, performance figures); no I/O;
//! * [`events`]: the typed stream of what happens, and its reporters;
//! * [`arch`]: each architecture's facts, as data (one file per arch);
//! * [`kseries`]: each kernel series' names and paths, as data (one table),
//!   read from a tree's Makefile and Kconfig;
//! * [`case`]: the YAML case files;
//! * [`host`]: plumbing: processes, the cache, the toolchain on this machine;
//! * [`guest`]: what runs in the guest: the marker protocol and `/init`;
//! * [`console`]: the serial console parser (never panics on noise);
//! * [`elf`]: readers of vmlinux and `.ko` files (the build stage records
//!   vmlinux's section sizes with it);
//! * [`stages`]: source → config → build → image → boot, one module each;
//! * [`checks`]: what a kernel is and did, judged into verdicts (goldens too);
//! * [`output`]: results.json, JUnit, libtest JSON, KCIDB, markdown, and the
//!   writer that writes them when a run finishes;
//! * [`run`]: drives the stages and checks for the selected cases, with
//!   retries and blessing;
//! * the features built on a run: [`bench`], [`history`], [`dashboard`],
//!   [`compare`] (and gate), [`series`], [`ci`] (plan, shard, merge);
//! * [`bisect`]: the first bad commit of a range (or patch of a series),
//!   in the series machinery's worktree;
//! * [`mutate`]: small patches that break one mechanism each, run in the
//!   series machinery's worktree; every check must fail on one.
//!
//! The command line (`src/cli/`, one file per subcommand) sits on top.
//! `layers.rs` (a test) holds this order and fails on an import against it.

pub mod model;

pub mod events;

pub mod arch;
pub mod case;
pub mod host;
pub mod kseries;

pub mod guest;

pub mod console;
pub mod elf;
pub mod stages;

pub mod checks;

pub mod output;
pub mod run;

pub mod bench;
pub mod ci;
pub mod compare;
pub mod dashboard;
pub mod history;
pub mod series;

pub mod bisect;
pub mod mutate;

#[cfg(test)]
mod layers;

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
