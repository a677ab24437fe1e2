//! arm64: QEMU's `virt` machine with `-cpu max` and the PL011 UART on
//! ttyAMA0, busybox from Debian's arm64 package, kCFI traps as `BRK`
//! immediates, and a backward-edge CFI test besides the forward one.

use super::{
    Arch, ArchProfile, BusyboxSource, KcfiMarker, LkdtmCfiTest, QemuProfile, FORWARD_PROTO,
};

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
    cfi_tests: &[
        FORWARD_PROTO,
        LkdtmCfiTest {
            name: "CFI_BACKWARD",
            protected_by: &["CONFIG_ARM64_PTR_AUTH_KERNEL", "CONFIG_SHADOW_CALL_STACK"],
        },
    ],
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
    // function's entry, after a `BTI C` (0xd503245f) when BTI is on
    // (arch/arm64/kernel/ftrace.c, ftrace_call_adjust).
    ftrace_nop: &[0x1f, 0x20, 0x03, 0xd5, 0x1f, 0x20, 0x03, 0xd5],
    ftrace_entry_pads: &[&[], &[0x5f, 0x24, 0x03, 0xd5]],
    module_mcount_section: "__patchable_function_entries",
    ftrace_pre_entry: &[8],
    qemu: QemuProfile {
        binary: "qemu-system-aarch64",
        package: "qemu-system-arm",
        machine: "virt",
        cpu: Some("max"),
        console: "ttyAMA0",
        memory_mib: 512,
    },
    busybox: BusyboxSource::ForeignDeb {
        package: "busybox-static:arm64",
    },
};
