//! The host tools: which clang/lld the kernel is built with (from the
//! `LLVM=` spelling kbuild understands: `1`, a version suffix like `-19`,
//! or a prefix directory), what they can do (kCFI per target), and a
//! lookup for every other tool that names the Debian package to install
//! when it is missing.

use crate::model::Arch;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A tool the harness needs, with the Debian package that provides it.
pub fn require(tool: &str, package: &str) -> Result<PathBuf> {
    find_in_path(tool).with_context(|| {
        format!(
            "`{tool}` not found in PATH: install the Debian package `{package}` (or run ci/setup)"
        )
    })
}

pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return is_executable(&p).then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The LLVM toolchain a kernel is built with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Toolchain {
    /// The value passed as `make LLVM=...`.
    pub llvm: String,
    pub clang: PathBuf,
    pub ld_lld: PathBuf,
    /// `llvm-nm` of the same LLVM (reads bitcode objects, which GNU nm
    /// cannot): the build stage lists each object's initcalls with it.
    pub llvm_nm: PathBuf,
    /// First line of `clang --version`, e.g. "Debian clang version 19.1.7 (3~deb12u1)".
    pub version: String,
}

impl Toolchain {
    /// Resolves the tools that `make LLVM=<llvm>` will use and checks they exist.
    pub fn detect(llvm: &str) -> Result<Toolchain> {
        let (clang, ld_lld, llvm_nm, packages) = tool_names(llvm)?;
        let clang = require(&clang, &packages)?;
        let ld_lld = require(&ld_lld, &packages)?;
        let llvm_nm = require(&llvm_nm, &packages)?;
        let out = Command::new(&clang)
            .arg("--version")
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("running {} --version", clang.display()))?;
        let version = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        if version.is_empty() {
            bail!("{} --version printed nothing", clang.display());
        }
        Ok(Toolchain {
            llvm: llvm.to_owned(),
            clang,
            ld_lld,
            llvm_nm,
            version,
        })
    }

    /// Every toolchain of a matrix (`make LLVM=` spellings), detected; two
    /// that are the same clang version are refused, since their results
    /// could not be told apart.
    pub fn detect_all(llvms: &[String]) -> Result<Vec<Toolchain>> {
        if llvms.is_empty() {
            bail!("no toolchain: give --llvm at least one value");
        }
        let mut out: Vec<Toolchain> = Vec::new();
        for l in llvms {
            let t = Toolchain::detect(l)?;
            if let Some(same) = out.iter().find(|o| o.label() == t.label()) {
                bail!(
                    "LLVM={} and LLVM={} are both {} ({}): name each toolchain once",
                    same.llvm,
                    t.llvm,
                    t.label(),
                    t.version
                );
            }
            out.push(t);
        }
        Ok(out)
    }

    /// The clang major version from `clang --version`'s first line.
    pub fn major(&self) -> Option<u32> {
        major_version(&self.version)
    }

    /// The short name results use for this toolchain: `clang-22` (from
    /// `LLVM=-22` itself, else from the clang's version).
    pub fn label(&self) -> String {
        if let Some(l) = spelled_label(&self.llvm) {
            return l;
        }
        match self.major() {
            Some(m) => format!("clang-{m}"),
            // A name that is safe as a directory name.
            None => format!("llvm{}", self.llvm)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
        }
    }

    /// Whether this clang accepts `-fsanitize=kcfi` for `arch` (what the
    /// kernel's CFI_CLANG needs): a real compile of an empty file. The
    /// error carries clang's own words.
    pub fn check_kcfi(&self, arch: Arch) -> Result<(), String> {
        let out = Command::new(&self.clang)
            .arg(format!("--target={}", arch.profile().clang_target))
            .args(["-fsanitize=kcfi", "-x", "c", "-c", "-o", "/dev/null", "-"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.clang.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

/// The label `LLVM=-22` gives without running anything (`clang-22`);
/// None for `1` and prefix directories, whose version only clang knows.
pub fn spelled_label(llvm: &str) -> Option<String> {
    let ver = llvm.strip_prefix('-')?;
    (!ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit())).then(|| format!("clang-{ver}"))
}

/// `clang version 22.1.8 (…)` → 22: the number after the word `version`.
pub fn major_version(version_line: &str) -> Option<u32> {
    let mut words = version_line.split_whitespace();
    words.find(|w| *w == "version")?;
    words.next()?.split('.').next()?.parse().ok()
}

/// `make LLVM=<llvm>`'s clang, ld.lld and llvm-nm, and the Debian
/// packages that provide them.
pub fn tool_names(llvm: &str) -> Result<(String, String, String, String)> {
    if llvm == "1" {
        return Ok((
            "clang".into(),
            "ld.lld".into(),
            "llvm-nm".into(),
            "clang lld llvm".into(),
        ));
    }
    if let Some(ver) = llvm.strip_prefix('-') {
        if ver.is_empty() || !ver.chars().all(|c| c.is_ascii_digit()) {
            bail!("LLVM={llvm}: a suffix must be `-<major version>`, e.g. `-19`");
        }
        return Ok((
            format!("clang{llvm}"),
            format!("ld.lld{llvm}"),
            format!("llvm-nm{llvm}"),
            format!("clang-{ver} lld-{ver} llvm-{ver}"),
        ));
    }
    if llvm.ends_with('/') {
        return Ok((
            format!("{llvm}clang"),
            format!("{llvm}ld.lld"),
            format!("{llvm}llvm-nm"),
            "clang lld llvm (or the toolchain installed at that prefix)".into(),
        ));
    }
    bail!("LLVM={llvm}: expected `1`, a version suffix such as `-19`, or a directory ending in `/`")
}

/// A compiler cache put in front of clang (`make CC="ccache clang-19"`), so
/// kernel compiles are shared between builds and, through the tool's own
/// configuration (`CCACHE_DIR` on shared storage, sccache's remote
/// backends), between machines.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum CcWrapper {
    Ccache,
    Sccache,
}

/// What the compiler cache did during one build (deltas of its counters;
/// builds running at the same time on one cache are counted together).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CcWrapperStats {
    pub tool: String,
    pub hits: u64,
    pub misses: u64,
}

impl CcWrapper {
    pub fn tool(self) -> &'static str {
        match self {
            CcWrapper::Ccache => "ccache",
            CcWrapper::Sccache => "sccache",
        }
    }

    /// Where to get it.
    pub fn package(self) -> &'static str {
        match self {
            CcWrapper::Ccache => "the Debian package `ccache`",
            CcWrapper::Sccache => "`cargo install sccache` (not packaged in Debian 12)",
        }
    }

    pub fn require(self) -> Result<()> {
        if find_in_path(self.tool()).is_none() {
            anyhow::bail!(
                "--cc-wrapper {}: `{}` not found: install {}",
                self.tool(),
                self.tool(),
                self.package()
            );
        }
        Ok(())
    }

    /// The cache's counters now: (hits, misses).
    pub fn counters(self) -> Result<(u64, u64)> {
        let out = match self {
            CcWrapper::Ccache => Command::new("ccache").arg("--print-stats").output(),
            CcWrapper::Sccache => Command::new("sccache")
                .args(["--show-stats", "--stats-format", "json"])
                .output(),
        }
        .with_context(|| format!("running {}", self.tool()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match self {
            CcWrapper::Ccache => Ok(parse_ccache_stats(&text)),
            CcWrapper::Sccache => parse_sccache_stats(&text),
        }
    }
}

/// `ccache --print-stats`: tab-separated `name\tvalue` lines.
pub fn parse_ccache_stats(text: &str) -> (u64, u64) {
    let get = |name: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        get("direct_cache_hit") + get("preprocessed_cache_hit"),
        get("cache_miss"),
    )
}

/// `sccache --show-stats --stats-format json`: counts per language.
pub fn parse_sccache_stats(text: &str) -> Result<(u64, u64)> {
    let v: serde_json::Value =
        serde_json::from_str(text).context("sccache printed no JSON stats")?;
    let sum = |key: &str| -> u64 {
        v["stats"][key]["counts"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|x| x.as_u64()).sum())
    };
    Ok((sum("cache_hits"), sum("cache_misses")))
}

#[cfg(test)]
mod tests {
    /// What the tests that run the real clang-19 need.
    const CLANG_19: [crate::host::needs::Need; 2] = [
        crate::host::needs::Need::Tool {
            tool: "clang-19",
            package: "clang-19",
        },
        crate::host::needs::Need::Tool {
            tool: "ld.lld-19",
            package: "lld-19",
        },
    ];

    #[test]
    fn compiler_cache_counters_parse() {
        let ccache =
            "cache_miss\t7\ndirect_cache_hit\t30\npreprocessed_cache_hit\t2\nfiles_in_cache\t99\n";
        assert_eq!(parse_ccache_stats(ccache), (32, 7));
        let sccache = r#"{"stats":{"cache_hits":{"counts":{"C/C++":40,"Rust":2}},"cache_misses":{"counts":{"C/C++":5}}}}"#;
        assert_eq!(parse_sccache_stats(sccache).unwrap(), (42, 5));
        assert!(parse_sccache_stats("not json").is_err());
    }
    use super::*;

    #[test]
    fn llvm_spellings_map_to_kbuild_tool_names() {
        let (c, l, nm, p) = tool_names("-19").unwrap();
        assert_eq!(
            (c.as_str(), l.as_str(), nm.as_str()),
            ("clang-19", "ld.lld-19", "llvm-nm-19")
        );
        assert!(p.contains("clang-19"));
        assert_eq!(tool_names("1").unwrap().0, "clang");
        assert_eq!(
            tool_names("/usr/lib/llvm-19/bin/").unwrap().0,
            "/usr/lib/llvm-19/bin/clang"
        );
        assert!(tool_names("-x").is_err());
        assert!(tool_names("yes").is_err());
    }

    #[test]
    fn kcfi_probe_accepts_both_arches_with_clang_19() {
        if !crate::host::needs::met("kcfi_probe_accepts_both_arches_with_clang_19", &CLANG_19) {
            return;
        }
        let tc = Toolchain::detect("-19").expect("clang-19 installed (ci/setup)");
        for arch in Arch::ALL {
            assert_eq!(tc.check_kcfi(arch), Ok(()), "{arch}");
        }
    }

    #[test]
    fn clang_versions_give_labels() {
        assert_eq!(
            major_version("Debian clang version 22.1.8 (++20250101-1~deb12u1)"),
            Some(22)
        );
        assert_eq!(major_version("clang version 16.0.6"), Some(16));
        assert_eq!(major_version("Homebrew clang"), None);
        assert_eq!(major_version("clang version x.y"), None);
        let t = |v: &str| Toolchain {
            llvm: "-19".into(),
            clang: "clang-19".into(),
            ld_lld: "ld.lld-19".into(),
            llvm_nm: "llvm-nm-19".into(),
            version: v.into(),
        };
        assert_eq!(
            t("Debian clang version 19.1.7 (3~deb12u1)").label(),
            "clang-19"
        );
        assert_eq!(t("something else").label(), "clang-19");
        let mut p = t("clang version 18.1.8");
        p.llvm = "/opt/llvm/bin/".into();
        assert_eq!(p.label(), "clang-18");
        p.version = "mystery".into();
        assert_eq!(p.label(), "llvm_opt_llvm_bin_");
        assert_eq!(spelled_label("-16").as_deref(), Some("clang-16"));
        assert_eq!(spelled_label("1"), None);
    }

    #[test]
    fn a_matrix_refuses_one_toolchain_twice() {
        if !crate::host::needs::met("a_matrix_refuses_one_toolchain_twice", &CLANG_19) {
            return;
        }
        let e = Toolchain::detect_all(&["-19".into(), "/usr/lib/llvm-19/bin/".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("both clang-19"), "{e}");
        assert!(Toolchain::detect_all(&[]).is_err());
    }

    #[test]
    fn missing_tool_names_its_package() {
        let e = require("no-such-tool-lto-harness", "some-package").unwrap_err();
        assert!(e.to_string().contains("some-package"), "{e}");
        let e = Toolchain::detect("-999").unwrap_err();
        assert!(e.to_string().contains("clang-999"), "{e}");
    }
}
