//! Config: the base config (tinyconfig by default), then the harness
//! fragment, the arch's serial fragment, the case's fragments, its inline
//! symbols and the LTO/CFI symbols, merged with the kernel's own
//! `scripts/kconfig/merge_config.sh`, then `olddefconfig`; and the check
//! that every requested symbol survived into the final `.config` (kconfig
//! silently drops symbols whose dependencies are not met).

use crate::case::Case;
use crate::kseries::KernelSeries;
use crate::model::Lto;
use std::collections::BTreeMap;
use std::fmt;

/// The harness's own fragment, embedded so the binary works anywhere.
pub const HARNESS_FRAGMENT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cases/fragments/harness.config"
));

/// A requested value: `y`, `m`, `n` (not set), or a literal (`"str"`, `42`).
pub type Requested = BTreeMap<String, String>;

/// Parses a kconfig fragment or `.config`: `CONFIG_X=v` lines and
/// `# CONFIG_X is not set` (as `n`). Later lines win.
pub fn parse_config(text: &str) -> Requested {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                if sym.starts_with("CONFIG_") {
                    out.insert(sym.to_owned(), "n".to_owned());
                }
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("CONFIG_") {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    out
}

/// The symbols that select a case's LTO mode and CFI setting, under the
/// names `series` uses (`CONFIG_CFI_CLANG` until 7.x, `CONFIG_CFI` since).
pub fn lto_cfi_fragment(case: &Case, series: &KernelSeries) -> String {
    let cfi = series.cfi_symbol.as_str();
    let mut s = String::from("# lto-harness: LTO and CFI for this case\n");
    let (none, thin, full) = match case.lto {
        Lto::None => ("y", "n", "n"),
        Lto::Thin => ("n", "y", "n"),
        Lto::Full => ("n", "n", "y"),
    };
    for (sym, v) in [
        ("CONFIG_LTO_NONE", none),
        ("CONFIG_LTO_CLANG_THIN", thin),
        ("CONFIG_LTO_CLANG_FULL", full),
    ] {
        s.push_str(&render(sym, v));
    }
    if case.cfi.is_on() {
        s.push_str(&render(cfi, "y"));
        // A permissive CFI kernel warns instead of trapping: never what a CFI case means.
        s.push_str(&render("CONFIG_CFI_PERMISSIVE", "n"));
    } else {
        s.push_str(&render(cfi, "n"));
    }
    s
}

/// The case's inline `config:` map as a fragment.
pub fn inline_fragment(case: &Case) -> String {
    let mut s = String::from("# lto-harness: inline config from the case file\n");
    for (k, v) in &case.config {
        s.push_str(&render(k, v));
    }
    s
}

fn render(sym: &str, v: &str) -> String {
    if v == "n" {
        format!("# {sym} is not set\n")
    } else {
        format!("{sym}={v}\n")
    }
}

/// A requested symbol whose final value differs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigMismatch {
    pub symbol: String,
    pub requested: String,
    /// `None`: the symbol is absent from the final .config.
    pub actual: Option<String>,
    /// The symbol's new name, when the tree renamed it (`actual` is then
    /// the new symbol's value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
}

impl fmt::Display for ConfigMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(new) = &self.renamed_to {
            return write!(
                f,
                "{} requested {} but {new}, its new name in this tree, is {}",
                self.symbol,
                self.requested,
                self.actual.as_deref().unwrap_or("missing")
            );
        }
        match &self.actual {
            Some(a) => write!(
                f,
                "{} requested {} but is {}",
                self.symbol, self.requested, a
            ),
            None => write!(
                f,
                "{} requested {} but is missing",
                self.symbol, self.requested
            ),
        }
    }
}

/// Every requested symbol that did not make it into `final_config` with its
/// requested value. Requesting `n` is satisfied by "is not set" or absence.
pub fn verify(requested: &Requested, final_config: &str) -> Vec<ConfigMismatch> {
    verify_renamed(requested, final_config, &[]).mismatches
}

/// What [`verify_renamed`] found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verified {
    /// Requested symbols whose final value differs.
    pub mismatches: Vec<ConfigMismatch>,
    /// Requests of an old (transitional) name satisfied by its new name,
    /// each said in a sentence.
    pub through_renames: Vec<String>,
}

/// [`verify`], knowing the tree's renamed symbols (old name → new name): a
/// requested old name, which `olddefconfig` maps onto the new one and then
/// drops, is judged by the new symbol's value, and when that satisfies the
/// request it is said so in `through_renames`.
pub fn verify_renamed(
    requested: &Requested,
    final_config: &str,
    renamed: &[(String, String)],
) -> Verified {
    let actual = parse_config(final_config);
    let satisfies = |want: &str, got: Option<&str>| match (want, got) {
        ("n", None) | ("n", Some("n")) => true,
        (w, Some(g)) => w == g,
        (_, None) => false,
    };
    let mut out = Verified::default();
    for (sym, want) in requested {
        let got = actual.get(sym);
        let new = renamed
            .iter()
            .find(|(old, _)| old == sym)
            .map(|(_, new)| new);
        match (got, new) {
            (None, Some(new)) => {
                let got_new = actual.get(new);
                if satisfies(want, got_new.map(String::as_str)) {
                    let value = match got_new.map(String::as_str) {
                        None | Some("n") => "not set".to_owned(),
                        Some(v) => format!("={v}"),
                    };
                    out.through_renames.push(format!(
                        "{sym}={want} requested: satisfied by {new}{}{value}, its new name                          ({sym} is a transitional symbol in this tree: olddefconfig maps it                          onto {new} and drops it from .config)",
                        if value.starts_with('=') { "" } else { " " }
                    ));
                } else {
                    out.mismatches.push(ConfigMismatch {
                        symbol: sym.clone(),
                        requested: want.clone(),
                        actual: got_new.cloned(),
                        renamed_to: Some(new.clone()),
                    });
                }
            }
            _ => {
                if !satisfies(want, got.map(String::as_str)) {
                    out.mismatches.push(ConfigMismatch {
                        symbol: sym.clone(),
                        requested: want.clone(),
                        actual: got.cloned(),
                        renamed_to: None,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_set_unset_and_ignores_comments() {
        let c = parse_config(
            "CONFIG_A=y\n# CONFIG_B is not set\n# comment\nCONFIG_C=\"x y\"\nCONFIG_A=m\nFOO=1\n",
        );
        assert_eq!(c["CONFIG_A"], "m");
        assert_eq!(c["CONFIG_B"], "n");
        assert_eq!(c["CONFIG_C"], "\"x y\"");
        assert!(!c.contains_key("FOO"));
    }

    #[test]
    fn verify_names_each_dropped_or_changed_symbol() {
        let requested = parse_config("CONFIG_LKDTM=m\nCONFIG_TEST_LKM=m\nCONFIG_PRINTK=y\n# CONFIG_X is not set\nCONFIG_NR=4\n");
        let final_cfg = "CONFIG_PRINTK=y\nCONFIG_TEST_LKM=y\nCONFIG_NR=4\n";
        let m = verify(&requested, final_cfg);
        assert_eq!(
            m,
            vec![
                ConfigMismatch {
                    symbol: "CONFIG_LKDTM".into(),
                    requested: "m".into(),
                    actual: None,
                    renamed_to: None,
                },
                ConfigMismatch {
                    symbol: "CONFIG_TEST_LKM".into(),
                    requested: "m".into(),
                    actual: Some("y".into()),
                    renamed_to: None,
                },
            ]
        );
        assert_eq!(m[0].to_string(), "CONFIG_LKDTM requested m but is missing");
        assert!(verify(
            &requested,
            "CONFIG_LKDTM=m\nCONFIG_TEST_LKM=m\nCONFIG_PRINTK=y\nCONFIG_NR=4\n"
        )
        .is_empty());
        // `n` requested but set is a mismatch.
        assert_eq!(
            verify(&requested, "CONFIG_X=y\n")
                .iter()
                .filter(|m| m.symbol == "CONFIG_X")
                .count(),
            1
        );
    }

    #[test]
    fn lto_fragment_selects_exactly_one_mode() {
        let case =
            Case::parse(Path::new("/x/c.yaml"), "arch: arm64\nlto: thin\ncfi: on\n").unwrap();
        let f = parse_config(&lto_cfi_fragment(
            &case,
            &KernelSeries::resolve("6.12.117", None),
        ));
        assert_eq!(f["CONFIG_LTO_CLANG_THIN"], "y");
        assert_eq!(f["CONFIG_LTO_CLANG_FULL"], "n");
        assert_eq!(f["CONFIG_LTO_NONE"], "n");
        assert_eq!(f["CONFIG_CFI_CLANG"], "y");
        assert_eq!(f["CONFIG_CFI_PERMISSIVE"], "n");
    }

    #[test]
    fn the_cfi_symbol_is_the_one_the_series_uses() {
        let on = Case::parse(Path::new("/x/c.yaml"), "arch: x86_64\nlto: full\ncfi: on\n").unwrap();
        let off = Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: full\ncfi: off\n",
        )
        .unwrap();
        let s71 = KernelSeries::resolve("7.1.5", None);
        let f = parse_config(&lto_cfi_fragment(&on, &s71));
        assert_eq!(f["CONFIG_CFI"], "y");
        assert_eq!(f["CONFIG_CFI_PERMISSIVE"], "n");
        assert!(!f.contains_key("CONFIG_CFI_CLANG"));
        let f = parse_config(&lto_cfi_fragment(&off, &s71));
        assert_eq!(f["CONFIG_CFI"], "n");
        assert!(!f.contains_key("CONFIG_CFI_CLANG"));
        // 6.12's fragment is byte for byte what it was (its config key too).
        assert_eq!(
            lto_cfi_fragment(&on, &KernelSeries::resolve("6.12.117", None)),
            "# lto-harness: LTO and CFI for this case\n# CONFIG_LTO_NONE is not set\n\
             # CONFIG_LTO_CLANG_THIN is not set\nCONFIG_LTO_CLANG_FULL=y\n\
             CONFIG_CFI_CLANG=y\n# CONFIG_CFI_PERMISSIVE is not set\n"
        );
    }

    #[test]
    fn a_request_of_a_renamed_symbol_is_satisfied_through_its_new_name() {
        let renamed = vec![("CONFIG_CFI_CLANG".to_owned(), "CONFIG_CFI".to_owned())];
        let requested = parse_config("CONFIG_CFI_CLANG=y\nCONFIG_LKDTM=m\n");
        let final_71 = "CONFIG_CFI=y\nCONFIG_LKDTM=m\n";
        // Without the rename: the report the 7.1 user met.
        assert_eq!(
            verify(&requested, final_71)[0].to_string(),
            "CONFIG_CFI_CLANG requested y but is missing"
        );
        let v = verify_renamed(&requested, final_71, &renamed);
        assert!(v.mismatches.is_empty(), "{v:?}");
        assert_eq!(v.through_renames.len(), 1);
        assert!(
            v.through_renames[0].starts_with(
                "CONFIG_CFI_CLANG=y requested: satisfied by CONFIG_CFI=y, its new name"
            ),
            "{}",
            v.through_renames[0]
        );
        // The new name off: the mismatch names it.
        let v = verify_renamed(
            &requested,
            "# CONFIG_CFI is not set\nCONFIG_LKDTM=m\n",
            &renamed,
        );
        assert_eq!(v.mismatches.len(), 1);
        assert_eq!(
            v.mismatches[0].to_string(),
            "CONFIG_CFI_CLANG requested y but CONFIG_CFI, its new name in this tree, is n"
        );
        let v = verify_renamed(&requested, "CONFIG_LKDTM=m\n", &renamed);
        assert_eq!(
            v.mismatches[0].to_string(),
            "CONFIG_CFI_CLANG requested y but CONFIG_CFI, its new name in this tree, is missing"
        );
        // `n` of the old name: satisfied when the new one is off, not when on.
        let off = parse_config("# CONFIG_CFI_CLANG is not set\n");
        let v = verify_renamed(&off, "# CONFIG_CFI is not set\n", &renamed);
        assert!(v.mismatches.is_empty());
        assert!(v.through_renames[0].contains("CONFIG_CFI not set"), "{v:?}");
        assert_eq!(
            verify_renamed(&off, "CONFIG_CFI=y\n", &renamed)
                .mismatches
                .len(),
            1
        );
        // A tree that still has the old name judges it directly.
        let v = verify_renamed(&requested, "CONFIG_CFI_CLANG=y\nCONFIG_LKDTM=m\n", &renamed);
        assert!(v.mismatches.is_empty() && v.through_renames.is_empty());
    }

    #[test]
    fn harness_fragment_keeps_the_test_modules_reachable() {
        let f = parse_config(HARNESS_FRAGMENT);
        assert_eq!(f["CONFIG_RUNTIME_TESTING_MENU"], "y");
        assert_eq!(f["CONFIG_LKDTM"], "m");
        assert_eq!(f["CONFIG_TEST_LKM"], "m");
        assert_eq!(f["CONFIG_MODULE_UNLOAD"], "y");
    }
}
