//! Preflight: what is checked and loaded before anything is built: the
//! goldens (a malformed one names its file and line), lkdtm's expectations,
//! every tool a case needs (naming its Debian package), kCFI support of
//! each case's toolchain (a case its toolchain cannot build is skipped). Also the dry run: the exact commands a run would execute.

use super::{boot_step::boot_request, Environment, Prepared, RunOptions};
use crate::case::{Case, CheckKind};
use crate::checks::cfi::LkdtmExpectations;
use crate::checks::golden::{self, Golden, GoldenError};
use crate::host::toolchain;
use crate::stages::boot;
use crate::stages::build;
use crate::stages::image;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The goldens a run compares with: each case's, resolved for the
/// kernel series (see [`golden::resolve`]), and the goldens by path.
#[derive(Debug, Clone, Default)]
pub struct Goldens {
    pub by_path: BTreeMap<PathBuf, Golden>,
    /// Case name → its golden for this kernel series.
    pub for_case: BTreeMap<String, golden::Resolved>,
    /// The kernels' series (`6.12`), when known.
    pub series: Option<String>,
}

/// Loads every golden the cases compare with, for kernels of `series`. A
/// missing golden is an error unless blessing (which creates it) or the
/// family only has a golden for another series (the checks then skip,
/// saying so); a malformed one always is, naming its file and line.
pub fn load_goldens(cases: &[&Case], bless: bool, series: Option<&str>) -> Result<Goldens> {
    let mut out = Goldens {
        series: series.map(str::to_owned),
        ..Goldens::default()
    };
    for case in cases {
        let Some(g) = case
            .golden
            .as_ref()
            .filter(|_| case.wants(CheckKind::Initcalls))
        else {
            continue;
        };
        let resolved = golden::resolve(&g.family, &g.path, series);
        let path = resolved.path.clone();
        let elsewhere = resolved.only_for.is_some();
        out.for_case.insert(case.name.clone(), resolved);
        if out.by_path.contains_key(&path) || elsewhere {
            continue;
        }
        match Golden::load(&path) {
            Ok(golden) => {
                out.by_path.insert(path.clone(), golden);
            }
            Err(GoldenError::Io { error, .. })
                if bless && error.kind() == std::io::ErrorKind::NotFound => {}
            Err(GoldenError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "case {} ({}): golden {} does not exist; create it from the kernel with `lto-harness bless {}`",
                    case.name,
                    case.file.display(),
                    path.display(),
                    case.name
                )
            }
            Err(e) => bail!(
                "case {} ({}): bad golden: {e}",
                case.name,
                case.file.display()
            ),
        }
    }
    Ok(out)
}

/// Refuses, before anything is built, a run that cannot work (a missing
/// tool, naming its package), and finds the cases their toolchain cannot
/// build (CFI asked of a clang without kCFI), which are skipped.
pub fn preflight(cases: &[&Case], env: &Environment, opts: &RunOptions) -> Result<Prepared> {
    let series = match (&env.source, &opts.kernel_build) {
        (Some(s), _) => golden::series(&s.version),
        // kbuild writes the release of an O= directory here.
        (None, Some(dir)) => std::fs::read_to_string(dir.join("include/config/kernel.release"))
            .ok()
            .and_then(|v| golden::series(v.trim())),
        (None, None) => None,
    };
    for case in cases {
        opts.case_dir(&case.name)?;
    }
    let goldens = load_goldens(cases, opts.bless, series.as_deref())?;
    results_dir_writable(&opts.results_dir)?;
    let tree = match (&env.source, &opts.kernel_build) {
        (Some(s), _) => Some(s.root.clone()),
        // kbuild leaves `source` in an O= directory, pointing at the tree.
        (None, Some(dir)) => Some(dir.join("source")),
        (None, None) => None,
    };
    let lkdtm = LkdtmExpectations::load(tree.as_deref());
    if let Some(w) = opts.cc_wrapper.filter(|_| opts.kernel_build.is_none()) {
        w.require()?;
    }
    tools(cases, opts.kernel_build.is_none())?;
    if opts.kernel_build.is_some() && cases.len() != 1 {
        bail!(
            "--kernel-build judges one kernel: name exactly one case (got {})",
            cases.len()
        );
    }
    let mut unsupported = BTreeMap::new();
    for case in cases {
        let arch = case.arch.profile();
        image::busybox_for(arch, &env.cache)
            .with_context(|| format!("case {}: no busybox for {}", case.name, arch.name))?;
        if let Some(why) = unsupported_by_toolchain(case, env, opts) {
            unsupported.insert(case.name.clone(), why);
        }
    }
    Ok(Prepared {
        goldens,
        lkdtm,
        tree,
        unsupported,
    })
}

/// Why the case's toolchain cannot build what it asks for, when it
/// cannot: kCFI from a clang without `-fsanitize=kcfi` (Kconfig would
/// silently drop `CONFIG_CFI_CLANG` (7.x's `CONFIG_CFI`), whose `depends on` is that very
/// compiler test). The case is then skipped, not failed.
fn unsupported_by_toolchain(case: &Case, env: &Environment, opts: &RunOptions) -> Option<String> {
    if !case.cfi.is_on() || opts.kernel_build.is_some() {
        return None;
    }
    let tc = env.toolchain_for(case);
    let why = tc.check_kcfi(case.arch).err()?;
    let first = why.lines().next().unwrap_or("").trim();
    // The symbol under the name the tree's series gives it.
    let symbol = env
        .source
        .as_ref()
        .map_or("CONFIG_CFI_CLANG", |s| s.series.cfi_symbol.as_str());
    Some(kcfi_unsupported(
        &tc.label(),
        &tc.version,
        case.arch.profile().clang_target,
        symbol,
        first,
    ))
}

/// Why a clang without `-fsanitize=kcfi` cannot build a kCFI case whose
/// tree calls kCFI's symbol `symbol`.
fn kcfi_unsupported(label: &str, version: &str, target: &str, symbol: &str, said: &str) -> String {
    format!(
        "{label} ({version}) cannot compile -fsanitize=kcfi for {target}, so Kconfig would drop \
         {symbol} (it depends on $(cc-option,-fsanitize=kcfi)); kCFI needs \
         clang 16 or newer. clang said: {said}"
    )
}

/// The host tools the cases need (the build's when `builds`, each arch's
/// QEMU), each missing one named with its Debian package. Cheap: run it
/// before anything slow (extracting the kernel source, building).
pub fn tools(cases: &[&Case], builds: bool) -> Result<()> {
    if builds {
        for (tool, pkg) in [
            ("make", "make"),
            ("flex", "flex"),
            ("bison", "bison"),
            ("bc", "bc"),
        ] {
            toolchain::require(tool, pkg)?;
        }
    }
    for case in cases {
        let q = &case.arch.profile().qemu;
        toolchain::require(q.binary, q.package)
            .with_context(|| format!("case {} boots under {}", case.name, q.binary))?;
    }
    Ok(())
}

/// Refuses a results directory that cannot take a run's files (read-only,
/// not ours, a full disk) before anything is built or overwritten: it
/// must take a 64 KiB file, written and removed again.
pub fn results_dir_writable(dir: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let bad = |what: &str, e: std::io::Error| {
        anyhow::anyhow!("results directory {}: {what}: {e}", dir.display())
    };
    std::fs::create_dir_all(dir).map_err(|e| bad("cannot create it", e))?;
    let mut probe = tempfile::Builder::new()
        .prefix(".lto-harness-probe")
        .tempfile_in(dir)
        .map_err(|e| bad("cannot create a file in it", e))?;
    probe
        .write_all(&[0u8; 64 << 10])
        .and_then(|_| probe.as_file().sync_all())
        .map_err(|e| bad("cannot write 64 KiB to it (is the disk full?)", e))?;
    Ok(())
}

/// The exact commands each case would run, runnable by hand.
pub fn dry_run(cases: &[&Case], env: &Environment, opts: &RunOptions) -> Result<String> {
    let mut out = String::new();
    for case in cases {
        let case_dir = opts.case_dir(&case.name)?;
        out.push_str(&format!("# case {} ({})\n", case.name, case.file.display()));
        let (image_path, initrd) = match (&opts.kernel_build, &env.source) {
            (Some(dir), _) => (
                dir.join(case.arch.profile().boot_image),
                case_dir.join("initramfs.cpio.gz"),
            ),
            (None, Some(source)) => {
                let builder = env.builder(source, opts, case);
                let plan = builder.plan(case)?;
                out.push_str(&format!(
                    "mkdir -p {} {}\n",
                    plan.work_dir.display(),
                    plan.work_dir.join("lto-harness-fragments").display()
                ));
                out.push_str("# fragments (written by the harness):\n");
                for (label, _) in &plan.fragments {
                    out.push_str(&format!("#   {label}\n"));
                }
                for cmd in builder.commands(&plan) {
                    out.push_str(&build::shell_line(&cmd));
                    out.push('\n');
                }
                (
                    plan.work_dir.join(plan.arch.boot_image),
                    case_dir.join("initramfs.cpio.gz"),
                )
            }
            (None, None) => bail!("no kernel source"),
        };
        let req = boot_request(case, &image_path, &initrd, &case_dir, opts);
        out.push_str("# initramfs is written by `lto-harness run`; then:\n");
        out.push_str(&build::shell_line(&boot::qemu_argv(&req)));
        out.push_str("\n\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_toolchain_names_the_trees_kcfi_symbol() {
        let m = kcfi_unsupported(
            "clang-15",
            "15.0.6",
            "x86_64-linux-gnu",
            "CONFIG_CFI",
            "error",
        );
        assert!(
            m.contains("Kconfig would drop CONFIG_CFI (it depends on"),
            "{m}"
        );
        let m = kcfi_unsupported(
            "clang-15",
            "15.0.6",
            "x86_64-linux-gnu",
            "CONFIG_CFI_CLANG",
            "e",
        );
        assert!(m.starts_with("clang-15 (15.0.6) cannot compile -fsanitize=kcfi for x86_64-linux-gnu, so Kconfig would drop CONFIG_CFI_CLANG (it depends on $(cc-option,-fsanitize=kcfi)); kCFI needs clang 16 or newer. clang said: e"), "{m}");
    }
}
