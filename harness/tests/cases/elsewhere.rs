//! Trials of kernels built elsewhere (--kernel-build): an O= dir, TuxMake output, a Debian package, judged with honest skips.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Kernels built elsewhere: Debian's own linux-image package (GCC, no LTO,
/// no vmlinux) boots and is judged with every LTO and kCFI check saying
/// it does not apply; a TuxMake-style directory made of the shipped
/// x86_64-lto-full-cfi kernel (bzImage, config, vmlinux.xz,
/// modules.tar.xz, build.log, metadata.json) passes as that case, the
/// checks whose build-directory inputs TuxMake does not keep skipping
/// with the reason. No check passes without its input.
pub(crate) fn kernels_built_elsewhere_are_judged_with_honest_skips() -> Result<(), Failed> {
    let dir = out_dir("built-elsewhere");
    // Debian's current kernel package (what linux-image-amd64 depends on).
    let deps = Command::new("apt-cache")
        .args(["depends", "linux-image-amd64"])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    let pkg = String::from_utf8_lossy(&deps.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").map(str::to_owned))
        .ok_or("apt-cache names no linux-image package")?;
    let got = Command::new("apt-get")
        .args(["download", &pkg])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("apt-get download: {e}"))?;
    let deb = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            format!(
                "apt-get download {pkg}: {}",
                String::from_utf8_lossy(&got.stderr)
            )
        })?;
    let res = dir.join("debian");
    let mut cmd = harness(&["run", "--kernel-build"]);
    cmd.arg(&deb).arg("--results").arg(&res);
    let out = run(cmd)?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    let check = |name: &str| {
        case["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    ensure(
        out.status.success()
            && case["name"] == "external-x86_64"
            && case["boot"]["status"] == "pass",
        || format!("the Debian kernel: {}", describe(&out)),
    )?;
    for (name, why) in [
        (
            "lto_identity.static",
            "does not apply: not built with clang LTO",
        ),
        (
            "module_sections.boot",
            "does not apply: not built with clang LTO",
        ),
        (
            "cfi.static",
            "does not apply: CONFIG_CFI_CLANG is not set (GCC-built)",
        ),
        ("initcalls.static", "golden"),
        ("vdso.static", "no vmlinux was given"),
    ] {
        let c = check(name);
        ensure(
            c["status"] == "skipped" && c["message"].as_str().is_some_and(|m| m.contains(why)),
            || format!("Debian kernel {name}: {c}"),
        )?;
    }
    let passed: Vec<&str> = case["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "pass")
        .filter_map(|c| c["name"].as_str())
        .collect();
    ensure(passed == ["vdso.boot"], || {
        format!("only the vDSO call can pass on a distro kernel; passed: {passed:?}")
    })?;

    // A TuxMake output directory of the shipped full-LTO kernel.
    let own = dir.join("own");
    let mut cmd = harness(&["run", "x86_64-lto-full-cfi", "--results"]);
    cmd.arg(&own);
    let out = run(cmd)?;
    let built = results(&own).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let art = PathBuf::from(
        built["cases"][0]["build"]["artifacts"]
            .as_str()
            .ok_or_else(|| format!("no artifacts: {}", describe(&out)))?,
    );
    let tux = dir.join("tuxmake");
    let mods = dir.join("m/lib/modules/6.12/kernel");
    std::fs::create_dir_all(&mods).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&tux).map_err(|e| e.to_string())?;
    for (from, to) in [
        ("image", "bzImage"),
        ("config", "config"),
        ("System.map", "System.map"),
        ("build.log", "build.log"),
    ] {
        std::fs::copy(art.join(from), tux.join(to)).map_err(|e| format!("{from}: {e}"))?;
    }
    for m in ["lkdtm.ko", "test_module.ko"] {
        std::fs::copy(art.join("modules").join(m), mods.join(m)).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        tux.join("metadata.json"),
        r#"{"results":{"status":"PASS"}}"#,
    )
    .map_err(|e| e.to_string())?;
    let sh = format!(
        "xz -c {v} > {t}/vmlinux.xz && tar -C {d}/m -cJf {t}/modules.tar.xz lib",
        v = art.join("vmlinux").display(),
        t = tux.display(),
        d = dir.display()
    );
    let st = Command::new("sh")
        .args(["-c", &sh])
        .status()
        .map_err(|e| e.to_string())?;
    ensure(st.success(), || format!("packing the TuxMake dir: {sh}"))?;
    let res = dir.join("tux-res");
    let mut cmd = harness(&["run", "x86_64-lto-full-cfi", "--kernel-build"]);
    cmd.arg(&tux).arg("--results").arg(&res);
    let out = run(cmd)?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.success() && case["status"] == "pass", || {
        format!("the TuxMake dir as x86_64-lto-full-cfi: {}", describe(&out))
    })?;
    for (name, status, why) in [
        ("initcalls.static", "pass", ""),
        ("lto_identity.static", "pass", ""),
        ("cfi.static", "pass", ""),
        ("modversions.static", "skipped", "no Module.symvers"),
        ("vdso.static", "skipped", "no vDSO image"),
        (
            "islands.static",
            "skipped",
            "did not record what its objects are",
        ),
    ] {
        let c = case["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or(Value::Null);
        ensure(
            c["status"] == status && c["message"].as_str().is_some_and(|m| m.contains(why)),
            || format!("TuxMake {name}: {c}"),
        )?;
    }
    Ok(())
}
