//! Architectures as data: everything that differs between x86_64 and arm64
//! (make ARCH, boot image, QEMU machine, console device, serial driver
//! fragment, where the guest's busybox comes from) is one [`ArchProfile`]
//! per architecture, each in its own file (`x86_64.rs`, `arm64.rs`), in the
//! spirit of kunit_tool's `qemu_configs/`. The rest of the harness reads
//! these fields through [`Arch::profile`] and never branches on the
//! architecture's name.
//!
//! Adding an architecture:
//!
//! 1. a variant in [`crate::model::kernel::Arch`], with its name in
//!    `Arch::name` and `Arch::ALL` (the name case files, results and cache
//!    keys use);
//! 2. a file here, `<arch>.rs`, defining `pub static PROFILE: ArchProfile`,
//!    declared with `mod <arch>;` below;
//! 3. its `&<arch>::PROFILE` in [`PROFILES`];
//! 4. its serial console fragment, `cases/fragments/arch-<arch>.config`,
//!    which the profile's `config_fragment` includes.
//!
//! The tests below check that every `Arch` has exactly one profile.

mod arm64;
mod x86_64;

pub use crate::model::Arch;

/// How to boot a kernel of one architecture under QEMU.
#[derive(Debug)]
pub struct QemuProfile {
    /// The emulator binary.
    pub binary: &'static str,
    /// The Debian package that provides `binary`.
    pub package: &'static str,
    /// `-M` machine type.
    pub machine: &'static str,
    /// `-cpu` model, if the machine's default is not right.
    pub cpu: Option<&'static str>,
    /// The kernel's name for the serial console (`console=`).
    pub console: &'static str,
    /// Guest memory in MiB.
    pub memory_mib: u32,
}

/// Where the guest's static busybox comes from.
#[derive(Debug)]
pub enum BusyboxSource {
    /// A binary installed on the host by a Debian package.
    Host {
        path: &'static str,
        package: &'static str,
    },
    /// A foreign-architecture Debian package, downloaded and unpacked (not
    /// installed) by `ci/setup` into the cache: `apt-get download PKG`.
    ForeignDeb { package: &'static str },
}

/// A trace kCFI leaves in a vmlinux image (counted by
/// [`crate::elf::kcfi::kcfi_evidence`]; a kCFI kernel has some of each, a
/// kernel without kCFI none).
#[derive(Debug)]
pub enum KcfiMarker {
    /// A section, counted in bytes (x86's `__kcfi_traps` table of ud2 sites).
    Section(&'static str),
    /// Symbols with a prefix (x86's `__cfi_<fn>` type-hash preambles).
    SymbolPrefix(&'static str),
    /// AArch64 `BRK #imm` with `lo <= imm <= hi` in code (arm64 kCFI traps
    /// encode the registers in the immediate, 0x8000-0x83ff).
    A64Brk { lo: u32, hi: u32 },
}

/// How kCFI shows on each function of an object (read by
/// [`crate::elf::kcfi::function_kcfi`]): where an indirectly callable
/// function keeps its type hash, and what guards an indirect call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KcfiCode {
    /// x86_64: a `__cfi_<fn>` preamble symbol ends where the function
    /// starts (`mov $hash, %eax` after NOP padding); an indirect call
    /// (`call *%reg`, `call *mem`, or through `__x86_indirect_thunk_*`)
    /// follows a `ud2` listed in `.kcfi_traps`.
    X86Preamble,
    /// arm64: the hash is a data word just before the function (a `$d`
    /// mapping symbol 4 bytes before it); `BLR Xn` follows a
    /// `BRK #0x8000-0x83ff`.
    A64HashWord,
}

/// An lkdtm CFI test the harness runs on this architecture, the config
/// symbols of which any one, when `y`, means the kernel should stop it,
/// what lkdtm prints before the operation the protection must stop, and
/// where that stop must be: all as lkdtm's source says
/// (`drivers/misc/lkdtm/cfi.c`, the same in 6.12 and 7.1). kCFI's symbol
/// is named `CONFIG_CFI_CLANG` here and stands for it under any name: the
/// checks ask [`crate::kseries`] for the name the kernel's series uses
/// (`CONFIG_CFI` from 7.x on).
#[derive(Debug, PartialEq, Eq)]
pub struct LkdtmCfiTest {
    /// The crash type written to `/sys/kernel/debug/provoke-crash/DIRECT`.
    pub name: &'static str,
    pub protected_by: &'static [&'static str],
    /// The test's own lines, in order, after core.c's `Performing direct
    /// entry <name>`: each the start of an `lkdtm: ` message. All of them
    /// come before the operation that must trap.
    pub preamble: &'static [&'static str],
    /// Where the protection stops the test.
    pub trap: TrapSite,
    /// How many times the guest may run the test, each from a new process,
    /// stopping at the first trap: more than one where the protection is
    /// probabilistic. Pointer authentication lets an unsigned return
    /// address through when its few PAC bits match by chance (11 bits for
    /// a kernel address with 52-bit VAs: bits 63:56 and 54:52), and each
    /// new task has new keys; a kernel without the protection gets through
    /// every time.
    pub attempts: u8,
}

/// Where a protection (or a fault an lkdtm test provokes) must stop the
/// test, from lkdtm's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapSite {
    /// kCFI: `CFI failure at <caller>+… (target: <target>+…; expected
    /// type: …)`, the line both x86_64 and arm64 print (`report_cfi_failure`)
    /// before their Oops.
    Kcfi {
        caller: &'static str,
        target: &'static str,
    },
    /// A fault (`Oops`, `BUG:`, arm64 `Unable to handle kernel …`) whose
    /// faulting pc (the arch's [`ArchProfile::fault_pc`] line) is in
    /// `function`: arm64 pointer authentication's FPAC, a NULL dereference.
    FaultIn { function: &'static str },
}

impl TrapSite {
    /// The site in words: `a kCFI trap in lkdtm_indirect_call calling
    /// lkdtm_increment_int`.
    pub fn describe(&self) -> String {
        match self {
            TrapSite::Kcfi { caller, target } => {
                format!("a kCFI trap in {caller} calling {target}")
            }
            TrapSite::FaultIn { function } => format!("a fault with the pc in {function}"),
        }
    }
}

/// Everything the harness knows about one architecture.
#[derive(Debug)]
pub struct ArchProfile {
    pub arch: Arch,
    /// The name used in case files, results and cache keys.
    pub name: &'static str,
    /// `make ARCH=`.
    pub kernel_arch: &'static str,
    /// Triple passed to clang when probing what the toolchain can do.
    pub clang_target: &'static str,
    /// Boot image, relative to the build directory.
    pub boot_image: &'static str,
    /// Make targets that produce vmlinux, the boot image and the modules.
    pub make_targets: &'static [&'static str],
    /// Serial console driver fragment, merged after the harness fragment.
    pub config_fragment: &'static str,
    /// Whether the kernel supports kCFI (ARCH_SUPPORTS_CFI_CLANG, 7.x's
    /// ARCH_SUPPORTS_CFI) on this arch.
    pub supports_cfi: bool,
    /// Whether the kernel supports Clang LTO (ARCH_SUPPORTS_LTO_CLANG{,_THIN}).
    pub supports_lto: bool,
    /// Debian packages that let clang link static programs for this arch.
    pub userspace_packages: &'static [&'static str],
    /// ELF `e_machine` of vmlinux and modules.
    pub elf_machine: u16,
    /// What kCFI leaves in vmlinux.
    pub kcfi_markers: &'static [KcfiMarker],
    /// How kCFI shows on each function of a module.
    pub kcfi_code: KcfiCode,
    /// LAVA's name for the arch (a job's `context: arch`).
    pub lava_arch: &'static str,
    /// The lkdtm CFI tests to run (`checks: [cfi]`).
    pub cfi_tests: &'static [LkdtmCfiTest],
    /// How an Oops names the faulting pc: the start of its line, followed
    /// by `<symbol>+<off>/<size>` or a bare address (`RIP: 0010:`, `pc : `).
    pub fault_pc: &'static str,
    /// How the arch reports an instruction fetch from a page that is not
    /// executable: the text after which the trap line gives the address
    /// (the faulting pc itself), and a line among the next few that says
    /// it was a fetch (None: the trap line says so). The pc's own line may
    /// not give the address (7.1's x86 names `lkdtm_usercopy_exit+0x202108/0x88`,
    /// the nearest module symbol, for an address in lkdtm's rodata).
    pub fetch_fault: (&'static str, Option<&'static str>),
    /// The vDSO image with its symbols, relative to the `O=` dir: it must
    /// stay outside LTO and export the arch's `clock_gettime`.
    pub vdso_image: &'static str,
    /// What the vDSO must export (the arch's names for `clock_gettime` and
    /// friends).
    pub vdso_exports: &'static [&'static str],
    /// Objects the series keeps outside LTO, relative to the `O=` dir: each
    /// must be ELF, never LLVM bitcode, in every kernel (an object a config
    /// does not build is simply absent).
    pub non_lto_objects: &'static [&'static str],
    /// The instruction(s) an mcount site holds at the address its table
    /// entry records, until ftrace patches it, as bytes in file order (see
    /// [`crate::elf::ftrace`]).
    pub ftrace_nop: &'static [u8],
    /// Every layout of an ftrace site the compiler may emit on this arch:
    /// where the table entry points relative to the function and the
    /// bytes there (landing pads, pre-function NOPs).
    pub ftrace_sites: &'static [FtraceSite],
    /// The section listing a module's mcount sites (8-byte entries, filled
    /// in by relocations): objtool's `__mcount_loc` on x86, the compiler's
    /// `__patchable_function_entries` on arm64.
    pub module_mcount_section: &'static str,
    pub qemu: QemuProfile,
    pub busybox: BusyboxSource,
}

/// One layout of an ftrace site: where an mcount table entry points
/// relative to its function's symbol, and the bytes expected there before
/// ftrace patches anything. A kernel uses one or two of its arch's layouts
/// (with and without a landing pad); which ones depends on the config.
#[derive(Debug)]
pub struct FtraceSite {
    /// What the layout is, as reports name it.
    pub name: &'static str,
    /// The table entry minus the function's address, in bytes: 0 at the
    /// entry, 4 after a landing pad, negative before the function (arm64
    /// CALL_OPS's pre-function NOPs).
    pub entry_offset: i8,
    /// The bytes expected from the lower of the entry and the function's
    /// address.
    pub code: &'static [u8],
    /// Whether `code` holds a landing pad (IBT's `ENDBR64`, `BTI C`).
    pub landing_pad: bool,
}

/// The bytes of `parts` one after another, as an array of `N` bytes (for
/// the profiles' instruction sequences). Evaluated when the crate is
/// compiled: an `N` that is not the parts' total length fails the build.
pub const fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[at] = parts[p][i];
            at += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(at == N, "concat: N is not the parts' total length");
    out
}

/// lkdtm's forward-edge test (an indirect call through a pointer of the
/// wrong prototype), which every kCFI architecture runs: a matched call
/// of `lkdtm_increment_void`, then `lkdtm_indirect_call()` calls
/// `lkdtm_increment_int` through a `void (*)(int *)`. Both arches print
/// the same `CFI failure at` line (x86_64 then `Oops: invalid opcode`,
/// arm64 `Internal error: Oops - CFI`). A trap in lkdtm's dispatcher
/// (`lkdtm_do_action` calling `lkdtm_CFI_FORWARD_PROTO`) is not it: the
/// test then never ran.
const FORWARD_PROTO: LkdtmCfiTest = LkdtmCfiTest {
    name: "CFI_FORWARD_PROTO",
    protected_by: &["CONFIG_CFI_CLANG"],
    preamble: &[
        "Calling matched prototype ...",
        "Calling mismatched prototype ...",
    ],
    trap: TrapSite::Kcfi {
        caller: "lkdtm_indirect_call",
        target: "lkdtm_increment_int",
    },
    attempts: 1,
};

/// Every architecture's profile, one per [`Arch`] variant.
pub static PROFILES: [&ArchProfile; 2] = [&x86_64::PROFILE, &arm64::PROFILE];

impl Arch {
    pub fn profile(self) -> &'static ArchProfile {
        PROFILES
            .iter()
            .copied()
            .find(|p| p.arch == self)
            .expect("every Arch has a profile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arch_has_one_profile_with_its_own_console() {
        for arch in Arch::ALL {
            let p = arch.profile();
            assert_eq!(p.arch, arch);
            assert!(p.config_fragment.contains(&"CONFIG_SERIAL".to_string()));
            assert_eq!(PROFILES.iter().filter(|q| q.arch == arch).count(), 1);
        }
        assert_ne!(
            Arch::X86_64.profile().qemu.console,
            Arch::Arm64.profile().qemu.console
        );
    }

    #[test]
    fn ftrace_sites_hold_the_nop_at_their_entry() {
        for arch in Arch::ALL {
            let p = arch.profile();
            assert!(!p.ftrace_nop.is_empty(), "{}", p.name);
            assert!(p.ftrace_sites.iter().any(|s| s.entry_offset == 0));
            for site in p.ftrace_sites {
                // The entry's bytes, within the layout's code, are the NOP.
                let at = (site.entry_offset - site.entry_offset.min(0)) as usize;
                assert_eq!(
                    site.code.get(at..at + p.ftrace_nop.len()),
                    Some(p.ftrace_nop),
                    "{}: {}",
                    p.name,
                    site.name
                );
            }
            assert!(!p.module_mcount_section.is_empty());
        }
    }

    #[test]
    fn serde_names_match_profile_names() {
        for arch in Arch::ALL {
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name()));
            assert_eq!(arch.profile().name, arch.name());
        }
    }
}
