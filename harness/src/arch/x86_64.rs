//! x86_64: a q35 machine with the 8250 UART on ttyS0, the host's own
//! static busybox, and kCFI's `__kcfi_traps` table and `__cfi_` preambles.

use super::{
    concat, Arch, ArchProfile, BusyboxSource, FtraceSite, KcfiCode, KcfiMarker, QemuProfile,
    FORWARD_PROTO,
};

/// `nopl 0x0(%rax,%rax,1)`, the 5-byte NOP objtool writes over `call __fentry__`.
const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
/// `endbr64`, IBT's landing pad.
const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

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
    kcfi_code: KcfiCode::X86Preamble,
    lava_arch: "amd64",
    // x86_64 has no kernel backward-edge protection to test (no shadow
    // call stack, no pointer authentication): forward edges only.
    cfi_tests: &[FORWARD_PROTO],
    // `RIP: 0010:lkdtm_indirect_call+0x16/0x20 [lkdtm]` (kernel CS 0x10).
    fault_pc: "RIP: 0010:",
    // `BUG: unable to handle page fault for address: ffffffffa0206080`,
    // then `#PF: supervisor instruction fetch in kernel mode`.
    fetch_fault: (
        "unable to handle page fault for address: ",
        Some("#PF: supervisor instruction fetch"),
    ),
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
    ftrace_nop: &NOP5,
    ftrace_sites: &[
        FtraceSite {
            name: "NOP5 at the function's entry",
            entry_offset: 0,
            code: &NOP5,
            landing_pad: false,
        },
        FtraceSite {
            name: "NOP5 after ENDBR64 (IBT)",
            entry_offset: 4,
            code: &concat::<9>(&[&ENDBR64, &NOP5]),
            landing_pad: true,
        },
    ],
    module_mcount_section: "__mcount_loc",
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
