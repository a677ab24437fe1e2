//! Cases: the YAML files under `cases/` that say what kernel to build, how
//! to boot it and what to check. Parsed with serde-saphyr into typed
//! structs with unknown keys rejected; every error names the file, line and
//! column and what was expected.

use crate::model::{Arch, Lto, Switch};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Boot => "boot",
            CheckKind::Initcalls => "initcalls",
            CheckKind::Cfi => "cfi",
            CheckKind::Modules => "modules",
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

/// `- test_module` or `- {name: test_module, init_message: ..., exit_message: ...}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ModuleEntry {
    Name(String),
    Full(ModuleFields),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleFields {
    name: String,
    #[serde(default)]
    init_message: Option<String>,
    #[serde(default)]
    exit_message: Option<String>,
}

/// The file as written. Private: [`Case`] is what the rest of the harness sees.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    name: Option<Spanned<String>>,
    description: Option<String>,
    arch: Arch,
    lto: Lto,
    cfi: Spanned<Switch>,
    #[serde(default)]
    base: Option<Spanned<String>>,
    #[serde(default)]
    fragments: Vec<Spanned<String>>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    cmdline: Vec<String>,
    #[serde(default)]
    timeout: Option<Spanned<u64>>,
    #[serde(default)]
    modules: Vec<Spanned<ModuleEntry>>,
    #[serde(default)]
    checks: Option<Spanned<Vec<CheckKind>>>,
    #[serde(default)]
    golden: Option<Spanned<String>>,
    #[serde(default)]
    cfi_expect: BTreeMap<String, Spanned<CfiExpect>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    init_commands: Vec<String>,
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
    /// The kconfig make target the config starts from (`tinyconfig`, `defconfig`, ...).
    pub base: String,
    /// Fragment files, resolved to absolute paths.
    pub fragments: Vec<PathBuf>,
    /// Inline config symbols: `CONFIG_FOO: y`.
    pub config: BTreeMap<String, String>,
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
}

/// Which golden a case's initcall order is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldenRef {
    /// The config family, e.g. `x86_64-tiny`; cases of one config with
    /// different LTO/CFI modes share it.
    pub family: String,
    pub path: PathBuf,
}

pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
pub const DEFAULT_BASE: &str = "tinyconfig";

/// A case file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{file}: cannot read: {error}")]
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
}

impl Case {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn wants(&self, check: CheckKind) -> bool {
        self.checks.contains(&check)
    }

    pub fn module_names(&self) -> Vec<&str> {
        self.modules.iter().map(|m| m.name.as_str()).collect()
    }

    /// The modules the guest needs: the listed ones, and lkdtm for the CFI tests.
    pub fn image_modules(&self) -> Vec<String> {
        let mut out: Vec<String> = self.modules.iter().map(|m| m.name.clone()).collect();
        if self.wants(CheckKind::Cfi) && !out.iter().any(|m| m == "lkdtm") {
            out.push("lkdtm".into());
        }
        out
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

    /// Parses and validates one case file.
    pub fn load(path: &Path) -> Result<Case, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|error| CaseError::Io {
            file: path.to_owned(),
            error,
        })?;
        Case::parse(path, &text)
    }

    /// Parses `text` as if read from `path` (fragments resolve relative to it).
    pub fn parse(path: &Path, text: &str) -> Result<Case, CaseError> {
        let file = path.to_owned();
        let raw: CaseFile = serde_saphyr::from_str(text).map_err(|e| {
            let message = first_line_of_error(&e);
            match e.location() {
                Some(loc) => CaseError::At {
                    file: file.clone(),
                    line: loc.line(),
                    column: loc.column(),
                    message,
                },
                None => CaseError::File {
                    file: file.clone(),
                    message,
                },
            }
        })?;
        let at = |loc: &serde_saphyr::Location, message: String| CaseError::At {
            file: file.clone(),
            line: loc.line(),
            column: loc.column(),
            message,
        };

        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("case")
            .to_owned();
        let name = match &raw.name {
            Some(n) => {
                if !valid_name(&n.value) {
                    return Err(at(
                        &n.referenced,
                        format!(
                            "name: `{}` must be letters, digits, `-`, `_` or `.`",
                            n.value
                        ),
                    ));
                }
                n.value.clone()
            }
            None => stem,
        };

        let base = match &raw.base {
            Some(b) => {
                if !(b.value.ends_with("config")
                    && b.value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'))
                {
                    return Err(at(
                        &b.referenced,
                        format!(
                            "base: expected a kconfig make target such as `tinyconfig` or `defconfig`, found `{}`",
                            b.value
                        ),
                    ));
                }
                b.value.clone()
            }
            None => DEFAULT_BASE.to_owned(),
        };

        let dir = path.parent().unwrap_or(Path::new("."));
        let mut fragments = Vec::new();
        for f in &raw.fragments {
            let p = dir.join(&f.value);
            if !p.is_file() {
                return Err(at(
                    &f.referenced,
                    format!(
                        "fragments: no such file `{}` (resolved to {})",
                        f.value,
                        p.display()
                    ),
                ));
            }
            fragments.push(p);
        }

        let mut config = BTreeMap::new();
        for (k, v) in &raw.config {
            if !k.starts_with("CONFIG_")
                || !k[7..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(at(
                    &v.referenced,
                    format!("config: key `{k}` is not a CONFIG_ symbol"),
                ));
            }
            config.insert(k.clone(), v.value.clone());
        }

        let timeout_secs = match &raw.timeout {
            Some(t) if t.value == 0 => {
                return Err(at(
                    &t.referenced,
                    "timeout: expected seconds greater than 0".into(),
                ))
            }
            Some(t) => t.value,
            None => DEFAULT_TIMEOUT_SECS,
        };

        let mut modules = Vec::new();
        for m in &raw.modules {
            let spec = match &m.value {
                ModuleEntry::Name(name) => ModuleSpec {
                    name: name.clone(),
                    init_message: None,
                    exit_message: None,
                },
                ModuleEntry::Full(f) => ModuleSpec {
                    name: f.name.clone(),
                    init_message: f.init_message.clone().filter(|s| !s.is_empty()),
                    exit_message: f.exit_message.clone().filter(|s| !s.is_empty()),
                },
            };
            if spec.name.is_empty()
                || !spec
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(at(
                    &m.referenced,
                    format!("modules: `{}` is not a module name", spec.name),
                ));
            }
            modules.push(ModuleSpec {
                name: spec.name.replace('-', "_"),
                ..spec
            });
        }

        let mut checks = vec![CheckKind::Boot];
        if let Some(c) = &raw.checks {
            for k in &c.value {
                if !checks.contains(k) {
                    checks.push(*k);
                }
            }
            if checks.contains(&CheckKind::Modules) && modules.is_empty() {
                return Err(at(
                    &c.referenced,
                    "checks: `modules` needs at least one entry under `modules:`".into(),
                ));
            }
            if checks.contains(&CheckKind::Initcalls)
                && !raw.cmdline.iter().any(|w| w == "initcall_debug")
            {
                return Err(at(
                    &c.referenced,
                    "checks: `initcalls` needs `initcall_debug` in `cmdline:` (the boot order comes from its `calling` lines)".into(),
                ));
            }
            if checks.contains(&CheckKind::Initcalls) && raw.golden.is_none() {
                return Err(at(
                    &c.referenced,
                    "checks: `initcalls` needs `golden: <family>` (the file golden/<family>.initcalls next to the case)".into(),
                ));
            }
        }
        let golden = match &raw.golden {
            Some(g) if !valid_name(&g.value) => {
                return Err(at(
                    &g.referenced,
                    format!(
                        "golden: `{}` must be a family name (letters, digits, `-`, `_`, `.`), e.g. `x86_64-tiny`",
                        g.value
                    ),
                ))
            }
            Some(g) => Some(GoldenRef {
                family: g.value.clone(),
                path: dir.join("golden").join(format!("{}.initcalls", g.value)),
            }),
            None => None,
        };
        let arch = raw.arch;
        let mut cfi_expect = BTreeMap::new();
        for (test, e) in &raw.cfi_expect {
            if !arch.profile().cfi_tests.iter().any(|t| t.name == test) {
                let known: Vec<&str> = arch.profile().cfi_tests.iter().map(|t| t.name).collect();
                return Err(at(
                    &e.referenced,
                    format!(
                        "cfi_expect: `{test}` is not an lkdtm CFI test the harness runs on {arch}; known: {}",
                        known.join(", ")
                    ),
                ));
            }
            cfi_expect.insert(test.clone(), e.value);
        }
        if raw.cfi.value.is_on() && !arch.profile().supports_cfi {
            return Err(at(
                &raw.cfi.referenced,
                format!("cfi: kCFI is not supported on {arch}"),
            ));
        }
        if raw.lto != Lto::None && !arch.profile().supports_lto {
            return Err(CaseError::File {
                file,
                message: format!("lto: Clang LTO is not supported on {arch}"),
            });
        }

        Ok(Case {
            name,
            description: raw.description,
            file: path.to_owned(),
            arch,
            lto: raw.lto,
            cfi: raw.cfi.value,
            base,
            fragments,
            config,
            cmdline: raw.cmdline,
            timeout_secs,
            modules,
            checks,
            golden,
            cfi_expect,
            tags: raw.tags,
            init_commands: raw.init_commands,
        })
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// serde-saphyr renders a snippet after the message; keep the message on one
/// line for our `file:line:col: message` format.
fn first_line_of_error(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let line = full.lines().next().unwrap_or("invalid case file").trim();
    // Drop a trailing " at line X column Y" that we print ourselves.
    match line.find(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

/// Loads every `*.yaml` directly under `dir`, sorted by name. Fails on the
/// first invalid file, and on two cases with the same name.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, CaseError> {
    let entries = std::fs::read_dir(dir).map_err(|error| CaseError::Io {
        file: dir.to_owned(),
        error,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut cases: Vec<Case> = Vec::new();
    for p in paths {
        let case = Case::load(&p)?;
        if let Some(other) = cases.iter().find(|c| c.name == case.name) {
            return Err(CaseError::File {
                file: p,
                message: format!(
                    "name `{}` is already used by {}",
                    case.name,
                    other.file.display()
                ),
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// Picks cases by name; with no names, every case not tagged `slow` (unless
/// `include_slow`). Naming a case always selects it.
pub fn select<'a>(
    all: &'a [Case],
    names: &[String],
    include_slow: bool,
) -> Result<Vec<&'a Case>, String> {
    if names.is_empty() {
        return Ok(all
            .iter()
            .filter(|c| include_slow || !c.has_tag("slow"))
            .collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|c| &c.name == n).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
                format!("no case named `{n}`; known cases: {}", known.join(", "))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Case, CaseError> {
        Case::parse(Path::new("/nonexistent/cases/x86_64-test.yaml"), text)
    }

    #[test]
    fn minimal_case_gets_defaults() {
        let c = parse("arch: x86_64\nlto: full\ncfi: on\n").unwrap();
        assert_eq!(c.name, "x86_64-test");
        assert_eq!(c.arch, Arch::X86_64);
        assert_eq!(c.lto, Lto::Full);
        assert_eq!(c.cfi, Switch::On);
        assert_eq!(c.base, "tinyconfig");
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert_eq!(c.checks, vec![CheckKind::Boot]);
    }

    #[test]
    fn full_case_parses_every_field() {
        let c = parse(
            "name: arm-full\narch: arm64\nlto: thin\ncfi: false\nbase: defconfig\n\
             config:\n  CONFIG_FOO: y\ncmdline: [initcall_debug]\ntimeout: 30\n\
             modules: [test-module, lkdtm]\nchecks: [modules]\ntags: [slow]\n\
             init_commands: ['echo hi']\n",
        )
        .unwrap();
        assert_eq!(c.name, "arm-full");
        assert_eq!(c.cfi, Switch::Off);
        assert_eq!(c.base, "defconfig");
        assert_eq!(c.config["CONFIG_FOO"], "y");
        assert_eq!(c.module_names(), vec!["test_module", "lkdtm"]);
        assert_eq!(c.checks, vec![CheckKind::Boot, CheckKind::Modules]);
        assert!(c.has_tag("slow"));
        assert_eq!(c.timeout_secs, 30);
    }

    fn err_at(text: &str) -> (u64, u64, String) {
        match parse(text).unwrap_err() {
            CaseError::At {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("expected a located error, got {other}"),
        }
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let (line, _, msg) = err_at("arch: x86_64\nlto: none\ncfi: off\nltoo: full\n");
        assert_eq!(line, 4);
        assert!(msg.contains("ltoo"), "{msg}");
    }

    #[test]
    fn bad_enum_value_names_line_column_and_expectation() {
        let (line, col, msg) = err_at("arch: x86_64\nlto: fat\ncfi: off\n");
        assert_eq!((line, col), (2, 6));
        assert!(msg.contains("fat") && msg.contains("thin"), "{msg}");
        let (line, _, msg) = err_at("arch: riscv\nlto: none\ncfi: off\n");
        assert_eq!(line, 1);
        assert!(msg.contains("riscv"), "{msg}");
        let (line, _, msg) = err_at("arch: x86_64\nlto: none\ncfi: maybe\n");
        assert_eq!(line, 3);
        assert!(msg.contains("on") && msg.contains("off"), "{msg}");
    }

    #[test]
    fn wrong_type_is_located() {
        let (line, _, _) = err_at("arch: x86_64\nlto: none\ncfi: off\ntimeout: soon\n");
        assert_eq!(line, 4);
    }

    #[test]
    fn missing_required_field_is_reported() {
        let e = parse("arch: x86_64\nlto: none\n").unwrap_err().to_string();
        assert!(e.contains("cfi"), "{e}");
        assert!(e.starts_with("/nonexistent/cases/x86_64-test.yaml"), "{e}");
    }

    #[test]
    fn semantic_errors_are_located() {
        let (line, _, msg) = err_at("arch: x86_64\nlto: none\ncfi: off\nchecks: [modules]\n");
        assert_eq!(line, 4);
        assert!(msg.contains("modules"), "{msg}");
        let (line, _, msg) =
            err_at("arch: x86_64\nlto: none\ncfi: off\nfragments: [nope.config]\n");
        assert_eq!(line, 4);
        assert!(msg.contains("nope.config"), "{msg}");
        let (line, _, _) = err_at("arch: x86_64\nlto: none\ncfi: off\ntimeout: 0\n");
        assert_eq!(line, 4);
        let (line, _, _) = err_at("arch: x86_64\nlto: none\ncfi: off\nconfig:\n  FOO: y\n");
        assert_eq!(line, 5);
        let (line, _, _) = err_at("arch: x86_64\nlto: none\ncfi: off\nbase: rm -rf\n");
        assert_eq!(line, 4);
    }

    #[test]
    fn broken_yaml_is_located() {
        let (line, _, _) = err_at("arch: x86_64\nlto: [none\ncfi: off\n");
        assert!(line >= 2);
    }

    #[test]
    fn selection_skips_slow_unless_asked_or_named() {
        let mk = |name: &str, slow: bool| {
            let mut c = parse("arch: x86_64\nlto: none\ncfi: off\n").unwrap();
            c.name = name.into();
            if slow {
                c.tags.push("slow".into());
            }
            c
        };
        let all = vec![mk("a", false), mk("b", true)];
        let names = |v: Vec<&Case>| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(select(&all, &[], false).unwrap()), ["a"]);
        assert_eq!(names(select(&all, &[], true).unwrap()), ["a", "b"]);
        assert_eq!(names(select(&all, &["b".into()], false).unwrap()), ["b"]);
        assert!(select(&all, &["zzz".into()], false)
            .unwrap_err()
            .contains("known cases: a, b"));
    }

    #[test]
    fn shipped_cases_all_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let cases = load_dir(&dir).unwrap();
        assert!(cases.len() >= 6, "{} cases", cases.len());
        for arch in Arch::ALL {
            for (lto, cfi) in [
                (Lto::None, Switch::Off),
                (Lto::Thin, Switch::On),
                (Lto::Full, Switch::On),
            ] {
                assert!(
                    cases.iter().any(|c| c.arch == arch
                        && c.lto == lto
                        && c.cfi == cfi
                        && !c.has_tag("slow")),
                    "missing {arch} {lto:?} {cfi:?}"
                );
            }
            assert!(cases.iter().any(|c| c.arch == arch
                && c.has_tag("slow")
                && c.base == "defconfig"
                && c.lto == Lto::Full));
        }
    }
}
