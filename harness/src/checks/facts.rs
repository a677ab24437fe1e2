//! What the build's files say about a kernel, read once per case: the
//! final .config, vmlinux's initcall tables, kCFI markers and vermagic,
//! and the facts of each module the guest gets. A part that cannot be read
//! carries the reason instead, for the check that needs it to report.

use super::mechanism_facts::MechanismFacts;
use crate::case::Case;
use crate::elf;
use crate::elf::initcall_script::{parse_ordering_script, OrderedInitcall};
use crate::elf::initcalls::{static_order_from_bytes, table_labels, Initcall, TableLabels};
use crate::elf::kcfi::{self, KcfiCount};
use crate::elf::module::{self, ModuleFacts};
use crate::elf::objects::ObjectFacts;
use crate::kseries::{self, CfiConfig};
use crate::model::Lto;
use crate::stages::build::BuiltKernel;
use std::collections::BTreeMap;

/// Why a kernel built elsewhere has no vmlinux facts.
pub const NO_VMLINUX: &str = "no vmlinux was given with the kernel (built elsewhere)";
/// Why a kernel built elsewhere has no .config facts.
pub const NO_CONFIG: &str = "no .config was given with the kernel (built elsewhere)";

/// A fact the harness could not read: a file missing, unreadable or not
/// in the shape its reader knows. Never a verdict on the kernel: a check
/// that needs the fact is `incomplete` (or `skip`) with this reason, and
/// only what the kernel did or is can fail it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unread {
    pub reason: String,
    /// The input was never there to read (a kernel built elsewhere that
    /// came without it): a check that needs it is `skip`, not
    /// `incomplete`.
    pub absent: bool,
}

impl Unread {
    /// A fact whose file was there but could not be read or parsed.
    pub fn failed(reason: impl Into<String>) -> Unread {
        Unread {
            reason: reason.into(),
            absent: false,
        }
    }

    /// A fact whose input did not come with the kernel.
    pub fn absent(reason: impl Into<String>) -> Unread {
        Unread {
            reason: reason.into(),
            absent: true,
        }
    }
}

impl From<String> for Unread {
    fn from(s: String) -> Unread {
        Unread::failed(s)
    }
}

impl From<&str> for Unread {
    fn from(s: &str) -> Unread {
        Unread::failed(s)
    }
}

/// A fact read from the build, or why it could not be.
pub type Fact<T> = Result<T, Unread>;

/// What the build's files say about the kernel, read once per case.
/// Each part that could not be read carries the reason instead.
#[derive(Debug, Clone)]
pub struct KernelFacts {
    /// The final .config.
    pub config: Fact<BTreeMap<String, String>>,
    /// The kernel's version (the build's, else the .config header's): its
    /// series names the symbols the checks ask about.
    pub kernel_version: Option<String>,
    /// Built-in initcalls from vmlinux's tables.
    pub initcalls: Fact<Vec<Initcall>>,
    /// The arch's kCFI markers counted in vmlinux.
    pub kcfi: Fact<Vec<KcfiCount>>,
    pub vermagic: Fact<String>,
    /// The modules the guest gets, with where the build put them.
    pub modules: Vec<(String, Fact<ModuleFacts>)>,
    /// vmlinux's initcall tables by entry label, and labels outside them.
    pub table_labels: Fact<TableLabels>,
    /// The LTO initcall ordering script, when the build has one.
    pub initcall_script: Option<Fact<Vec<OrderedInitcall>>>,
    /// What the build's objects are (published in `objects.json`).
    pub objects: Option<ObjectFacts>,
    /// What the build's files say about each LTO mechanism.
    pub mech: MechanismFacts,
    /// Why the static checks cannot be judged at all (a kernel built
    /// elsewhere came without vmlinux): they skip with this reason.
    pub absent: Option<String>,
}

impl KernelFacts {
    /// Reads .config, vmlinux and the case's modules from a build.
    pub fn gather(case: &Case, kernel: &BuiltKernel) -> KernelFacts {
        let text = match &kernel.config {
            Some(c) => {
                std::fs::read_to_string(c).map_err(|e| format!("cannot read {}: {e}", c.display()))
            }
            None => Err(NO_CONFIG.into()),
        };
        let kernel_version = kernel
            .metadata
            .as_ref()
            .map(|m| m.kernel_version.clone())
            .filter(|v| !v.is_empty())
            .or_else(|| text.as_deref().ok().and_then(kseries::config_version));
        let config = text.map(|t| crate::stages::config::parse_config(&t));
        let none = std::path::PathBuf::from("vmlinux");
        let vmlinux = match &kernel.vmlinux {
            Some(v) => elf::read(v).map_err(|e| format!("{e:#}")),
            None => Err(NO_VMLINUX.into()),
        };
        fn on<T>(
            vmlinux: &Result<Vec<u8>, String>,
            path: &std::path::Path,
            f: impl Fn(&[u8]) -> anyhow::Result<T>,
        ) -> Result<T, String> {
            match vmlinux {
                Ok(data) => f(data).map_err(|e| format!("{}: {e:#}", path.display())),
                Err(e) => Err(e.clone()),
            }
        }
        let path = kernel.vmlinux.as_ref().unwrap_or(&none);
        let initcalls = on(&vmlinux, path, static_order_from_bytes);
        let kcfi = on(&vmlinux, path, |d| {
            kcfi::kcfi_evidence(d, case.arch.profile())
        });
        let vermagic = on(&vmlinux, path, module::kernel_vermagic);
        let table_labels = on(&vmlinux, path, table_labels);
        let initcall_script = kernel.files.initcalls_lds.as_ref().map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
                .and_then(|t| {
                    parse_ordering_script(&t).map_err(|e| format!("{}: {e:#}", p.display()))
                })
        });
        let modules: Vec<(String, Result<ModuleFacts, String>)> = case
            .image_modules()
            .into_iter()
            .map(|m| {
                let facts = match kernel.modules.get(&m) {
                    Some(p) => module::module_facts(p).map_err(|e| format!("{e:#}")),
                    None => Err(format!("the build has no {m}.ko")),
                };
                (m, facts)
            })
            .collect();
        KernelFacts {
            config: config.map_err(|e| match kernel.config {
                None => Unread::absent(e),
                Some(_) => Unread::failed(e),
            }),
            kernel_version,
            initcalls: initcalls.map_err(|e| match kernel.vmlinux {
                None => Unread::absent(e),
                Some(_) => Unread::failed(e),
            }),
            kcfi: kcfi.map_err(|e| match kernel.vmlinux {
                None => Unread::absent(e),
                Some(_) => Unread::failed(e),
            }),
            vermagic: vermagic.map_err(|e| match kernel.vmlinux {
                None => Unread::absent(e),
                Some(_) => Unread::failed(e),
            }),
            modules: modules
                .into_iter()
                .map(|(m, f): (String, Result<ModuleFacts, String>)| (m, f.map_err(Unread::failed)))
                .collect(),
            table_labels: table_labels.map_err(|e| match kernel.vmlinux {
                None => Unread::absent(e),
                Some(_) => Unread::failed(e),
            }),
            initcall_script: initcall_script.map(|s| s.map_err(Unread::failed)),
            absent: kernel.vmlinux.is_none().then(|| NO_VMLINUX.to_owned()),
            objects: kernel.files.objects.clone(),
            mech: MechanismFacts::gather(
                case.arch.profile(),
                path,
                vmlinux.as_deref().map_err(Clone::clone),
                &case
                    .image_modules()
                    .into_iter()
                    .map(|m| {
                        let p = kernel.modules.get(&m).cloned();
                        (m, p)
                    })
                    .collect::<Vec<_>>(),
                &kernel.files,
            ),
        }
    }

    /// Facts with nothing read (every part says so), for tests to fill in.
    #[cfg(test)]
    pub fn empty() -> KernelFacts {
        KernelFacts {
            config: Err("n/a".into()),
            kernel_version: None,
            initcalls: Err("n/a".into()),
            kcfi: Err("n/a".into()),
            vermagic: Err("n/a".into()),
            modules: vec![],
            table_labels: Err("n/a".into()),
            initcall_script: None,
            objects: None,
            mech: MechanismFacts::empty(),
            absent: None,
        }
    }

    /// The LTO mode .config says (none when unreadable).
    pub fn lto(&self) -> Lto {
        match self.config_is_y("CONFIG_LTO_CLANG_FULL") {
            Some(true) => Lto::Full,
            _ if self.config_is_y("CONFIG_LTO_CLANG_THIN") == Some(true) => Lto::Thin,
            _ => Lto::None,
        }
    }

    /// kCFI as .config has it, under the name the kernel's series uses
    /// (`CONFIG_CFI` or `CONFIG_CFI_CLANG`); None when .config is unreadable.
    pub fn cfi(&self) -> Option<CfiConfig> {
        self.config
            .as_ref()
            .ok()
            .map(|c| kseries::cfi_config(c, self.kernel_version.as_deref()))
    }

    /// The name this kernel gives `sym`: kCFI's symbol under any of its
    /// names becomes the kernel's own (see [`KernelFacts::cfi`]); any
    /// other symbol is itself.
    pub fn name_of(&self, sym: &str) -> String {
        match self.cfi() {
            Some(c) if kseries::cfi_symbols().contains(&sym) => c.symbol,
            _ => sym.to_owned(),
        }
    }

    /// [`KernelFacts::config_is_y`] of the kernel's own name for `sym`
    /// ([`KernelFacts::name_of`]).
    pub fn is_y_by_any_name(&self, sym: &str) -> Option<bool> {
        self.config_is_y(&self.name_of(sym))
    }

    /// `Some(true)` when .config sets `sym=y`.
    pub fn config_is_y(&self, sym: &str) -> Option<bool> {
        self.config
            .as_ref()
            .ok()
            .map(|c| c.get(sym).is_some_and(|v| v == "y"))
    }
}
