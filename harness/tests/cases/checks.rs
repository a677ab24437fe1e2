//! Trials of the checks on kernels really broken another way than the mutants: a foreign-arch module, a module of another config, a swapped golden then bless, a trap expected of a non-CFI kernel, hygiene across a family.

use crate::common::*;
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A real kernel given a module built for the other architecture: insmod
/// must fail, and the modules check must fail with the kernel's reason.
pub(crate) fn foreign_module_fails_the_modules_check() -> Result<(), Failed> {
    let dir = out_dir("foreign-module");
    let x86 = artifacts(&dir, "x86_64-lto-none")?;
    let arm = artifacts(&dir, "arm64-lto-none")?;
    // The x86_64 kernel, its own lkdtm, and the arm64 test_module.
    let kb = mixed_build(
        &dir,
        &x86,
        "arch/x86/boot/bzImage",
        &[
            ("test_module", arm.join("modules/test_module.ko")),
            ("lkdtm", x86.join("modules/lkdtm.ko")),
        ],
    )?;
    let res = dir.join("mixed");
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--kernel-build",
        kb.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    ensure(case["boot"]["status"] == "pass", || {
        format!("the kernel itself should boot fine: {}", case["boot"])
    })?;
    let statik = check(case, "modules.static")?;
    ensure(
        statik["status"] == "fail"
            && statik["message"]
                .as_str()
                .unwrap_or("")
                .contains("this x86_64 kernel needs machine 62"),
        || format!("modules.static: {statik}"),
    )?;
    let modules = check(case, "modules.runtime")?;
    let msg = modules["message"].as_str().unwrap_or("");
    ensure(
        modules["status"] == "fail" && msg.contains("test_module: insmod failed"),
        || format!("modules check: {modules}"),
    )?;
    ensure(
        msg.contains("console line") && msg.contains("invalid module format"),
        || format!("the insmod error line is missing: {msg}"),
    )?;
    ensure(!msg.contains("rmmod"), || {
        format!("steps after the failed insmod ran: {msg}")
    })?;
    Ok(())
}

/// The kernel tree the harness builds from (Debian's tarball, extracted).
pub(crate) fn kernel_tree() -> Result<PathBuf, Failed> {
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| format!("{e:#}"))?;
    let src = lto_harness::stages::source::KernelSource::from_default_tarball(&cache)
        .map_err(|e| format!("{e:#}"))?;
    Ok(src.root)
}

/// test_module.ko built out of tree against the arm64 tiny config with
/// CONFIG_PREEMPT=y instead of PREEMPT_NONE: a real module whose vermagic
/// (`... SMP preempt mod_unload aarch64`) is not the arm64-lto-none kernel's.
/// Built once (about 30 s: olddefconfig, modules_prepare, M=).
pub(crate) fn preempt_test_module(arm64_config: &Path) -> Result<PathBuf, Failed> {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lto-harness-tests/preempt-module");
    let ko = base.join("ext/test_module.ko");
    if ko.is_file() {
        return Ok(ko);
    }
    let _ = std::fs::remove_dir_all(&base);
    let (kb, ext) = (base.join("kb"), base.join("ext"));
    std::fs::create_dir_all(&kb).unwrap();
    std::fs::create_dir_all(&ext).unwrap();
    let tree = kernel_tree()?;
    let mut config = std::fs::read_to_string(arm64_config).map_err(|e| e.to_string())?;
    config.push_str("# CONFIG_PREEMPT_NONE is not set\nCONFIG_PREEMPT=y\n");
    std::fs::write(kb.join(".config"), config).unwrap();
    std::fs::copy(tree.join("lib/test_module.c"), ext.join("test_module.c"))
        .map_err(|e| e.to_string())?;
    std::fs::write(ext.join("Makefile"), "obj-m := test_module.o\n").unwrap();
    let o = format!("O={}", kb.display());
    let m = format!("M={}", ext.display());
    for args in [
        vec!["olddefconfig"],
        vec!["-j2", "modules_prepare"],
        // No Module.symvers outside a full build: unresolved symbols are fine here.
        vec![m.as_str(), "KBUILD_MODPOST_WARN=1", "modules"],
    ] {
        let out = Command::new("make")
            .arg("-C")
            .arg(&tree)
            .args([o.as_str(), "ARCH=arm64", "LLVM=-19"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("make: {e}"))?;
        ensure(out.status.success(), || {
            format!(
                "make {args:?} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    }
    ensure(ko.is_file(), || format!("no {}", ko.display()))?;
    Ok(ko)
}

/// An O= dir as another build system would leave it: `kernel`'s .config,
/// vmlinux and boot image, and the given modules.
pub(crate) fn mixed_build(
    dir: &Path,
    kernel: &Path,
    boot_image: &str,
    modules: &[(&str, PathBuf)],
) -> Result<PathBuf, Failed> {
    let kb = dir.join("mixed-build");
    let image = kb.join(boot_image);
    std::fs::create_dir_all(image.parent().unwrap()).unwrap();
    std::fs::create_dir_all(kb.join("lib")).unwrap();
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", from.display()))
    };
    copy(&kernel.join("config"), &kb.join(".config"))?;
    copy(&kernel.join("vmlinux"), &kb.join("vmlinux"))?;
    copy(&kernel.join("image"), &image)?;
    for (name, from) in modules {
        copy(from, &kb.join(format!("lib/{name}.ko")))?;
    }
    Ok(kb)
}

/// A real module built against a different config: its vermagic differs,
/// so the static check and the kernel's own loader both refuse it.
pub(crate) fn vermagic_mismatch_fails_static_and_runtime() -> Result<(), Failed> {
    let dir = out_dir("vermagic");
    let arm = artifacts(&dir, "arm64-lto-none")?;
    let foreign = preempt_test_module(&arm.join("config"))?;
    let kb = mixed_build(
        &dir,
        &arm,
        "arch/arm64/boot/Image",
        &[
            ("test_module", foreign),
            ("lkdtm", arm.join("modules/lkdtm.ko")),
        ],
    )?;
    let res = dir.join("mixed");
    let out = run(harness(&[
        "run",
        "arm64-lto-none",
        "--kernel-build",
        kb.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    ensure(case["boot"]["status"] == "pass", || {
        format!("the kernel itself should boot fine: {}", case["boot"])
    })?;
    // The release is the tree's (Debian moves its patch level): read it
    // from the warm run of the same kernel built from the tree (a
    // `--kernel-build` run has no source to name it), never spell it here.
    let warm = results(&dir.join("warm-arm64-lto-none"))?;
    let v = warm["kernel_version"].as_str().ok_or_else(|| {
        format!(
            "the warm run's results.json has no kernel_version\n{}",
            describe(&out)
        )
    })?;
    let theirs = format!("{v} SMP preempt mod_unload modversions aarch64");
    let ours = format!("{v} SMP mod_unload modversions aarch64");
    let statik = check(case, "modules.static")?;
    let msg = statik["message"].as_str().unwrap_or("");
    ensure(
        statik["status"] == "fail"
            && msg.contains(&format!("vermagic `{theirs}`"))
            && msg.contains(&format!("the kernel's is `{ours}`")),
        || format!("modules.static: {statik}"),
    )?;
    let runtime = check(case, "modules.runtime")?;
    let msg = runtime["message"].as_str().unwrap_or("");
    ensure(
        runtime["status"] == "fail"
            && msg.contains("test_module: insmod failed")
            // With MODVERSIONS the loader checks the module's versions
            // before its vermagic: a module built outside the kernel's
            // modpost run has none for the kernel's module struct.
            && (msg.contains(&format!("version magic '{theirs}' should be '{ours}'"))
                || msg.contains("test_module: no symbol version for module_layout")),
        || format!("modules.runtime: {runtime}"),
    )?;
    // Everything else about the kernel is fine, and says so.
    for name in ["initcalls.static", "initcalls.boot", "cfi.static"] {
        let c = check(case, name)?;
        ensure(c["status"] == "pass", || format!("{name}: {c}"))?;
    }
    Ok(())
}

/// The arm64 family in one run: `hygiene.build` compares the LTO kernels'
/// build warnings with the LTO-none kernel's, and every mechanism check
/// passes on all three (their kernels carry the mechanism fragments).
pub(crate) fn hygiene_compares_a_family() -> Result<(), Failed> {
    let dir = out_dir("hygiene");
    let cases = ["arm64-lto-none", "arm64-lto-thin-cfi", "arm64-lto-full-cfi"];
    let mut args = vec!["run"];
    args.extend(cases);
    args.extend(["--results", dir.to_str().unwrap()]);
    let out = run(harness(&args))?;
    let r = results(&dir).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(out.status.code() == Some(0), || {
        format!("expected exit 0\n{}", describe(&out))
    })?;
    for c in r["cases"].as_array().into_iter().flatten() {
        let h = check(c, "hygiene.build")?;
        let msg = h["message"].as_str().unwrap_or("");
        let lto = c["lto"] != "none";
        ensure(
            h["status"] == "pass"
                && (!lto || msg.contains("none that arm64-lto-none's build lacks")),
            || format!("{}: hygiene.build: {h}", c["name"]),
        )?;
        for k in c["checks"].as_array().into_iter().flatten() {
            ensure(k["status"] == "pass", || format!("{}: {k}", c["name"]))?;
        }
    }
    Ok(())
}

/// A golden with two initcalls swapped: both initcall checks fail with a
/// diff naming them; `bless` then restores the kernel's order and says so.
pub(crate) fn swapped_golden_fails_then_bless_restores_it() -> Result<(), Failed> {
    let dir = out_dir("swapped-golden");
    let cases = scratch_cases(&dir, "x86_64-lto-none", "x86_64-tiny");
    let golden = cases.join("golden/x86_64-tiny.initcalls");
    let shipped = std::fs::read_to_string(repo().join("cases/golden/x86_64-tiny.initcalls"))
        .map_err(|e| e.to_string())?;
    std::fs::write(&golden, &shipped).map_err(|e| e.to_string())?;
    let (a, b) = swap_level_6(&golden)?;
    let res = dir.join("swapped");
    let out = run(harness(&[
        "run",
        "--cases",
        cases.to_str().unwrap(),
        "x86_64-lto-none",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    for name in ["initcalls.static", "initcalls.boot"] {
        let c = check(case, name)?;
        let msg = c["message"].as_str().unwrap_or("");
        let diff: Vec<&str> = c["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .collect();
        ensure(c["status"] == "fail", || format!("{name}: {c}"))?;
        // The first initcall out of place, with its level, is named...
        ensure(
            msg.contains(&format!("`{a}`")) || msg.contains(&format!("`{b}`")),
            || format!("{name} does not name `{a}` or `{b}`: {msg}"),
        )?;
        // ...and the diff shows both swapped lines moving.
        for l in [&a, &b] {
            let moved = diff.iter().any(|d| *d == format!("-{l}"))
                || diff.iter().any(|d| *d == format!("+{l}"));
            ensure(moved, || {
                format!("{name}: the diff does not move `{l}`:\n{}", diff.join("\n"))
            })?;
        }
    }
    for name in ["boot", "cfi.static", "modules.runtime"] {
        if name == "boot" {
            ensure(case["boot"]["status"] == "pass", || {
                format!("boot: {}", case["boot"])
            })?;
        } else {
            let c = check(case, name)?;
            ensure(c["status"] == "pass", || format!("{name}: {c}"))?;
        }
    }
    // Bless: the golden becomes the kernel's order again, and says what changed.
    let res = dir.join("bless");
    let out = run(harness(&[
        "bless",
        "--cases",
        cases.to_str().unwrap(),
        "x86_64-lto-none",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(0), || describe(&out))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        err.contains("written: rewritten") && err.contains("2 added, 2 removed"),
        || format!("bless did not report the change:\n{err}"),
    )?;
    // The log says the re-judged verdicts, and its last word on the case
    // is the result's (the first judgement, against the swapped golden,
    // was FAIL).
    for name in ["initcalls.static", "initcalls.boot"] {
        ensure(
            err.contains(&format!(
                "check:{name}: pass in 0.0 s: re-judged after bless"
            )),
            || format!("{name} not re-judged in the log:\n{err}"),
        )?;
    }
    let verdicts: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("[x86_64-lto-none] => "))
        .collect();
    ensure(
        verdicts == ["[x86_64-lto-none] => FAIL", "[x86_64-lto-none] => PASS"],
        || format!("verdict lines {verdicts:?}:\n{err}"),
    )?;
    let now = std::fs::read_to_string(&golden).map_err(|e| e.to_string())?;
    let entries = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(String::from)
            .collect()
    };
    ensure(entries(&now) == entries(&shipped), || {
        "blessed golden is not the shipped one".into()
    })?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(r["cases"][0]["status"] == "pass", || {
        format!("after bless: {}", r["cases"][0])
    })?;
    Ok(())
}

/// A kernel without kCFI, told to expect a trap: the CFI check fails.
pub(crate) fn trap_expected_of_a_non_cfi_kernel_fails() -> Result<(), Failed> {
    let dir = out_dir("expect-trap");
    let out = run(harness(&[
        "run",
        "--cases",
        "harness/tests/fixtures/cases",
        "x86_64-expect-trap",
        "--results",
        dir.to_str().unwrap(),
    ]))?;
    let r = results(&dir).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    trap_expected_but_survived(case)?;
    let s = check(case, "cfi.static")?;
    ensure(s["status"] == "pass", || format!("cfi.static: {s}"))?;
    ensure(case["boot"]["status"] == "pass", || {
        format!("boot: {}", case["boot"])
    })?;
    Ok(())
}

/// The x86_64-expect-trap case's verdict: cfi.CFI_FORWARD_PROTO failed
/// because the LTO-none kernel let lkdtm's mismatched call through.
pub(crate) fn trap_expected_but_survived(case: &serde_json::Value) -> Result<(), Failed> {
    let c = check(case, "cfi.CFI_FORWARD_PROTO")?;
    let msg = c["message"].as_str().unwrap_or("");
    ensure(
        c["status"] == "fail"
            && msg.contains("cfi_expect: trap")
            && msg.contains("lkdtm: FAIL: survived mismatched prototype function call!"),
        || format!("cfi.CFI_FORWARD_PROTO: {c}"),
    )
}
