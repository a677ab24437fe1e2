//! Cases: the YAML files under `cases/` that say what kernel to build, how
//! to boot it and what to check. Parsed with serde-saphyr into typed
//! structs with unknown keys rejected; every error names the file, line and
//! column and what was expected.
//!
//! This file holds the types the rest of the harness sees ([`Case`] and
//! its parts, [`CaseError`]); `parse.rs` turns one file's text into a
//! [`Case`] ([`Case::parse`]), one function per field group; `load.rs`
//! reads files and directories ([`Case::load`], [`load_dir`]) and picks
//! cases by name ([`select`]).

pub mod external;
mod load;
pub mod name;
mod parse;
pub(crate) mod yaml;

pub use load::{load_dir, matrix, select, select_named, Selectable};
pub use name::{join_name, valid_name, UnsafeName, NAME_RULE};

pub use crate::model::Variant;
use crate::model::{Arch, Lto, Switch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A check a case can ask for. The boot verdict is always judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The boot verdict: markers seen, clean exit, no panic/Oops/BUG/WARNING/CFI failure.
    Boot,
    /// Built-in initcall order, from vmlinux and from the boot, against the case's golden.
    Initcalls,
    /// kCFI: instrumentation in vmlinux agrees with .config; lkdtm's CFI tests trap or not as expected.
    Cfi,
    /// Each listed module: a proper .ko for this kernel; loads, shows in /proc/modules, unloads.
    Modules,
    /// The objects the series keeps outside LTO (the vDSO, x86's power/cpu.o,
    /// lkdtm's rodata.o, …) are ELF, never LLVM bitcode; lkdtm EXEC_RODATA faults.
    Islands,
    /// The LTO ELF note of vmlinux and each module (and at boot in sysfs)
    /// says what the case asked for; `.llvm.` names in thin kernels only;
    /// modules' LTO and kCFI state match the kernel's.
    LtoIdentity,
    /// LTO modules have their data sections merged (no `.data.*`, `.bss.*`,
    /// `.rodata.*` split sections), also in /sys/module/<m>/sections.
    ModuleSections,
    /// Module versions: CRCs coherent across .vmlinux.export.c,
    /// Module.symvers, vmlinux and each module; a flipped CRC is refused.
    Modversions,
    /// ftrace: the mcount tables are function starts holding the arch's NOP;
    /// at boot the function tracer records events, module functions too.
    Ftrace,
    /// x86 ORC (objtool run late under LTO): ORC tables in vmlinux and
    /// modules; an lkdtm Oops's trace is reliable (no `? ` frames).
    Orc,
    /// The stack protector under LTO: lkdtm REPORT_STACK_CANARY.
    StackProtector,
    /// The vDSO stays outside LTO: an ET_DYN image without relocations that
    /// exports the arch's clock_gettime, which a guest program calls.
    Vdso,
    /// The build log has no warning that the LTO-none build of the same
    /// config (in the same run) lacks.
    Hygiene,
    /// The KUnit suites the case names (`kunit:`), built in and run at
    /// boot: each test's KTAP result is a check `kunit.<suite>.<test>`.
    Kunit,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Boot => "boot",
            CheckKind::Initcalls => "initcalls",
            CheckKind::Cfi => "cfi",
            CheckKind::Modules => "modules",
            CheckKind::Islands => "islands",
            CheckKind::LtoIdentity => "lto_identity",
            CheckKind::ModuleSections => "module_sections",
            CheckKind::Modversions => "modversions",
            CheckKind::Ftrace => "ftrace",
            CheckKind::Orc => "orc",
            CheckKind::StackProtector => "stack_protector",
            CheckKind::Vdso => "vdso",
            CheckKind::Hygiene => "hygiene",
            CheckKind::Kunit => "kunit",
        }
    }
}

/// What a CFI test should do on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfiExpect {
    /// The kernel stops it: the console shows what the kernel's own
    /// selftests expect (tools/testing/selftests/lkdtm/tests.txt), and for
    /// forward edges a `CFI failure at ...` line naming the target.
    Trap,
    /// The kernel lets it through and lkdtm says that is expected for this
    /// config (`This is probably expected, since this kernel ... *without* ...`).
    Survive,
}

impl CfiExpect {
    pub fn name(self) -> &'static str {
        match self {
            CfiExpect::Trap => "trap",
            CfiExpect::Survive => "survive",
        }
    }
}

/// A module the case loads, with the messages its init and exit print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleSpec {
    /// As in /proc/modules (dashes become underscores).
    pub name: String,
    /// A console text its init prints (besides initcall_debug's `initcall ... [name] returned 0`).
    pub init_message: Option<String>,
    /// A console text its exit prints when rmmod'ed.
    pub exit_message: Option<String>,
}

/// A validated case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Switch,
    /// What the config starts from, as the case file says it: a kconfig
    /// make target (`tinyconfig`, `defconfig`, ...) or a config file.
    pub base: String,
    /// The config file `base` names, resolved (None for a make target):
    /// copied to `.config` and brought up to date with `olddefconfig`.
    pub base_config: Option<PathBuf>,
    /// Fragment files, resolved to absolute paths.
    pub fragments: Vec<PathBuf>,
    /// Inline config symbols: `CONFIG_FOO: y`; with `kunit:`, also
    /// `CONFIG_KUNIT` and each suite's symbol, `y` (merged and verified
    /// like the rest).
    pub config: BTreeMap<String, String>,
    /// Variables on make's command line for the kernel build, which
    /// override the kernel's Makefiles: `CFLAGS_REMOVE_vdso.o:
    /// $(CC_FLAGS_LTO)` builds every `vdso.o` outside LTO. Part of the
    /// build key.
    pub make_vars: BTreeMap<String, String>,
    /// Extra kernel command-line words.
    pub cmdline: Vec<String>,
    pub timeout_secs: u64,
    /// Modules to put in the image, load and unload.
    pub modules: Vec<ModuleSpec>,
    pub checks: Vec<CheckKind>,
    /// The initcall golden: its family name and file (`<cases>/golden/<family>.initcalls`).
    pub golden: Option<GoldenRef>,
    /// Per lkdtm CFI test, an expectation that overrides the one the kernel's
    /// config implies.
    pub cfi_expect: BTreeMap<String, CfiExpect>,
    pub tags: Vec<String>,
    /// Extra shell lines run by the guest's /init, before the end marker.
    pub init_commands: Vec<String>,
    /// KUnit suites to build in and judge from the boot's KTAP: the
    /// suite's name (its `struct kunit_suite`'s `.name`) to the Kconfig
    /// symbol that builds it. Their symbols are in `config` too. Empty
    /// for a case without `kunit:`.
    pub kunit: BTreeMap<String, String>,
    /// On the toolchain axis, which toolchain this variant of the case is
    /// built with (see [`Case::for_toolchain`]). None: the run's only
    /// toolchain, and `name` is the case file's.
    pub variant: Option<Variant>,
    /// Checks reported as skipped with the reason instead of judged (the
    /// case of a kernel built elsewhere: [`external`]). Empty for case files.
    pub not_judged: Vec<(CheckKind, String)>,
}

/// What separates a case's name from its toolchain's in a variant's name
/// (case names never contain it).
pub const VARIANT_SEPARATOR: char = '+';

/// Which golden a case's initcall order is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldenRef {
    /// The config family, e.g. `x86_64-tiny`; cases of one config with
    /// different LTO/CFI modes share it.
    pub family: String,
    pub path: PathBuf,
}

pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// The symbol KUnit itself is built with, `y` in a case with `kunit:`
/// (built in, its suites run at boot).
pub const KUNIT_SYMBOL: &str = "CONFIG_KUNIT";
pub const DEFAULT_BASE: &str = "tinyconfig";

/// A case file that could not be read or is not valid.
pub type CaseError = yaml::FileError;

impl Case {
    /// This case built with another toolchain: named `<name>+<label>`.
    pub fn for_toolchain(&self, llvm: &str, label: &str) -> Case {
        let case = self.case_name().to_owned();
        Case {
            name: format!("{case}{VARIANT_SEPARATOR}{label}"),
            variant: Some(Variant {
                case,
                llvm: llvm.to_owned(),
                label: label.to_owned(),
            }),
            ..self.clone()
        }
    }

    /// The case file's case name (a variant's name without its toolchain).
    pub fn case_name(&self) -> &str {
        self.variant.as_ref().map_or(&self.name, |v| &v.case)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn wants(&self, check: CheckKind) -> bool {
        self.checks.contains(&check)
    }

    pub fn module_names(&self) -> Vec<&str> {
        self.modules.iter().map(|m| m.name.as_str()).collect()
    }

    /// Whether a check runs lkdtm tests (CFI, EXEC_RODATA, the stack
    /// canary, an Oops for the unwinder).
    pub fn needs_lkdtm(&self) -> bool {
        [
            CheckKind::Cfi,
            CheckKind::Islands,
            CheckKind::StackProtector,
            CheckKind::Orc,
        ]
        .iter()
        .any(|k| self.wants(*k))
    }

    /// The modules the guest needs: the listed ones, and lkdtm for its tests.
    pub fn image_modules(&self) -> Vec<String> {
        let mut out: Vec<String> = self.modules.iter().map(|m| m.name.clone()).collect();
        if self.needs_lkdtm() && !out.iter().any(|m| m == "lkdtm") {
            out.push("lkdtm".into());
        }
        out
    }

    /// The module the mechanism step loads and inspects (notes, sections,
    /// ftrace): lkdtm when the guest has it (many functions and data
    /// sections), else the first listed module.
    pub fn facts_module(&self) -> Option<String> {
        let all = self.image_modules();
        all.iter().find(|m| *m == "lkdtm").or(all.first()).cloned()
    }

    /// The module whose copy with a flipped CRC must be refused: the first
    /// listed module other than lkdtm (which stays loaded for its tests,
    /// so a second load would fail for that reason instead).
    pub fn flipped_module(&self) -> Option<String> {
        self.modules
            .iter()
            .map(|m| m.name.clone())
            .find(|m| m != "lkdtm")
    }

    /// One line for `lto-harness list`.
    pub fn summary(&self) -> String {
        let tags = if self.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", self.tags.join(","))
        };
        format!(
            "{:<28} {:<7} lto={:<5} cfi={:<3} base={}{}",
            self.name,
            self.arch.name(),
            self.lto.name(),
            self.cfi.name(),
            self.base,
            tags
        )
    }
}
