//! One case file's text to a [`Case`]: serde-saphyr reads it into the
//! private [`CaseFile`] (unknown keys rejected, every field's span kept),
//! then one function per field group validates it. Each returns a
//! [`CaseError::At`] at the offending field, so an error reads
//! `file:line:column: field: what is wrong`. [`Case::parse`] runs them in a
//! fixed order: the first invalid field is the one reported.

use super::name::{valid_name, NAME_RULE};
use super::yaml::{read, At};
use super::{
    Case, CaseError, CfiExpect, CheckKind, GoldenRef, ModuleSpec, DEFAULT_BASE,
    DEFAULT_TIMEOUT_SECS, KUNIT_SYMBOL,
};
use crate::model::{Arch, Lto, Switch};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `- test_module` or `- {name: test_module, init_message: ..., exit_message: ...}`.
/// (Its name shows in serde's error for an entry that is neither.)
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

/// The file as written. Private: [`Case`] is what the rest of the harness
/// sees. The field order is the one serde lists for an unknown key.
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
    make_vars: BTreeMap<String, Spanned<String>>,
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
    #[serde(default)]
    kunit: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

impl Case {
    /// Parses `text` as if read from `path` (fragments resolve relative to it).
    pub fn parse(path: &Path, text: &str) -> Result<Case, CaseError> {
        let raw: CaseFile = read(path, "case file", text)?;
        let at = At { file: path };
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = name(&at, path, raw.name.as_ref())?;
        let (base, base_config) = base(&at, dir, raw.base.as_ref())?;
        let fragments = fragments(&at, dir, &raw.fragments)?;
        let mut config = config(&at, &raw.config)?;
        let kunit = kunit(&at, raw.kunit.as_ref(), &mut config)?;
        let make_vars = make_vars(&at, &raw.make_vars)?;
        let timeout_secs = timeout(&at, raw.timeout.as_ref())?;
        let modules = modules(&at, &raw.modules)?;
        let checks = checks(&at, &raw, !modules.is_empty())?;
        let golden = golden(&at, dir, raw.golden.as_ref())?;
        let cfi_expect = cfi_expect(&at, raw.arch, &raw.cfi_expect)?;
        arch_supports(&at, raw.arch, raw.lto, &raw.cfi)?;
        Ok(Case {
            name,
            description: raw.description,
            file: path.to_owned(),
            arch: raw.arch,
            lto: raw.lto,
            cfi: raw.cfi.value,
            base,
            base_config,
            fragments,
            config,
            make_vars,
            cmdline: raw.cmdline,
            timeout_secs,
            modules,
            checks,
            golden,
            cfi_expect,
            tags: raw.tags,
            init_commands: raw.init_commands,
            kunit,
            variant: None,
            not_judged: vec![],
        })
    }
}

/// `name:`, else the file's stem; either way a name by [`valid_name`]
/// (it becomes the case's results directory). A `name:` that is not one
/// is located at the field; a file name that is not one is named.
fn name(at: &At, path: &Path, name: Option<&Spanned<String>>) -> Result<String, CaseError> {
    match name {
        Some(n) if !valid_name(&n.value) => Err(at.field(
            n,
            format!("name: `{}` must be {NAME_RULE}", n.value.escape_debug()),
        )),
        Some(n) => Ok(n.value.clone()),
        None => {
            let stem = path.file_stem().map(|s| s.to_string_lossy());
            match stem.as_deref() {
                Some(s) if valid_name(s) => Ok(s.to_owned()),
                s => Err(CaseError::File {
                    file: path.to_owned(),
                    message: format!(
                        "name: the case has no `name:`, so its name is the file's, `{}`, which \
                         must be {NAME_RULE}: rename the file or add a `name:`",
                        s.unwrap_or_default().escape_debug()
                    ),
                }),
            }
        }
    }
}

/// `base:`, a kconfig make target, or a config file (a path with a `/`
/// or ending in `.config`, resolved against the case's directory, e.g. a
/// distro's `config-6.12.x-amd64`); [`DEFAULT_BASE`] when absent.
fn base(
    at: &At,
    dir: &Path,
    base: Option<&Spanned<String>>,
) -> Result<(String, Option<PathBuf>), CaseError> {
    let Some(b) = base else {
        return Ok((DEFAULT_BASE.to_owned(), None));
    };
    if b.value.contains('/') || b.value.ends_with(".config") {
        let p = dir.join(&b.value);
        if !p.is_file() {
            return Err(at.field(
                b,
                format!(
                    "base: no such config file `{}` (resolved to {})",
                    b.value,
                    p.display()
                ),
            ));
        }
        return Ok((b.value.clone(), Some(p)));
    }
    if !(b.value.ends_with("config") && symbol_chars(&b.value)) {
        return Err(at.field(
            b,
            format!(
                "base: expected a kconfig make target such as `tinyconfig` or `defconfig`, \
                 or a config file (a path with a `/`), found `{}`",
                b.value
            ),
        ));
    }
    Ok((b.value.clone(), None))
}

/// `fragments:`, resolved against the case's directory; each must exist.
fn fragments(
    at: &At,
    dir: &Path,
    fragments: &[Spanned<String>],
) -> Result<Vec<PathBuf>, CaseError> {
    fragments
        .iter()
        .map(|f| {
            let p = dir.join(&f.value);
            if !p.is_file() {
                return Err(at.field(
                    f,
                    format!(
                        "fragments: no such file `{}` (resolved to {})",
                        f.value,
                        p.display()
                    ),
                ));
            }
            Ok(p)
        })
        .collect()
}

/// `config:`, whose keys must be `CONFIG_` symbols (located at the value).
fn config(
    at: &At,
    config: &BTreeMap<String, Spanned<String>>,
) -> Result<BTreeMap<String, String>, CaseError> {
    let mut out = BTreeMap::new();
    for (k, v) in config {
        let symbol = k.strip_prefix("CONFIG_").is_some_and(symbol_chars);
        if !symbol {
            return Err(at.field(v, format!("config: key `{k}` is not a CONFIG_ symbol")));
        }
        out.insert(k.clone(), v.value.clone());
    }
    Ok(out)
}

/// `kunit:`, KUnit suite names (letters, digits, `_`, `-`, as the suite's
/// `.name`) to the `CONFIG_` symbols that build them, located at the
/// value. [`KUNIT_SYMBOL`] and every symbol go into `config` as `y`, to be
/// merged and verified with the rest; `config:` asking otherwise for one
/// of them is an error. Empty when absent; when present it names a suite.
fn kunit(
    at: &At,
    kunit: Option<&Spanned<BTreeMap<String, Spanned<String>>>>,
    config: &mut BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CaseError> {
    let Some(k) = kunit else {
        return Ok(BTreeMap::new());
    };
    if k.value.is_empty() {
        return Err(at.field(
            k,
            "kunit: names no suite; expected `suite: CONFIG_SYMBOL` entries, \
             e.g. `list_sort: CONFIG_TEST_LIST_SORT`"
                .into(),
        ));
    }
    let conflict = |sym: &str| {
        config.get(sym).filter(|v| v.as_str() != "y").map(|v| {
            format!("`config:` sets {sym} to `{v}`, but KUnit suites run at boot only built in (y)")
        })
    };
    if let Some(why) = conflict(KUNIT_SYMBOL) {
        return Err(at.field(k, format!("kunit: {why}")));
    }
    let mut out = BTreeMap::new();
    for (suite, sym) in &k.value {
        let suite_ok = !suite.is_empty()
            && suite
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !suite_ok {
            return Err(at.field(
                sym,
                format!("kunit: `{suite}` is not a KUnit suite name (letters, digits, `_`, `-`)"),
            ));
        }
        let sym_ok = sym.value.strip_prefix("CONFIG_").is_some_and(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        if !sym_ok {
            return Err(at.field(
                sym,
                format!(
                    "kunit: `{suite}`: `{}` is not a CONFIG_ symbol (`CONFIG_` and upper-case \
                     letters, digits, `_`): name the Kconfig symbol that builds the suite, \
                     e.g. CONFIG_TEST_LIST_SORT",
                    sym.value
                ),
            ));
        }
        if let Some(why) = conflict(&sym.value) {
            return Err(at.field(sym, format!("kunit: `{suite}`: {why}")));
        }
        out.insert(suite.clone(), sym.value.clone());
    }
    config.insert(KUNIT_SYMBOL.to_owned(), "y".to_owned());
    for sym in out.values() {
        config.insert(sym.clone(), "y".to_owned());
    }
    Ok(out)
}

/// `make_vars:`: make variable names (letters, digits, `_`, `.`, `-`, not
/// starting with a digit or `-`) to one-line values; located at the value.
fn make_vars(
    at: &At,
    vars: &BTreeMap<String, Spanned<String>>,
) -> Result<BTreeMap<String, String>, CaseError> {
    let name_ok = |k: &str| {
        k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        if !name_ok(k) {
            return Err(at.field(v, format!("make_vars: `{k}` is not a make variable name")));
        }
        if v.value.contains(['\n', '\r']) {
            return Err(at.field(v, format!("make_vars: `{k}`'s value is more than one line")));
        }
        out.insert(k.clone(), v.value.clone());
    }
    Ok(out)
}

/// `timeout:` in seconds, more than 0; [`DEFAULT_TIMEOUT_SECS`] when absent.
fn timeout(at: &At, timeout: Option<&Spanned<u64>>) -> Result<u64, CaseError> {
    match timeout {
        Some(t) if t.value == 0 => {
            Err(at.field(t, "timeout: expected seconds greater than 0".into()))
        }
        Some(t) => Ok(t.value),
        None => Ok(DEFAULT_TIMEOUT_SECS),
    }
}

/// `modules:`, names as in /proc/modules (dashes become underscores); an
/// empty message is no message.
fn modules(at: &At, modules: &[Spanned<ModuleEntry>]) -> Result<Vec<ModuleSpec>, CaseError> {
    modules
        .iter()
        .map(|m| {
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
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if spec.name.is_empty() || !spec.name.chars().all(valid) {
                return Err(at.field(m, format!("modules: `{}` is not a module name", spec.name)));
            }
            Ok(ModuleSpec {
                name: spec.name.replace('-', "_"),
                ..spec
            })
        })
        .collect()
}

/// `checks:`, after the boot check that is always there, without repeats;
/// each check's prerequisites must be in the file (`modules` needs
/// modules, `initcalls` needs `initcall_debug` and a golden, `kunit` its
/// suites), and suites under `kunit:` need the `kunit` check.
fn checks(at: &At, raw: &CaseFile, has_modules: bool) -> Result<Vec<CheckKind>, CaseError> {
    let mut checks = vec![CheckKind::Boot];
    let listed = |k: CheckKind| raw.checks.as_ref().is_some_and(|c| c.value.contains(&k));
    if let Some(k) = raw.kunit.as_ref().filter(|_| !listed(CheckKind::Kunit)) {
        return Err(at.field(
            k,
            "kunit: names suites, but `checks:` does not list `kunit`: add it, or they are built and never judged".into(),
        ));
    }
    let Some(c) = &raw.checks else {
        return Ok(checks);
    };
    for k in &c.value {
        if !checks.contains(k) {
            checks.push(*k);
        }
    }
    let needs = |message: &str| Err(at.field(c, message.into()));
    if checks.contains(&CheckKind::Kunit) && raw.kunit.is_none() {
        return needs("checks: `kunit` needs `kunit:`, the suites to run (`suite: CONFIG_SYMBOL`, e.g. `list_sort: CONFIG_TEST_LIST_SORT`)");
    }
    if checks.contains(&CheckKind::Modules) && !has_modules {
        return needs("checks: `modules` needs at least one entry under `modules:`");
    }
    for k in [
        CheckKind::LtoIdentity,
        CheckKind::ModuleSections,
        CheckKind::Modversions,
        CheckKind::Ftrace,
    ] {
        if checks.contains(&k) && !has_modules {
            return needs(&format!(
                "checks: `{}` needs at least one entry under `modules:` (it inspects a module)",
                k.name()
            ));
        }
    }
    if checks.contains(&CheckKind::Initcalls) {
        if !raw.cmdline.iter().any(|w| w == "initcall_debug") {
            return needs("checks: `initcalls` needs `initcall_debug` in `cmdline:` (the boot order comes from its `calling` lines)");
        }
        if raw.golden.is_none() {
            return needs("checks: `initcalls` needs `golden: <family>` (the file golden/<family>.initcalls next to the case)");
        }
    }
    Ok(checks)
}

/// `golden:`, a family name whose file is `golden/<family>.initcalls` next
/// to the case (not required to exist: `bless` writes it).
fn golden(
    at: &At,
    dir: &Path,
    golden: Option<&Spanned<String>>,
) -> Result<Option<GoldenRef>, CaseError> {
    let Some(g) = golden else {
        return Ok(None);
    };
    if !valid_name(&g.value) {
        return Err(at.field(
            g,
            format!(
                "golden: `{}` must be a family name ({NAME_RULE}), e.g. `x86_64-tiny`",
                g.value
            ),
        ));
    }
    Ok(Some(GoldenRef {
        family: g.value.clone(),
        path: dir.join("golden").join(format!("{}.initcalls", g.value)),
    }))
}

/// `cfi_expect:`, keyed by the lkdtm CFI tests the harness runs on `arch`.
fn cfi_expect(
    at: &At,
    arch: Arch,
    cfi_expect: &BTreeMap<String, Spanned<CfiExpect>>,
) -> Result<BTreeMap<String, CfiExpect>, CaseError> {
    let tests = arch.profile().cfi_tests;
    let mut out = BTreeMap::new();
    for (test, e) in cfi_expect {
        if !tests.iter().any(|t| t.name == test) {
            let known: Vec<&str> = tests.iter().map(|t| t.name).collect();
            return Err(at.field(
                e,
                format!(
                    "cfi_expect: `{test}` is not an lkdtm CFI test the harness runs on {arch}; known: {}",
                    known.join(", ")
                ),
            ));
        }
        out.insert(test.clone(), e.value);
    }
    Ok(out)
}

/// kCFI and LTO only where the architecture's profile supports them. (LTO
/// is not spanned: its error names the file only.)
fn arch_supports(at: &At, arch: Arch, lto: Lto, cfi: &Spanned<Switch>) -> Result<(), CaseError> {
    if cfi.value.is_on() && !arch.profile().supports_cfi {
        return Err(at.field(cfi, format!("cfi: kCFI is not supported on {arch}")));
    }
    if lto != Lto::None && !arch.profile().supports_lto {
        return Err(CaseError::File {
            file: at.file.to_owned(),
            message: format!("lto: Clang LTO is not supported on {arch}"),
        });
    }
    Ok(())
}

/// Letters, digits and `_`, as in kconfig symbols and make targets.
fn symbol_chars(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    fn base_is_a_make_target_or_a_config_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("configs")).unwrap();
        std::fs::write(d.path().join("configs/debian.config"), "CONFIG_X86_64=y\n").unwrap();
        let at = |text: &str| Case::parse(&d.path().join("c.yaml"), text);
        let c = at("arch: x86_64\nlto: full\ncfi: on\nbase: configs/debian.config\n").unwrap();
        assert_eq!(c.base, "configs/debian.config");
        assert_eq!(
            c.base_config.as_deref(),
            Some(d.path().join("configs/debian.config").as_path())
        );
        let e = at("arch: x86_64\nlto: full\ncfi: on\nbase: configs/nope.config\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.yaml:4:") && e.contains("no such config file"),
            "{e}"
        );
        assert_eq!(
            parse("arch: x86_64\nlto: none\ncfi: off\nbase: defconfig\n")
                .unwrap()
                .base_config,
            None
        );
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
        let (line, _, msg) = err_at("arch: x86_64\nlto: none\ncfi: off\nmake_vars:\n  'A B': x\n");
        assert_eq!(line, 5);
        assert!(msg.contains("make_vars"), "{msg}");
    }

    #[test]
    fn make_vars_are_read() {
        let c = Case::parse(
            Path::new("/c/a.yaml"),
            "arch: arm64\nlto: thin\ncfi: on\nmake_vars:\n  CFLAGS_REMOVE_vdso.o: $(CC_FLAGS_LTO)\n",
        )
        .unwrap();
        assert_eq!(
            c.make_vars.get("CFLAGS_REMOVE_vdso.o").map(String::as_str),
            Some("$(CC_FLAGS_LTO)")
        );
    }

    const KUNIT: &str = "arch: x86_64\nlto: full\ncfi: on\nchecks: [cfi, kunit]\n\
                         config:\n  CONFIG_FOO: y\n\
                         kunit:\n  list_sort: CONFIG_TEST_LIST_SORT\n  lib_sort: CONFIG_TEST_SORT\n";

    #[test]
    fn kunit_suites_are_read_and_their_symbols_built_in() {
        let c = parse(KUNIT).unwrap();
        assert_eq!(
            c.checks,
            [CheckKind::Boot, CheckKind::Cfi, CheckKind::Kunit]
        );
        let suites: Vec<(&str, &str)> = c
            .kunit
            .iter()
            .map(|(s, k)| (s.as_str(), k.as_str()))
            .collect();
        assert_eq!(
            suites,
            [
                ("lib_sort", "CONFIG_TEST_SORT"),
                ("list_sort", "CONFIG_TEST_LIST_SORT")
            ]
        );
        let config: Vec<(&str, &str)> = c
            .config
            .iter()
            .map(|(s, v)| (s.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            config,
            [
                ("CONFIG_FOO", "y"),
                ("CONFIG_KUNIT", "y"),
                ("CONFIG_TEST_LIST_SORT", "y"),
                ("CONFIG_TEST_SORT", "y"),
            ]
        );
        // Saying `y` again in `config:` is no conflict; names may have `-`.
        let c = parse(
            &KUNIT
                .replace("CONFIG_FOO: y", "CONFIG_TEST_SORT: y")
                .replace("lib_sort:", "string-stream-test:"),
        )
        .unwrap();
        assert_eq!(c.kunit["string-stream-test"], "CONFIG_TEST_SORT");
        // Without `kunit:`, nothing is added.
        let c = parse("arch: x86_64\nlto: full\ncfi: on\nconfig:\n  CONFIG_FOO: y\n").unwrap();
        assert!(c.kunit.is_empty());
        assert_eq!(c.config.keys().collect::<Vec<_>>(), ["CONFIG_FOO"]);
    }

    #[test]
    fn kunit_errors_name_the_file_line_and_field() {
        let full = |text: &str| parse(text).unwrap_err().to_string();
        // A bad symbol, at its line (the 8th).
        let e = full(&KUNIT.replace("CONFIG_TEST_LIST_SORT", "TEST_LIST_SORT"));
        assert!(
            e.starts_with("/nonexistent/cases/x86_64-test.yaml:8:")
                && e.contains("kunit: `list_sort`: `TEST_LIST_SORT` is not a CONFIG_ symbol"),
            "{e}"
        );
        for bad in ["CONFIG_test_sort", "CONFIG_", "y", "CONFIG_TEST SORT"] {
            let (line, _, msg) = err_at(&KUNIT.replace("CONFIG_TEST_SORT", bad));
            assert_eq!(line, 9, "{bad}: {msg}");
            assert!(msg.starts_with("kunit: `lib_sort`:"), "{bad}: {msg}");
        }
        // A bad suite name, at its value.
        for bad in ["'lib sort'", "'lib.sort'", "'kunit/x'", "''"] {
            let (line, _, msg) = err_at(&KUNIT.replace("lib_sort:", &format!("{bad}:")));
            assert_eq!(line, 9, "{bad}: {msg}");
            assert!(msg.contains("is not a KUnit suite name"), "{bad}: {msg}");
        }
        // `config:` asking for a suite's symbol or KUnit as anything but y.
        let (line, _, msg) = err_at(&KUNIT.replace("CONFIG_FOO: y", "CONFIG_TEST_SORT: m"));
        assert_eq!(line, 9);
        assert!(msg.contains("sets CONFIG_TEST_SORT to `m`"), "{msg}");
        let (line, _, msg) = err_at(&KUNIT.replace("CONFIG_FOO: y", "CONFIG_KUNIT: n"));
        assert_eq!(line, 8);
        assert!(msg.contains("sets CONFIG_KUNIT to `n`"), "{msg}");
        // No suite at all (a map is located at its first entry, here its `{}`).
        let (line, _, msg) =
            err_at("arch: x86_64\nlto: full\ncfi: on\nchecks: [kunit]\nkunit: {}\n");
        assert_eq!(line, 5);
        assert!(msg.contains("kunit: names no suite"), "{msg}");
        // Not a map.
        let (line, _, _) =
            err_at("arch: x86_64\nlto: full\ncfi: on\nchecks: [kunit]\nkunit: [list_sort]\n");
        assert_eq!(line, 5);
        // The check without suites: at `checks:`, as `initcalls` without a golden.
        let (line, _, msg) = err_at("arch: x86_64\nlto: full\ncfi: on\nchecks: [cfi, kunit]\n");
        assert_eq!(line, 4);
        assert!(msg.starts_with("checks: `kunit` needs `kunit:`"), "{msg}");
        // Suites without the check: at `kunit:`, whether or not there is a `checks:`.
        let (line, _, msg) = err_at(&KUNIT.replace("checks: [cfi, kunit]", "checks: [cfi]"));
        assert_eq!(line, 8);
        assert!(msg.contains("`checks:` does not list `kunit`"), "{msg}");
        let (line, _, _) = err_at(&KUNIT.replace("checks: [cfi, kunit]\n", ""));
        assert_eq!(line, 7);
    }

    /// A case's name is its results directory: `.`, `..` and anything
    /// outside the name rule are refused, from `name:` (at its line) and
    /// from the file's name alike.
    #[test]
    fn dot_and_unsafe_names_are_refused_from_the_field_and_the_file_name() {
        for bad in [
            "'..'",
            "'.'",
            "'a b'",
            "'$(reboot)'",
            "'<script>'",
            "\"it's\"",
            "''",
        ] {
            let (line, col, msg) =
                err_at(&format!("name: {bad}\narch: x86_64\nlto: none\ncfi: off\n"));
            assert_eq!((line, col), (1, 7), "{bad}: {msg}");
            assert!(
                msg.starts_with("name: `") && msg.contains("not `.` or `..`"),
                "{bad}: {msg}"
            );
        }
        let body = "arch: x86_64\nlto: none\ncfi: off\n";
        for stem in ["..", ".", "a b", "$(reboot)", "<script>", "it's"] {
            let file = PathBuf::from(format!("/nonexistent/cases/{stem}.yaml"));
            let e = Case::parse(&file, body).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "{}: name: the case has no `name:`",
                    file.display()
                )) && e.contains("rename the file or add a `name:`"),
                "{stem}: {e}"
            );
            // With a good `name:`, the file's name does not matter.
            let c = Case::parse(&file, &format!("name: ok\n{body}")).unwrap();
            assert_eq!(c.name, "ok");
        }
        // Dots inside a name are still fine.
        let c = Case::parse(Path::new("/c/v6.1...yaml"), body).unwrap();
        assert_eq!(c.name, "v6.1..");
    }

    /// A case file past the YAML reader's limits is said to be too large
    /// or too deep, with the limit, not as "budget breached: Nodes {..}".
    #[test]
    fn an_oversized_or_too_deep_case_file_says_so_with_the_limit() {
        let many = format!(
            "arch: x86_64\nlto: none\ncfi: off\ntags: [{}]\n",
            "a,".repeat(300_000)
        );
        let e = parse(&many).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/cases/x86_64-test.yaml")
                && e.contains("the case file is too large: more than 250000 YAML nodes")
                && !e.contains("budget breached"),
            "{e}"
        );
        let deep = format!(
            "arch: x86_64\nlto: none\ncfi: off\nmodules: {}{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        let e = parse(&deep).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/cases/x86_64-test.yaml")
                && e.contains("the case file is nested too deeply: more than 64 levels")
                && !e.contains("budget breached"),
            "{e}"
        );
    }

    /// A file bigger than any case file is refused before it is parsed.
    #[test]
    fn a_case_file_over_a_mebibyte_is_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("big.yaml");
        let mut text = "arch: x86_64\nlto: none\ncfi: off\n".to_owned();
        text.push_str(&"# padding\n".repeat(120_000));
        std::fs::write(&f, &text).unwrap();
        let e = Case::load(&f).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: the case file is too large: {} bytes, more than the 1024 KiB a case file may have",
                f.display(),
                text.len()
            )
        );
    }

    #[test]
    fn broken_yaml_is_located() {
        let (line, _, _) = err_at("arch: x86_64\nlto: [none\ncfi: off\n");
        assert!(line >= 2);
    }
}
