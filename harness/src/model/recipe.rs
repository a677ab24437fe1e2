//! A case's recipe: what its reproducer script (`output::reproduce`)
//! needs that results.json does not hold: the config fragments' text, the
//! symbols the config must keep, the exact config and make commands and
//! the QEMU line, with the machine's paths replaced by placeholders
//! ([`SRC`], [`WORK`], [`KERNEL`], [`INITRD`], [`JOBS`]) that the script
//! fills with its own. Made by the run from the same plan, commands and
//! boot request the run and its dry run use; kept in memory only
//! ([`CaseResult::recipe`](crate::model::results::CaseResult::recipe) is not in
//! results.json), so the cache layout and results.json are unchanged.

use crate::model::source::SourceIdentity;
use std::path::PathBuf;

/// Placeholder for the kernel source tree (`make -C`).
pub const SRC: &str = "@LTOH_SRC@";
/// Placeholder for the build's `O=` directory.
pub const WORK: &str = "@LTOH_WORK@";
/// Placeholder for the boot image QEMU's `-kernel` takes.
pub const KERNEL: &str = "@LTOH_KERNEL@";
/// Placeholder for the initramfs QEMU's `-initrd` takes.
pub const INITRD: &str = "@LTOH_INITRD@";
/// Placeholder for make's job count (the `N` of `-jN`).
pub const JOBS: &str = "@LTOH_JOBS@";

/// How to build and boot one case's kernel again, anywhere.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recipe {
    /// The kernel source; None when the kernel was built elsewhere
    /// (`--kernel-build`): the script can then only boot a given image.
    pub source: Option<SourceIdentity>,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` of the source.
    pub kernel_version: Option<String>,
    /// With `--kernel-build`, the `O=` dir the kernel came from.
    pub kernel_build: Option<PathBuf>,
    /// Config fragments in merge order: (path, with [`WORK`], text).
    pub fragments: Vec<(String, String)>,
    /// Every symbol the fragments ask for and the value the final
    /// `.config` must have (`n`: unset), checked after configuring.
    pub requested: Vec<(String, String)>,
    /// The config commands (base target, merge_config.sh, olddefconfig).
    pub config_commands: Vec<Vec<String>>,
    /// The build's make command.
    pub build_command: Vec<String>,
    /// make's job count at run time ([`JOBS`]'s default).
    pub jobs: usize,
    /// The boot image, relative to the `O=` dir.
    pub boot_image: String,
    /// `make LLVM=` of the build.
    pub llvm: String,
    /// The clang that built it (its file name) and its version line.
    pub clang: String,
    pub clang_version: String,
    /// The Debian packages of that toolchain.
    pub toolchain_packages: String,
    /// The QEMU argv, with [`KERNEL`] and [`INITRD`].
    pub qemu: Vec<String>,
    /// The Debian package of QEMU's binary.
    pub qemu_package: String,
    /// The boot's timeout, seconds.
    pub timeout_secs: u64,
}
