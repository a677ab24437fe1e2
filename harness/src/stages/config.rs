//! Config: the base config (tinyconfig by default), then the harness
//! fragment, the arch's serial fragment, the case's fragments, its inline
//! symbols and the LTO/CFI symbols, merged with the kernel's own
//! `scripts/kconfig/merge_config.sh`, then `olddefconfig`; and the check
//! that every requested symbol survived into the final `.config` (kconfig
//! silently drops symbols whose dependencies are not met).

use crate::case::Case;
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

/// The symbols that select a case's LTO mode and CFI setting.
pub fn lto_cfi_fragment(case: &Case) -> String {
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
        s.push_str(&render("CONFIG_CFI_CLANG", "y"));
        // A permissive CFI kernel warns instead of trapping: never what a CFI case means.
        s.push_str(&render("CONFIG_CFI_PERMISSIVE", "n"));
    } else {
        s.push_str(&render("CONFIG_CFI_CLANG", "n"));
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
}

impl fmt::Display for ConfigMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    let actual = parse_config(final_config);
    requested
        .iter()
        .filter_map(|(sym, want)| {
            let got = actual.get(sym);
            let ok = match (want.as_str(), got.map(String::as_str)) {
                ("n", None) | ("n", Some("n")) => true,
                (w, Some(g)) => w == g,
                (_, None) => false,
            };
            (!ok).then(|| ConfigMismatch {
                symbol: sym.clone(),
                requested: want.clone(),
                actual: got.cloned(),
            })
        })
        .collect()
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
                    actual: None
                },
                ConfigMismatch {
                    symbol: "CONFIG_TEST_LKM".into(),
                    requested: "m".into(),
                    actual: Some("y".into())
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
        let f = parse_config(&lto_cfi_fragment(&case));
        assert_eq!(f["CONFIG_LTO_CLANG_THIN"], "y");
        assert_eq!(f["CONFIG_LTO_CLANG_FULL"], "n");
        assert_eq!(f["CONFIG_LTO_NONE"], "n");
        assert_eq!(f["CONFIG_CFI_CLANG"], "y");
        assert_eq!(f["CONFIG_CFI_PERMISSIVE"], "n");
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
