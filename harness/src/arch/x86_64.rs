//! x86_64: a q35 machine with the 8250 UART on ttyS0, the host's own
//! static busybox, and kCFI's `__kcfi_traps` table and `__cfi_` preambles.

use super::{Arch, ArchProfile, BusyboxSource, KcfiMarker, QemuProfile, FORWARD_PROTO};

pub static PROFILE: ArchProfile = ArchProfile {
    arch: Arch::X86_64,
    name: "x86_64",
    kernel_arch: "x86_64",
    clang_target: "x86_64-linux-gnu",
    boot_image: "arch/x86/boot/bzImage",
    make_targets: &["bzImage", "modules"],
    config_fragment: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cases/fragments/arch-x86_64.config"
    )),
    supports_cfi: true,
    supports_lto: true,
    userspace_packages: &["libc6-dev"],
    elf_machine: object::elf::EM_X86_64.0,
    kcfi_markers: &[
        KcfiMarker::Section("__kcfi_traps"),
        KcfiMarker::SymbolPrefix("__cfi_"),
    ],
    // x86_64 has no kernel backward-edge protection to test (no shadow
    // call stack, no pointer authentication): forward edges only.
    cfi_tests: &[FORWARD_PROTO],
    vdso_image: "arch/x86/entry/vdso/vdso64.so.dbg",
    vdso_exports: &[
        "__vdso_clock_gettime",
        "__vdso_gettimeofday",
        "__vdso_time",
        "__vdso_clock_getres",
        "__vdso_getcpu",
    ],
    non_lto_objects: &[
        "arch/x86/entry/vdso/vclock_gettime.o",
        "arch/x86/entry/vdso/vgetcpu.o",
        "arch/x86/power/cpu.o",
        "drivers/misc/lkdtm/rodata.o",
        "scripts/mod/empty.o",
        "arch/x86/boot/compressed/misc.o",
    ],
    // objtool `--mcount --mnop` turns each `call __fentry__` into a 5-byte
    // NOP (`nopl 0x0(%rax,%rax,1)`); with IBT it follows the `ENDBR64`.
    ftrace_nop: &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    ftrace_entry_pads: &[&[], &[0xf3, 0x0f, 0x1e, 0xfa]],
    module_mcount_section: "__mcount_loc",
    ftrace_pre_entry: &[],
    qemu: QemuProfile {
        binary: "qemu-system-x86_64",
        package: "qemu-system-x86",
        machine: "q35",
        cpu: None,
        console: "ttyS0",
        memory_mib: 512,
    },
    busybox: BusyboxSource::Host {
        path: "/bin/busybox",
        package: "busybox-static",
    },
};
