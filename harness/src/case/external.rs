//! The case of a kernel built elsewhere when no case is named
//! (`run --kernel-build PATH`): made from the kernel's own .config. It
//! boots the kernel and calls the vDSO; every other check is listed as not
//! judged, with the reason: the LTO and kCFI checks do not apply to a
//! kernel without LTO or kCFI, initcall order needs a golden of the
//! kernel's config, and the module, ftrace, ORC and stack-protector checks
//! need the harness's test modules (lkdtm, test_module) that such a kernel
//! usually lacks. Naming a case instead judges the kernel as that case.

use super::{Case, CheckKind, DEFAULT_TIMEOUT_SECS};
use crate::kseries::{self, KernelSeries};
use crate::model::{Arch, Lto, Switch};
use std::path::Path;

/// The case for a kernel of `arch` built elsewhere, from its .config
/// (None when it came without one).
pub fn for_kernel_built_elsewhere(arch: Arch, config: Option<&str>, path: &Path) -> Case {
    let y = |sym: &str| config.is_some_and(|c| c.lines().any(|l| l.trim() == format!("{sym}=y")));
    let lto = if y("CONFIG_LTO_CLANG_FULL") {
        Lto::Full
    } else if y("CONFIG_LTO_CLANG_THIN") {
        Lto::Thin
    } else {
        Lto::None
    };
    // kCFI under whichever name the kernel's series gives its symbol.
    let series = config.map(KernelSeries::of_config);
    let cfi_sym = series
        .as_ref()
        .map_or("CONFIG_CFI_CLANG", |s| s.cfi_symbol.as_str());
    let cfi = if config.is_some_and(kseries::cfi_on_in_text) {
        Switch::On
    } else {
        Switch::Off
    };
    let compiler = if y("CONFIG_CC_IS_GCC") {
        "GCC-built"
    } else if y("CONFIG_CC_IS_CLANG") {
        "clang-built"
    } else {
        "compiler unknown"
    };
    let mut not_judged = vec![(
        CheckKind::Initcalls,
        "initcall order is judged against a golden of the kernel's config: name a case \
         with this kernel's config (`run CASE --kernel-build …`) or bless one"
            .to_owned(),
    )];
    let lto_why = match (config, lto) {
        (None, _) => "cannot tell whether LTO applies: no .config was given".to_owned(),
        (Some(_), Lto::None) => {
            format!("does not apply: not built with clang LTO (no CONFIG_LTO_CLANG; {compiler})")
        }
        (Some(_), _) => "judged only for a named case with this kernel's config and the \
                         harness's test modules (`run CASE --kernel-build …`)"
            .to_owned(),
    };
    for k in [
        CheckKind::Islands,
        CheckKind::LtoIdentity,
        CheckKind::ModuleSections,
        CheckKind::Hygiene,
    ] {
        not_judged.push((k, lto_why.clone()));
    }
    let cfi_why = match (config, cfi) {
        (None, _) => "cannot tell whether kCFI applies: no .config was given".to_owned(),
        (Some(_), Switch::Off) => {
            format!("does not apply: {cfi_sym} is not set ({compiler})")
        }
        (Some(_), Switch::On) => "judged only for a named case (lkdtm's CFI tests need \
                                  the harness's lkdtm.ko)"
            .to_owned(),
    };
    not_judged.push((CheckKind::Cfi, cfi_why));
    for k in [
        CheckKind::Modules,
        CheckKind::Modversions,
        CheckKind::Ftrace,
        CheckKind::Orc,
        CheckKind::StackProtector,
    ] {
        not_judged.push((
            k,
            "needs the harness's test modules (lkdtm, test_module), which a kernel built \
             elsewhere does not bring: name a case to judge it with them"
                .to_owned(),
        ));
    }
    Case {
        name: format!("external-{}", arch.name()),
        description: Some(format!("a kernel built elsewhere: {}", path.display())),
        file: path.to_owned(),
        arch,
        lto,
        cfi,
        base: "external".into(),
        base_config: None,
        fragments: vec![],
        config: Default::default(),
        make_vars: Default::default(),
        // A distro x86 kernel checks that the IO-APIC timer ticks during
        // boot; a TCG guest on a loaded host can miss that window and panic
        // ("IO-APIC + timer doesn't work!", seen here with load 7.5), as
        // cloud images do on slow hypervisors.
        cmdline: match arch {
            Arch::X86_64 => vec!["no_timer_check".into()],
            Arch::Arm64 => vec![],
        },
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        modules: vec![],
        checks: vec![CheckKind::Boot, CheckKind::Vdso],
        golden: None,
        cfi_expect: Default::default(),
        tags: vec![],
        init_commands: vec![],
        kunit: Default::default(),
        variant: None,
        not_judged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcfi_is_seen_under_either_name() {
        for config in [
            "# Linux/x86_64 7.1.5 Kernel Configuration\nCONFIG_CC_IS_CLANG=y\nCONFIG_LTO_CLANG_FULL=y\nCONFIG_CFI=y\n",
            "CONFIG_CC_IS_CLANG=y\nCONFIG_LTO_CLANG_FULL=y\nCONFIG_CFI_CLANG=y\n",
        ] {
            let c = for_kernel_built_elsewhere(Arch::X86_64, Some(config), Path::new("/tmp/b"));
            assert_eq!((c.lto, c.cfi), (Lto::Full, Switch::On), "{config}");
        }
    }

    #[test]
    fn a_gcc_kernel_without_lto_says_the_lto_and_cfi_checks_do_not_apply() {
        let c = for_kernel_built_elsewhere(
            Arch::X86_64,
            Some("CONFIG_X86_64=y\nCONFIG_CC_IS_GCC=y\nCONFIG_LTO_NONE=y\n"),
            Path::new("/tmp/linux-image.deb"),
        );
        assert_eq!((c.lto, c.cfi), (Lto::None, Switch::Off));
        assert_eq!(c.name, "external-x86_64");
        let why = |k: CheckKind| {
            c.not_judged
                .iter()
                .find(|(n, _)| *n == k)
                .unwrap()
                .1
                .clone()
        };
        assert!(why(CheckKind::LtoIdentity).starts_with("does not apply: not built with clang LTO"));
        assert!(why(CheckKind::LtoIdentity).contains("GCC-built"));
        assert_eq!(
            why(CheckKind::Cfi),
            "does not apply: CONFIG_CFI_CLANG is not set (GCC-built)"
        );
        // A 7.x kernel names the symbol its series has.
        let c71 = for_kernel_built_elsewhere(
            Arch::X86_64,
            Some("# Linux/x86 7.1.5 Kernel Configuration\nCONFIG_CC_IS_GCC=y\n"),
            Path::new("/tmp/linux-image.deb"),
        );
        let cfi71 = c71.not_judged.iter().find(|(n, _)| *n == CheckKind::Cfi);
        assert_eq!(
            cfi71.map(|(_, w)| w.as_str()),
            Some("does not apply: CONFIG_CFI is not set (GCC-built)")
        );
        // Every kind is either judged or said not to be.
        for k in [
            CheckKind::Initcalls,
            CheckKind::Cfi,
            CheckKind::Modules,
            CheckKind::Islands,
            CheckKind::LtoIdentity,
            CheckKind::ModuleSections,
            CheckKind::Modversions,
            CheckKind::Ftrace,
            CheckKind::Orc,
            CheckKind::StackProtector,
            CheckKind::Vdso,
            CheckKind::Hygiene,
        ] {
            assert!(
                c.checks.contains(&k) != c.not_judged.iter().any(|(n, _)| *n == k),
                "{k:?}"
            );
        }
    }

    #[test]
    fn without_a_config_nothing_is_assumed() {
        let c = for_kernel_built_elsewhere(Arch::Arm64, None, Path::new("/tmp/Image"));
        let why = |k: CheckKind| {
            c.not_judged
                .iter()
                .find(|(n, _)| *n == k)
                .unwrap()
                .1
                .clone()
        };
        assert!(why(CheckKind::Cfi).starts_with("cannot tell"));
        assert!(why(CheckKind::Islands).starts_with("cannot tell"));
        // An LTO kernel's LTO checks are not said not to apply.
        let lto = for_kernel_built_elsewhere(
            Arch::Arm64,
            Some("CONFIG_CC_IS_CLANG=y\nCONFIG_LTO_CLANG_THIN=y\nCONFIG_CFI_CLANG=y\n"),
            Path::new("/tmp/Image"),
        );
        assert_eq!((lto.lto, lto.cfi), (Lto::Thin, Switch::On));
        assert!(!lto
            .not_judged
            .iter()
            .any(|(_, w)| w.starts_with("does not apply")));
    }
}
