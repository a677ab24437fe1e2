//! arm64: QEMU's `virt` machine with `-cpu max,pauth-impdef=on` and the PL011 UART on
//! ttyAMA0, busybox from Debian's arm64 package, kCFI traps as `BRK`
//! immediates, and a backward-edge CFI test besides the forward one.

use super::{
    concat, Arch, ArchProfile, BusyboxSource, FtraceSite, KcfiCode, KcfiMarker, LkdtmCfiTest,
    QemuProfile, TrapSite, FORWARD_PROTO,
};

/// `NOP` (0xd503201f), little-endian.
const NOP: [u8; 4] = 0xd503_201f_u32.to_le_bytes();
/// `BTI C` (0xd503245f), little-endian.
const BTI_C: [u8; 4] = 0xd503_245f_u32.to_le_bytes();
/// The two NOPs of `-fpatchable-function-entry=2`.
const NOPS2: [u8; 8] = concat::<8>(&[&NOP, &NOP]);

pub static PROFILE: ArchProfile = ArchProfile {
    arch: Arch::Arm64,
    name: "arm64",
    kernel_arch: "arm64",
    clang_target: "aarch64-linux-gnu",
    boot_image: "arch/arm64/boot/Image",
    make_targets: &["Image", "modules"],
    config_fragment: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cases/fragments/arch-arm64.config"
    )),
    supports_cfi: true,
    supports_lto: true,
    userspace_packages: &["libc6-dev-arm64-cross", "libgcc-12-dev-arm64-cross"],
    elf_machine: object::elf::EM_AARCH64.0,
    kcfi_markers: &[KcfiMarker::A64Brk {
        lo: 0x8000,
        hi: 0x83ff,
    }],
    kcfi_code: KcfiCode::A64HashWord,
    lava_arch: "arm64",
    cfi_tests: &[
        FORWARD_PROTO,
        // set_return_addr_unchecked() (no pointer auth, no shadow stack)
        // redirects its return, then set_return_addr() tries again: with
        // pointer auth its AUT fails (FPAC: `Internal error: Oops - FPAC`,
        // `pc : set_return_addr+…`); with a shadow call stack the write is
        // ignored and lkdtm says `ok: control flow unchanged.` (tests.txt
        // accepts either). A redirect that gets through by a PAC collision
        // is followed by another attempt in a new task.
        LkdtmCfiTest {
            name: "CFI_BACKWARD",
            protected_by: &["CONFIG_ARM64_PTR_AUTH_KERNEL", "CONFIG_SHADOW_CALL_STACK"],
            preamble: &[
                "Attempting unchecked stack return address redirection ...",
                "ok: redirected stack return address.",
                "Attempting checked stack return address redirection ...",
            ],
            trap: TrapSite::FaultIn {
                function: "set_return_addr",
            },
            // One unsigned return address in 2^11 passes AUT by chance.
            attempts: 3,
        },
    ],
    // `pc : lkdtm_indirect_call+0x28/0x3c [lkdtm]`.
    fault_pc: "pc : ",
    // `Unable to handle kernel execute from non-executable memory at
    // virtual address ffff8000786cd138`.
    fetch_fault: (
        "execute from non-executable memory at virtual address ",
        None,
    ),
    vdso_image: "arch/arm64/kernel/vdso/vdso.so.dbg",
    vdso_exports: &[
        "__kernel_clock_gettime",
        "__kernel_gettimeofday",
        "__kernel_clock_getres",
        "__kernel_rt_sigreturn",
    ],
    non_lto_objects: &[
        "arch/arm64/kernel/vdso/vgettimeofday.o",
        "arch/arm64/kernel/pi/map_kernel.o",
        "arch/arm64/kernel/pi/idreg-override.o",
        "drivers/misc/lkdtm/rodata.o",
        "scripts/mod/empty.o",
    ],
    // `-fpatchable-function-entry=2`: two `NOP`s (0xd503201f) at the
    // function's entry, after a `BTI C` (0xd503245f) with BTI; with
    // DYNAMIC_FTRACE_WITH_CALL_OPS (`=4,2`, never with kCFI) two more
    // before the function, where the entry then points
    // (arch/arm64/kernel/ftrace.c, ftrace_call_adjust).
    ftrace_nop: &NOPS2,
    ftrace_sites: &[
        FtraceSite {
            name: "two NOPs at the function's entry",
            entry_offset: 0,
            code: &NOPS2,
            landing_pad: false,
        },
        FtraceSite {
            name: "two NOPs after BTI C",
            entry_offset: 4,
            code: &concat::<12>(&[&BTI_C, &NOPS2]),
            landing_pad: true,
        },
        FtraceSite {
            name: "two NOPs before the function and two at its entry (CALL_OPS)",
            entry_offset: -8,
            code: &concat::<16>(&[&NOPS2, &NOPS2]),
            landing_pad: false,
        },
        FtraceSite {
            name: "two NOPs before the function, BTI C and two NOPs (CALL_OPS)",
            entry_offset: -8,
            code: &concat::<20>(&[&NOPS2, &BTI_C, &NOPS2]),
            landing_pad: true,
        },
    ],
    module_mcount_section: "__patchable_function_entries",
    qemu: QemuProfile {
        binary: "qemu-system-aarch64",
        package: "qemu-system-arm",
        machine: "virt",
        // The implementation-defined pointer-auth algorithm: cheap to
        // emulate, where QARMA5 (max's default) is not; what boot-utils and
        // TuxLAVA use. Guest instruction counts are the same.
        cpu: Some("max,pauth-impdef=on"),
        console: "ttyAMA0",
        memory_mib: 512,
    },
    busybox: BusyboxSource::ForeignDeb {
        package: "busybox-static:arm64",
    },
};
