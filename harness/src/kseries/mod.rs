//! Kernel series as data: what differs between the kernel series the
//! harness builds (Linux 6.1, 6.12, 7.1), in one table ([`TABLE`]), the
//! way [`crate::arch`] holds what differs between architectures.
//!
//! A row gives, for a series and the ones after it up to the next row:
//!
//! * the config symbol a case's `cfi: on/off` turns into (`CFI_CLANG`
//!   until 7.x renamed it `CFI`, in `arch/Kconfig`);
//! * the symbols it renamed, old name → new name: the old one stays as a
//!   Kconfig `transitional` symbol, which `olddefconfig` maps onto the new
//!   one and then drops from the final `.config`, so a request of the old
//!   name is satisfied through the new one;
//! * where artefacts the checks read moved, relative to the paths in the
//!   arch profiles (those are 6.x's): 7.1 builds the x86 vDSO in
//!   `arch/x86/entry/vdso/vdso64/`.
//!
//! Which row applies is read from the tree itself ([`KernelSeries::resolve`]):
//! the top Makefile's `VERSION`/`PATCHLEVEL` picks the row, and the tree's
//! Kconfig ([`Kconfig::parse`], of `arch/Kconfig` and the files in
//! [`KCONFIG_FILES`]) overrides it where it speaks: whether it defines
//! `config CFI` or `config CFI_CLANG`, and which symbols are
//! `transitional` and what replaced them. A tree the harness has never
//! seen (a newer 7.x) is thus configured from its own Kconfig, and an
//! artefact is looked for at every place a known series put it
//! ([`KernelSeries::artefact_paths`]), never judged by a stale name.

use crate::model::Arch;
use serde::Serialize;
use std::collections::BTreeMap;

/// A symbol a series renamed: the old name is a Kconfig `transitional`
/// symbol that maps onto the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rename {
    pub old: &'static str,
    pub new: &'static str,
}

/// An artefact a series builds somewhere else than the arch profile says
/// (paths relative to the `O=` dir).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub arch: Arch,
    /// The path in the arch profile (6.x's).
    pub from: &'static str,
    /// Where this series builds it.
    pub to: &'static str,
}

/// What one kernel series names and where it puts things.
#[derive(Debug)]
pub struct SeriesRow {
    /// `(VERSION, PATCHLEVEL)` of the first series the row describes; it
    /// applies to later series until the next row's.
    pub since: (u32, u32),
    /// The symbol `cfi: on/off` sets.
    pub cfi: &'static str,
    /// Symbols renamed by this series or earlier (transitional old names).
    pub renamed: &'static [Rename],
    /// Artefacts built elsewhere than the arch profiles' paths.
    pub moved: &'static [Moved],
}

/// 7.x's kCFI symbol, and the transitional name it replaced.
const CFI_RENAMED: Rename = Rename {
    old: "CONFIG_CFI_CLANG",
    new: "CONFIG_CFI",
};

/// The x86 vDSO, built in `vdso64/` from 7.1 on (its objects with it).
const X86_VDSO64: &[Moved] = &[
    Moved {
        arch: Arch::X86_64,
        from: "arch/x86/entry/vdso/vdso64.so.dbg",
        to: "arch/x86/entry/vdso/vdso64/vdso64.so.dbg",
    },
    Moved {
        arch: Arch::X86_64,
        from: "arch/x86/entry/vdso/vclock_gettime.o",
        to: "arch/x86/entry/vdso/vdso64/vclock_gettime.o",
    },
    Moved {
        arch: Arch::X86_64,
        from: "arch/x86/entry/vdso/vgetcpu.o",
        to: "arch/x86/entry/vdso/vdso64/vgetcpu.o",
    },
];

/// Every series the harness has built, oldest first.
pub static TABLE: &[SeriesRow] = &[
    SeriesRow {
        since: (6, 1),
        cfi: "CONFIG_CFI_CLANG",
        renamed: &[],
        moved: &[],
    },
    SeriesRow {
        since: (6, 12),
        cfi: "CONFIG_CFI_CLANG",
        renamed: &[],
        moved: &[],
    },
    SeriesRow {
        since: (7, 1),
        cfi: "CONFIG_CFI",
        renamed: &[CFI_RENAMED],
        moved: X86_VDSO64,
    },
];

/// The Kconfig files read for symbols and renames, relative to the tree
/// (those that are absent are skipped).
pub const KCONFIG_FILES: &[&str] = &[
    "arch/Kconfig",
    "init/Kconfig",
    "arch/x86/Kconfig",
    "arch/arm64/Kconfig",
    "lib/Kconfig.debug",
];

/// Every name a kernel series has given kCFI's symbol, newest first.
pub fn cfi_symbols() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for row in TABLE.iter().rev() {
        if !out.contains(&row.cfi) {
            out.push(row.cfi);
        }
    }
    out
}

/// `7.1.5` (or `7.1`, `6.13.0-rc3`) → `(7, 1)`.
pub fn version_pair(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split(['.', '-', '+']);
    let a = parts.next()?.parse().ok()?;
    let b = parts.next()?.parse().ok()?;
    Some((a, b))
}

/// The kernel version a `.config`'s header names
/// (`# Linux/x86 7.1.5 Kernel Configuration`).
pub fn config_version(config_text: &str) -> Option<String> {
    config_text.lines().take(10).find_map(|l| {
        let rest = l.trim().strip_prefix("# Linux/")?;
        let rest = rest.strip_suffix("Kernel Configuration")?;
        let version = rest.split_whitespace().nth(1)?;
        version_pair(version).map(|_| version.to_owned())
    })
}

/// One `config` entry of a Kconfig file, as far as the table needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KconfigSymbol {
    /// `transitional`: an old name kept only to be mapped onto a new one.
    pub transitional: bool,
    /// The first word of each `default` line (`default CFI_CLANG`).
    pub defaults: Vec<String>,
}

/// The `config` entries of a tree's Kconfig files (without `CONFIG_`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kconfig {
    pub symbols: BTreeMap<String, KconfigSymbol>,
}

impl Kconfig {
    /// Reads `config`/`menuconfig` entries and their `transitional` and
    /// `default` lines from Kconfig texts; anything else is ignored, so
    /// any text parses.
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Kconfig {
        let mut symbols: BTreeMap<String, KconfigSymbol> = BTreeMap::new();
        for text in texts {
            let mut current: Option<String> = None;
            for line in text.lines() {
                let t = line.trim();
                let mut words = t.split_whitespace();
                let first = words.next().unwrap_or("");
                match first {
                    "config" | "menuconfig" => {
                        current = words
                            .next()
                            .filter(|n| {
                                !n.is_empty()
                                    && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                            })
                            .map(str::to_owned);
                        if let Some(n) = &current {
                            symbols.entry(n.clone()).or_default();
                        }
                    }
                    "choice" | "endchoice" | "menu" | "endmenu" | "if" | "endif" | "source"
                    | "comment" | "mainmenu" => current = None,
                    "transitional" => {
                        if let Some(s) = current.as_ref().and_then(|n| symbols.get_mut(n)) {
                            s.transitional = true;
                        }
                    }
                    "default" => {
                        if let (Some(s), Some(w)) = (
                            current.as_ref().and_then(|n| symbols.get_mut(n)),
                            words.next(),
                        ) {
                            s.defaults.push(w.to_owned());
                        }
                    }
                    _ => {}
                }
            }
        }
        Kconfig { symbols }
    }

    /// Whether the tree defines `name` (without `CONFIG_`) as a real,
    /// non-transitional symbol.
    pub fn defines(&self, name: &str) -> bool {
        self.symbols.get(name).is_some_and(|s| !s.transitional)
    }

    /// Every transitional symbol with the symbol that takes it as its
    /// `default` (its new name), as `CONFIG_` names.
    pub fn renames(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (old, s) in &self.symbols {
            if !s.transitional {
                continue;
            }
            let new = self
                .symbols
                .iter()
                .find(|(_, n)| !n.transitional && n.defaults.iter().any(|d| d == old));
            if let Some((new, _)) = new {
                out.push((format!("CONFIG_{old}"), format!("CONFIG_{new}")));
            }
        }
        out
    }
}

/// How the kCFI symbol of a tree was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The tree's Kconfig defines it.
    Kconfig,
    /// The kernel's final `.config` has it (a kernel built elsewhere).
    Config,
    /// The table's row for the tree's series (no Kconfig was read, or it
    /// defines neither name).
    Table,
}

/// What a kernel tree (or a kernel built from one) names and where it puts
/// things: its row of [`TABLE`], corrected by its own Kconfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelSeries {
    /// `7.1`, from the version; empty when the version says nothing.
    pub series: String,
    /// The series of the table row that applies (`6.12` for a 6.15 tree).
    pub row: String,
    /// Whether the harness has a row for exactly this series.
    pub seen: bool,
    /// The symbol `cfi: on/off` sets (`CONFIG_CFI`, `CONFIG_CFI_CLANG`).
    pub cfi_symbol: String,
    pub cfi_basis: Basis,
    /// Old name → new name of every symbol this tree renamed.
    pub renamed: Vec<(String, String)>,
    #[serde(skip)]
    row_index: usize,
}

impl KernelSeries {
    /// The series of a kernel `version` (`VERSION.PATCHLEVEL…`), corrected
    /// by its tree's `kconfig` when it was read. A version older than every
    /// row takes the oldest row, one the table does not parse the newest.
    pub fn resolve(version: &str, kconfig: Option<&Kconfig>) -> KernelSeries {
        let pair = version_pair(version);
        let row_index = match pair {
            Some(p) => TABLE.iter().rposition(|r| r.since <= p).unwrap_or(0),
            None => TABLE.len() - 1,
        };
        let row = &TABLE[row_index];
        let cfi_from_kconfig = kconfig.and_then(|k| {
            cfi_symbols()
                .into_iter()
                .find(|s| k.defines(s.trim_start_matches("CONFIG_")))
        });
        let (cfi_symbol, cfi_basis) = match cfi_from_kconfig {
            Some(s) => (s.to_owned(), Basis::Kconfig),
            None => (row.cfi.to_owned(), Basis::Table),
        };
        let mut renamed: Vec<(String, String)> = match kconfig {
            // The tree says which of its symbols are transitional.
            Some(k) if cfi_basis == Basis::Kconfig => k.renames(),
            _ => row
                .renamed
                .iter()
                .map(|r| (r.old.to_owned(), r.new.to_owned()))
                .collect(),
        };
        renamed.sort();
        renamed.dedup();
        KernelSeries {
            series: pair.map_or(String::new(), |(a, b)| format!("{a}.{b}")),
            row: format!("{}.{}", row.since.0, row.since.1),
            seen: pair.is_some_and(|p| TABLE.iter().any(|r| r.since == p)),
            cfi_symbol,
            cfi_basis,
            renamed,
            row_index,
        }
    }

    /// The series of a kernel known only by its final `.config` (built
    /// elsewhere): the version its header names, and the names it uses
    /// itself: a `.config` that mentions `CONFIG_CFI` has that symbol and
    /// every rename of the table whose new name it mentions, whatever its
    /// version's row says.
    pub fn of_config(config_text: &str) -> KernelSeries {
        // No version in it: the oldest row, unless the names it uses say more.
        let version = config_version(config_text).unwrap_or_else(|| {
            let (a, b) = TABLE[0].since;
            format!("{a}.{b}")
        });
        let mut series = KernelSeries::resolve(&version, None);
        if config_version(config_text).is_none() {
            series.series.clear();
            series.seen = false;
        }
        let mentioned: Vec<&str> = config_text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let sym = match l.strip_prefix("# ") {
                    Some(r) => r.strip_suffix(" is not set")?,
                    None => l.split_once('=')?.0,
                };
                sym.starts_with("CONFIG_").then_some(sym)
            })
            .collect();
        if let Some(s) = cfi_symbols().into_iter().find(|s| mentioned.contains(s)) {
            series.cfi_symbol = s.to_owned();
            series.cfi_basis = Basis::Config;
        }
        series.renamed = TABLE
            .iter()
            .flat_map(|r| r.renamed)
            .filter(|r| mentioned.contains(&r.new) && !mentioned.contains(&r.old))
            .map(|r| (r.old.to_owned(), r.new.to_owned()))
            .collect();
        series.renamed.sort();
        series.renamed.dedup();
        series
    }

    /// The row of [`TABLE`] that applies.
    pub fn row(&self) -> &'static SeriesRow {
        &TABLE[self.row_index.min(TABLE.len() - 1)]
    }

    /// The new name of `symbol` when this tree renamed it (it is then a
    /// transitional symbol that the final `.config` never has).
    pub fn renamed_to(&self, symbol: &str) -> Option<&str> {
        self.renamed
            .iter()
            .find(|(old, _)| old == symbol)
            .map(|(_, new)| new.as_str())
    }

    /// Where `path` (an arch profile's path, relative to the `O=` dir) is
    /// to be looked for in a build of this series: this series' place
    /// first, then every other place a known series put it (a tree
    /// between rows, or newer than all, builds it at one of them).
    pub fn artefact_paths(&self, arch: Arch, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let moved_here = self
            .row()
            .moved
            .iter()
            .find(|m| m.arch == arch && m.from == path);
        if let Some(m) = moved_here {
            out.push(m.to.to_owned());
        }
        out.push(path.to_owned());
        for row in TABLE {
            for m in row.moved {
                if m.arch == arch && m.from == path && !out.iter().any(|p| p == m.to) {
                    out.push(m.to.to_owned());
                }
            }
        }
        out
    }

    /// The path of `path` in a build of this series (the first of
    /// [`KernelSeries::artefact_paths`]).
    pub fn artefact(&self, arch: Arch, path: &str) -> String {
        self.artefact_paths(arch, path)
            .into_iter()
            .next()
            .unwrap_or_else(|| path.to_owned())
    }

    /// How the kCFI symbol was found, for messages.
    pub fn describe_cfi(&self) -> String {
        let basis = match self.cfi_basis {
            Basis::Kconfig => "the tree's Kconfig defines it".to_owned(),
            Basis::Config => "the kernel's .config has it".to_owned(),
            Basis::Table if self.seen => format!("Linux {}", self.series),
            Basis::Table => format!(
                "the table's row for Linux {} (Linux {} is a series the harness has not seen)",
                self.row, self.series
            ),
        };
        format!("{} ({basis})", self.cfi_symbol)
    }
}

/// What a final `.config` says of kCFI, under whichever name its series
/// gives the symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfiConfig {
    /// The name the .config uses (or, when it mentions none, the name of
    /// its series).
    pub symbol: String,
    pub on: bool,
}

/// kCFI in a parsed `.config` (`CONFIG_X` → value): on when any of its
/// series' names is `y`. The symbol named is the one that is `y`, else the
/// one the .config mentions, else the one of `version`'s series (the
/// oldest name when there is no version).
pub fn cfi_config(config: &BTreeMap<String, String>, version: Option<&str>) -> CfiConfig {
    let names = cfi_symbols();
    let on = names
        .iter()
        .find(|s| config.get(**s).is_some_and(|v| v == "y"));
    if let Some(s) = on {
        return CfiConfig {
            symbol: (*s).to_owned(),
            on: true,
        };
    }
    let symbol = names
        .iter()
        .find(|s| config.contains_key(**s))
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| match version {
            Some(v) => KernelSeries::resolve(v, None).cfi_symbol,
            // No series to ask: the name kCFI had first.
            None => names
                .last()
                .copied()
                .unwrap_or("CONFIG_CFI_CLANG")
                .to_owned(),
        });
    CfiConfig { symbol, on: false }
}

/// Whether any name of kCFI's symbol is `y` in a `.config`'s text.
pub fn cfi_on_in_text(config_text: &str) -> bool {
    let names = cfi_symbols();
    config_text.lines().any(|l| {
        l.trim()
            .split_once('=')
            .is_some_and(|(k, v)| v == "y" && names.contains(&k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KCONFIG_7_1: &str = "\
config ARCH_SUPPORTS_CFI
\tbool

config CFI
\tbool \"Use Kernel Control Flow Integrity (kCFI)\"
\tdefault CFI_CLANG
\tdepends on ARCH_SUPPORTS_CFI
\tdepends on $(cc-option,-fsanitize=kcfi)
\thelp
\t  This option enables forward-edge Control Flow Integrity (CFI)

config CFI_CLANG
\tbool
\ttransitional
\thelp
\t  Transitional config for CFI_CLANG to CFI migration.

config CFI_PERMISSIVE
\tbool \"Use CFI in permissive mode\"
\tdepends on CFI
";

    const KCONFIG_6_12: &str = "\
config ARCH_SUPPORTS_CFI_CLANG
\tbool

config CFI_CLANG
\tbool \"Use Kernel Control Flow Integrity (kCFI)\"
\tdepends on ARCH_SUPPORTS_CFI_CLANG
\tdepends on $(cc-option,-fsanitize=kcfi)

config CFI_PERMISSIVE
\tbool \"Use CFI in permissive mode\"
\tdepends on CFI_CLANG
";

    #[test]
    fn the_table_is_in_order_and_every_move_is_of_a_profile_path() {
        assert!(TABLE.windows(2).all(|w| w[0].since < w[1].since));
        for row in TABLE {
            assert!(row.cfi.starts_with("CONFIG_"));
            for r in row.renamed {
                assert_ne!(r.old, r.new);
            }
            for m in row.moved {
                let p = m.arch.profile();
                assert!(
                    p.vdso_image == m.from || p.non_lto_objects.contains(&m.from),
                    "{} is no path of the {} profile",
                    m.from,
                    p.name
                );
            }
        }
        assert_eq!(cfi_symbols(), vec!["CONFIG_CFI", "CONFIG_CFI_CLANG"]);
    }

    #[test]
    fn versions_and_config_headers_are_read() {
        assert_eq!(version_pair("7.1.5"), Some((7, 1)));
        assert_eq!(version_pair("6.13.0-rc3"), Some((6, 13)));
        assert_eq!(version_pair("7"), None);
        assert_eq!(version_pair("x.y"), None);
        assert_eq!(version_pair(""), None);
        let cfg = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 7.1.5 Kernel Configuration\n#\nCONFIG_CC_IS_CLANG=y\n";
        assert_eq!(config_version(cfg).as_deref(), Some("7.1.5"));
        assert_eq!(
            config_version("# Linux/arm64 6.12.117 Kernel Configuration\n").as_deref(),
            Some("6.12.117")
        );
        assert_eq!(config_version("CONFIG_A=y\n"), None);
        assert_eq!(config_version("# Linux/ Kernel Configuration"), None);
    }

    #[test]
    fn kconfig_says_which_symbol_is_real_and_which_transitional() {
        let k = Kconfig::parse([KCONFIG_7_1]);
        assert!(k.defines("CFI"));
        assert!(!k.defines("CFI_CLANG"));
        assert!(k.symbols["CFI_CLANG"].transitional);
        assert_eq!(
            k.renames(),
            vec![("CONFIG_CFI_CLANG".to_owned(), "CONFIG_CFI".to_owned())]
        );
        let old = Kconfig::parse([KCONFIG_6_12]);
        assert!(old.defines("CFI_CLANG") && !old.defines("CFI"));
        assert!(old.renames().is_empty());
        // Any text parses.
        for junk in [
            "",
            "config",
            "config \u{0}\ntransitional\ndefault",
            "\u{feff}if\n",
        ] {
            let _ = Kconfig::parse([junk]).renames();
        }
    }

    #[test]
    fn each_seen_series_gets_its_row() {
        let s = KernelSeries::resolve("6.12.117", None);
        assert_eq!(
            (s.series.as_str(), s.row.as_str(), s.seen),
            ("6.12", "6.12", true)
        );
        assert_eq!(s.cfi_symbol, "CONFIG_CFI_CLANG");
        assert!(s.renamed.is_empty());
        let s = KernelSeries::resolve("6.1.192", None);
        assert_eq!(
            (s.row.as_str(), s.cfi_symbol.as_str()),
            ("6.1", "CONFIG_CFI_CLANG")
        );
        let s = KernelSeries::resolve("7.1.5", None);
        assert_eq!((s.row.as_str(), s.seen), ("7.1", true));
        assert_eq!(s.cfi_symbol, "CONFIG_CFI");
        assert_eq!(s.renamed_to("CONFIG_CFI_CLANG"), Some("CONFIG_CFI"));
        assert_eq!(s.renamed_to("CONFIG_CFI"), None);
        // From the tree's own Kconfig, the same answers.
        let k = KernelSeries::resolve("7.1.5", Some(&Kconfig::parse([KCONFIG_7_1])));
        assert_eq!(
            (k.cfi_symbol.as_str(), k.cfi_basis),
            ("CONFIG_CFI", Basis::Kconfig)
        );
        assert_eq!(k.renamed, s.renamed);
        let k = KernelSeries::resolve("6.12.117", Some(&Kconfig::parse([KCONFIG_6_12])));
        assert_eq!(k.cfi_symbol, "CONFIG_CFI_CLANG");
        assert!(k.renamed.is_empty());
    }

    #[test]
    fn an_unseen_tree_is_read_from_its_kconfig() {
        // A newer 7.x keeps 7.1's row and its own Kconfig's names.
        let k = KernelSeries::resolve("7.4.0", Some(&Kconfig::parse([KCONFIG_7_1])));
        assert_eq!(
            (k.series.as_str(), k.row.as_str(), k.seen),
            ("7.4", "7.1", false)
        );
        assert_eq!(k.cfi_symbol, "CONFIG_CFI");
        assert!(k.describe_cfi().contains("Kconfig"), "{}", k.describe_cfi());
        // A 6.x between rows that already renamed the symbol: its Kconfig wins.
        let k = KernelSeries::resolve("6.18.0", Some(&Kconfig::parse([KCONFIG_7_1])));
        assert_eq!(k.row, "6.12");
        assert_eq!(k.cfi_symbol, "CONFIG_CFI");
        assert_eq!(k.renamed_to("CONFIG_CFI_CLANG"), Some("CONFIG_CFI"));
        // Kconfig that names neither: the row's.
        let k = KernelSeries::resolve("6.15.0", Some(&Kconfig::parse(["config FOO\n"])));
        assert_eq!(
            (k.cfi_symbol.as_str(), k.cfi_basis),
            ("CONFIG_CFI_CLANG", Basis::Table)
        );
        assert!(
            k.describe_cfi().contains("not seen"),
            "{}",
            k.describe_cfi()
        );
        // No version at all: the newest row, never a panic.
        let k = KernelSeries::resolve("", None);
        assert_eq!(k.row, "7.1");
        assert!(!k.seen);
        let k = KernelSeries::resolve("5.10.0", None);
        assert_eq!(k.row, "6.1");
    }

    #[test]
    fn a_kernel_built_elsewhere_is_known_by_its_config() {
        let s = KernelSeries::of_config("# Linux/x86 7.1.5 Kernel Configuration\nCONFIG_CFI=y\n");
        assert_eq!(
            (s.series.as_str(), s.cfi_symbol.as_str()),
            ("7.1", "CONFIG_CFI")
        );
        assert_eq!(s.renamed_to("CONFIG_CFI_CLANG"), Some("CONFIG_CFI"));
        // No header: the names it uses.
        let s = KernelSeries::of_config("CONFIG_LTO_CLANG_THIN=y\nCONFIG_CFI_CLANG=y\n");
        assert_eq!(
            (s.cfi_symbol.as_str(), s.cfi_basis),
            ("CONFIG_CFI_CLANG", Basis::Config)
        );
        assert!(s.renamed.is_empty());
        let s = KernelSeries::of_config("# CONFIG_CFI is not set\n");
        assert_eq!(s.cfi_symbol, "CONFIG_CFI");
        assert_eq!(s.renamed_to("CONFIG_CFI_CLANG"), Some("CONFIG_CFI"));
        // A 6.12 kernel's header and names agree.
        let s = KernelSeries::of_config(
            "# Linux/arm64 6.12.117 Kernel Configuration\n# CONFIG_CFI_CLANG is not set\n",
        );
        assert_eq!(
            (s.row.as_str(), s.cfi_symbol.as_str()),
            ("6.12", "CONFIG_CFI_CLANG")
        );
        let _ = KernelSeries::of_config("\u{0}=\n# \n=");
        // Nothing to go by (a GCC kernel's .config without its header): the oldest names.
        let s = KernelSeries::of_config("CONFIG_CC_IS_GCC=y\n");
        assert_eq!((s.cfi_symbol.as_str(), s.seen), ("CONFIG_CFI_CLANG", false));
        let c = cfi_config(&BTreeMap::new(), None);
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI_CLANG", false));
    }

    #[test]
    fn artefacts_are_where_their_series_puts_them() {
        let x86 = Arch::X86_64.profile();
        let old = KernelSeries::resolve("6.12.117", None);
        let new = KernelSeries::resolve("7.1.5", None);
        assert_eq!(old.artefact(Arch::X86_64, x86.vdso_image), x86.vdso_image);
        assert_eq!(
            new.artefact(Arch::X86_64, x86.vdso_image),
            "arch/x86/entry/vdso/vdso64/vdso64.so.dbg"
        );
        // Either series still looks at the other's place second.
        assert_eq!(
            old.artefact_paths(Arch::X86_64, x86.vdso_image),
            vec![
                x86.vdso_image.to_owned(),
                "arch/x86/entry/vdso/vdso64/vdso64.so.dbg".to_owned()
            ]
        );
        assert_eq!(
            new.artefact_paths(Arch::X86_64, x86.vdso_image),
            vec![
                "arch/x86/entry/vdso/vdso64/vdso64.so.dbg".to_owned(),
                x86.vdso_image.to_owned()
            ]
        );
        assert_eq!(
            new.artefact(Arch::X86_64, "arch/x86/entry/vdso/vgetcpu.o"),
            "arch/x86/entry/vdso/vdso64/vgetcpu.o"
        );
        // arm64 did not move.
        let arm = Arch::Arm64.profile();
        assert_eq!(
            new.artefact_paths(Arch::Arm64, arm.vdso_image),
            vec![arm.vdso_image.to_owned()]
        );
        assert_eq!(
            new.artefact(Arch::X86_64, "scripts/mod/empty.o"),
            "scripts/mod/empty.o"
        );
    }

    #[test]
    fn cfi_is_read_from_a_config_under_either_name() {
        let map = |t: &str| -> BTreeMap<String, String> {
            t.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        let c = cfi_config(&map("CONFIG_CFI=y\n"), Some("7.1.5"));
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI", true));
        let c = cfi_config(&map("CONFIG_CFI_CLANG=y\n"), None);
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI_CLANG", true));
        let c = cfi_config(&map("CONFIG_CFI_CLANG=n\n"), Some("7.1.5"));
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI_CLANG", false));
        // Neither mentioned (a GCC kernel): the name of its series.
        let c = cfi_config(&map("CONFIG_CC_IS_GCC=y\n"), Some("6.1.192"));
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI_CLANG", false));
        let c = cfi_config(&map("CONFIG_CC_IS_GCC=y\n"), Some("7.1.5"));
        assert_eq!((c.symbol.as_str(), c.on), ("CONFIG_CFI", false));
        assert!(cfi_on_in_text("CONFIG_A=y\nCONFIG_CFI=y\n"));
        assert!(cfi_on_in_text("CONFIG_CFI_CLANG=y\n"));
        assert!(!cfi_on_in_text(
            "# CONFIG_CFI is not set\nCONFIG_CFI_PERMISSIVE=y\n"
        ));
    }
}
