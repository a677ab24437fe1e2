//! End-to-end tests on real kernels: every shipped case in `cases/` (but
//! the `slow` ones) is a trial that builds, boots and checks it through the
//! `lto-harness` binary, then reruns it warm with a `make` that fails if
//! called. Beside them: a kernel whose init panics, one that cannot boot in
//! time, Ctrl-C in the middle of a boot, a broken case file, patch series
//! and a mutant on the default source's git tree (shared, with its kernels).
//!
//! Kernels are built into the harness's normal cache, so a second
//! `cargo test` (or the README's main job) reuses them.

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lto-harness");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lto-harness-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn harness(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(repo()).stdin(Stdio::null());
    // A test binary that is interrupted or killed takes its harnesses with
    // it: each gets the SIGINT a user's Ctrl-C would send, and stops its
    // make and QEMU groups as it does then.
    // SAFETY: prctl is async-signal-safe and touches no memory.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // A toolchain matrix in the user's environment is not the trials'.
    c.env_remove("LTO_HARNESS_LLVM");
    // Test runs must not land in the user's performance history.
    c.env(
        "LTO_HARNESS_HISTORY",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("lto-harness-tests/history.jsonl"),
    );
    c
}

fn run(mut cmd: Command) -> Result<Output, Failed> {
    let out = cmd
        .output()
        .map_err(|e| format!("running lto-harness: {e}"))?;
    Ok(out)
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

fn results(dir: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(dir.join("results.json"))
        .map_err(|e| format!("no results.json in {}: {e}", dir.display()))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(msg().into())
    }
}

/// QEMU processes whose command line mentions `needle` (our results dir).
fn qemu_processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with("qemu-system") && cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// A `make` that records being called and fails.
fn poisoned_path(dir: &Path) -> (String, PathBuf) {
    let bin = dir.join("poison-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = dir.join("make-was-called");
    let script = format!(
        "#!/bin/sh\necho \"make $*\" >> {}\nexit 99\n",
        marker.display()
    );
    let make = bin.join("make");
    std::fs::write(&make, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&make, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, marker)
}

/// Build, boot and check one shipped case; then rerun it warm.
fn shipped_case(name: &str) -> Result<(), Failed> {
    shipped_case_on(name, None).map(|_| ())
}

/// The 7.x tree beside the repository (`shared/kernels/linux-7*.tar.xz`
/// in the checkout's parent or a folder above it, see its README for
/// provenance; else the workplace's `/work/shared/kernels`, for a clone
/// made elsewhere), or `$LTO_HARNESS_LINUX7` when set.
fn linux7_tarball() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LTO_HARNESS_LINUX7") {
        return Some(PathBuf::from(p));
    }
    let repo = repo().canonicalize().unwrap_or_else(|_| repo());
    let dirs = repo
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/kernels"))
        .chain([PathBuf::from("/work/shared/kernels")]);
    dirs.into_iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("linux-7.") && n.ends_with(".tar.xz"))
            })
            .collect();
        found.sort();
        found.pop()
    })
}

/// x86_64-lto-full-cfi on the 7.x tree, as on Debian's 6.12: every check
/// passes or says why it does not apply, the build is reused warm, and
/// what moved in 7.x is read from the tree: kCFI is `CONFIG_CFI`, the
/// initcall order is the `@7.1` golden's, the vDSO image is found.
fn linux7_x86_64_lto_full_cfi() -> Result<(), Failed> {
    let tarball = linux7_tarball().ok_or("no linux-7.*.tar.xz in ../shared/kernels")?;
    let r = shipped_case_on("x86_64-lto-full-cfi", Some(&tarball))?;
    let version = r["kernel_version"].as_str().unwrap_or("");
    ensure(version.starts_with("7."), || {
        format!(
            "kernel_version {version:?}, expected 7.x from {}",
            tarball.display()
        )
    })?;
    let case = &r["cases"][0];
    let check = |name: &str| {
        case["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let says = |name: &str, text: &str| {
        let c = check(name);
        ensure(
            c["status"] == "pass" && c["message"].as_str().is_some_and(|m| m.contains(text)),
            || format!("{name} should pass saying `{text}`: {c}"),
        )
    };
    says("cfi.static", "as CONFIG_CFI=y says")?;
    says("cfi.CFI_FORWARD_PROTO", "protected by CONFIG_CFI=y")?;
    says("initcalls.static", "x86_64-tiny@7.1")?;
    says("vdso.static", "ET_DYN")?;
    Ok(())
}

/// Runs shipped case `name` cold then warm (on `src` when given, else the
/// default tree) and returns the cold run's results.
fn shipped_case_on(name: &str, src: Option<&Path>) -> Result<Value, Failed> {
    let dir = out_dir(&match src {
        None => format!("case-{name}"),
        Some(_) => format!("case-{name}-src"),
    });
    let src_args: Vec<&str> = match src {
        Some(p) => vec!["--kernel-src", p.to_str().unwrap_or_default()],
        None => vec![],
    };
    let cold = dir.join("cold");
    let mut args = vec!["run", name, "--results", cold.to_str().unwrap()];
    args.extend(&src_args);
    let out = run(harness(&args))?;
    let r = results(&cold).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(
        out.status.code() == Some(0) && case["status"] == "pass",
        || {
            format!(
                "case {name} did not pass:\n{}\n{}",
                serde_json::to_string_pretty(case).unwrap_or_default(),
                describe(&out)
            )
        },
    )?;
    // Every check passes, or does not apply for a reason it states: its
    // config is off (only where the case lacks the mechanism fragments),
    // or `hygiene.build` has no LTO-none kernel in a one-case run (the
    // hygiene trial runs a whole family).
    let case_file = std::fs::read_to_string(repo().join("cases").join(format!("{name}.yaml")))
        .map_err(|e| format!("cases/{name}.yaml: {e}"))?;
    let mechanisms = case_file.contains("fragments/mechanisms.config");
    for check in case["checks"].as_array().into_iter().flatten() {
        let msg = check["message"].as_str().unwrap_or("");
        let allowed_skip = check["status"] == "skipped"
            && ((!mechanisms && msg.contains(" is not set"))
                || (check["name"] == "hygiene.build"
                    && msg.contains("no LTO-none kernel of the same config in this run")));
        ensure(check["status"] == "pass" || allowed_skip, || {
            format!("check not passed: {check}")
        })?;
    }
    let log = cold.join(name).join("console.log");
    let console = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    ensure(console.contains("@@LTOH END rc=0"), || {
        format!("no end marker in {}", log.display())
    })?;
    captures_keep_the_verdict(console.as_bytes(), &log)?;

    // Warm: same inputs, so make must not run at all.
    let warm = dir.join("warm");
    let (path, marker) = poisoned_path(&dir);
    let mut args = vec!["run", name, "--results", warm.to_str().unwrap()];
    args.extend(&src_args);
    let mut cmd = harness(&args);
    cmd.env("PATH", path);
    let out = run(cmd)?;
    ensure(!marker.exists(), || {
        format!(
            "warm rerun called make: {}",
            std::fs::read_to_string(&marker).unwrap_or_default()
        )
    })?;
    let warm_r = results(&warm).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(warm_r["cases"][0]["build"]["reused"] == true, || {
        format!("warm rerun did not reuse the build:\n{}", describe(&out))
    })?;
    ensure(out.status.code() == Some(0), || {
        format!("warm rerun did not pass:\n{}", describe(&out))
    })?;
    Ok(r)
}

/// The metamorphic half of the judge on a real console: what capture
/// tools do to a log (a prefix on every line, CRLF, userspace text glued
/// before kernel lines, 4 KiB writes) leaves `judge`'s verdict and first
/// cause as they were; a WARNING, Oops, BUG, CFI failure or panic put
/// after the banner (outside the probes), on a line of its own or printed
/// into another, turns the pass into a fail that names it.
fn captures_keep_the_verdict(log: &[u8], path: &Path) -> Result<(), Failed> {
    use lto_harness::checks::capture;
    let want = capture::judge(log, 1 << 16);
    ensure(want.status == lto_harness::model::Status::Pass, || {
        format!("judge {}: {want:?}", path.display())
    })?;
    for (name, v) in capture::harmless_variants(log) {
        let got = capture::judge(&v, 4096);
        ensure(capture::same_verdict(&want, &got), || {
            format!("{}: {name} changed the verdict: {got:?}", path.display())
        })?;
    }
    for glued in [false, true] {
        let sites = capture::failure_sites(log, glued);
        ensure(!sites.is_empty(), || {
            format!("{}: no banner", path.display())
        })?;
        for (i, failure) in capture::FAILURES.iter().enumerate() {
            // Spread over the log: the banner, init, the probes' gaps, the end.
            for k in 0..4 {
                let after = sites[(k * sites.len() / 4 + i) % sites.len()];
                let got = capture::judge(&capture::insert_line(log, after, failure, glued), 4096);
                let text = failure.split_once("] ").map_or(*failure, |(_, t)| t);
                ensure(
                    got.status == lto_harness::model::Status::Fail && got.message.contains(text),
                    || {
                        format!(
                            "{}: `{failure}` after line {after} (glued: {glued}) was not the failure: {got:?}",
                            path.display()
                        )
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// A kernel whose init exits: the panic is a fail, found at once, log kept.
fn init_panic_is_fail() -> Result<(), Failed> {
    let dir = out_dir("init-panic");
    let t = Instant::now();
    let out = run(harness(&[
        "run",
        "--cases",
        "harness/tests/fixtures/cases",
        "x86_64-init-panic",
        "--results",
        dir.to_str().unwrap(),
    ]))?;
    let r = results(&dir).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    ensure(case["build"]["status"] == "pass", || {
        format!("build: {}", case["build"])
    })?;
    ensure(case["boot"]["status"] == "fail", || {
        format!("boot: {}", case["boot"])
    })?;
    let msg = case["boot"]["message"].as_str().unwrap_or("");
    ensure(msg.contains("Attempted to kill init"), || {
        format!("verdict does not name the panic: {msg}")
    })?;
    let log = dir.join("x86_64-init-panic/console.log");
    let console =
        std::fs::read_to_string(&log).map_err(|e| format!("console log not saved: {e}"))?;
    ensure(console.contains("Kernel panic - not syncing"), || {
        "saved log lacks the panic".into()
    })?;
    // Stopped at the panic, not at the 120 s timeout.
    let boot_secs = case["boot"]["seconds"].as_f64().unwrap_or(f64::MAX);
    ensure(boot_secs < 60.0, || {
        format!(
            "boot took {boot_secs} s: the panic did not end it (total {:?})",
            t.elapsed()
        )
    })?;
    Ok(())
}

/// A kernel that cannot finish in 3 s: incomplete, and QEMU is gone.
fn timeout_is_incomplete_and_kills_qemu() -> Result<(), Failed> {
    let dir = out_dir("timeout");
    let out = run(harness(&[
        "run",
        "--cases",
        "harness/tests/fixtures/cases",
        "x86_64-hang",
        "--results",
        dir.to_str().unwrap(),
    ]))?;
    let r = results(&dir).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let case = &r["cases"][0];
    ensure(out.status.code() == Some(2), || {
        format!("expected exit 2 (incomplete)\n{}", describe(&out))
    })?;
    ensure(case["boot"]["status"] == "incomplete", || {
        format!("boot: {}", case["boot"])
    })?;
    ensure(case["boot"]["end"]["kind"] == "timed_out", || {
        format!("end: {}", case["boot"]["end"])
    })?;
    ensure(dir.join("x86_64-hang/console.log").exists(), || {
        "console log not saved".into()
    })?;
    let left = qemu_processes_mentioning(dir.to_str().unwrap());
    ensure(left.is_empty(), || {
        format!("QEMU outlived the harness: {left:?}")
    })?;
    Ok(())
}

/// SIGINT while a guest runs: the harness exits 130 and QEMU is gone.
fn interrupt_kills_qemu() -> Result<(), Failed> {
    let dir = out_dir("interrupt");
    let mut child = harness(&[
        "run",
        "--cases",
        "harness/tests/fixtures/cases",
        "x86_64-hang",
        "--timeout",
        "300",
        "--results",
        dir.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .map_err(|e| e.to_string())?;
    let log = dir.join("x86_64-hang/console.log");
    let start = Instant::now();
    // The build may still be running in a parallel trial: allow for it.
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("@@LTOH BEGIN")
    {
        if start.elapsed() > Duration::from_secs(1800) {
            let _ = child.kill();
            return Err("the guest never started its init".into());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("harness exited early: {st}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ensure(
        !qemu_processes_mentioning(dir.to_str().unwrap()).is_empty(),
        || "no QEMU found while the guest runs".into(),
    )?;
    unsafe_sigint(child.id());
    let status = child.wait().map_err(|e| e.to_string())?;
    ensure(status.code() == Some(130), || {
        format!("expected exit 130 after SIGINT, got {status}")
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let left = qemu_processes_mentioning(dir.to_str().unwrap());
    ensure(left.is_empty(), || {
        format!("QEMU outlived the harness: {left:?}")
    })?;
    Ok(())
}

fn unsafe_sigint(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

/// A broken case file: exit 2, an error naming file, line and column.
fn broken_case_file_is_located() -> Result<(), Failed> {
    let dir = out_dir("broken-case");
    std::fs::write(
        dir.join("bad.yaml"),
        "arch: x86_64\nlto: full\ncfi: on\ntimout: 5\n",
    )
    .unwrap();
    let out = run(harness(&["list", "--cases", dir.to_str().unwrap()]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(2), || describe(&out))?;
    let want = format!("{}:4:1:", dir.join("bad.yaml").display());
    ensure(err.contains(&want) && err.contains("timout"), || {
        format!("expected `{want}` naming `timout`:\n{err}")
    })?;
    Ok(())
}

/// --dry-run prints runnable make and QEMU lines for every case.
fn dry_run_prints_commands() -> Result<(), Failed> {
    let out = run(harness(&["run", "--dry-run"]))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success(), || describe(&out))?;
    for needle in [
        "make -C",
        "ARCH=arm64",
        "LLVM=-19",
        "merge_config.sh -m",
        "olddefconfig",
        "qemu-system-aarch64 -M virt",
        "qemu-system-x86_64 -M q35",
    ] {
        ensure(text.contains(needle), || {
            format!("dry run lacks `{needle}`:\n{text}")
        })?;
    }
    ensure(!text.contains("defconfig-lto-full-cfi"), || {
        "dry run included a slow case".into()
    })?;
    Ok(())
}

/// A real kernel given a module built for the other architecture: insmod
/// must fail, and the modules check must fail with the kernel's reason.
fn foreign_module_fails_the_modules_check() -> Result<(), Failed> {
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

/// One check's entry in a case's results.
fn check<'a>(case: &'a Value, name: &str) -> Result<&'a Value, Failed> {
    case["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .ok_or_else(|| format!("no {name} check in {case}").into())
}

/// The artefacts dir of a shipped case's (cached) kernel, via a warm run.
fn artifacts(dir: &Path, case: &str) -> Result<PathBuf, Failed> {
    let res = dir.join(format!("warm-{case}"));
    let out = run(harness(&["run", case, "--results", res.to_str().unwrap()]))?;
    let r = results(&res).map_err(|e| {
        format!(
            "{e}
{}",
            describe(&out)
        )
    })?;
    let a = r["cases"][0]["build"]["artifacts"]
        .as_str()
        .ok_or_else(|| {
            format!(
                "no artifacts for {case}
{}",
                describe(&out)
            )
        })?;
    Ok(PathBuf::from(a))
}

/// The kernel tree the harness builds from (Debian's tarball, extracted).
fn kernel_tree() -> Result<PathBuf, Failed> {
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| format!("{e:#}"))?;
    let src = lto_harness::stages::source::KernelSource::from_default_tarball(&cache)
        .map_err(|e| format!("{e:#}"))?;
    Ok(src.root)
}

/// test_module.ko built out of tree against the arm64 tiny config with
/// CONFIG_PREEMPT=y instead of PREEMPT_NONE: a real module whose vermagic
/// (`... SMP preempt mod_unload aarch64`) is not the arm64-lto-none kernel's.
/// Built once (about 30 s: olddefconfig, modules_prepare, M=).
fn preempt_test_module(arm64_config: &Path) -> Result<PathBuf, Failed> {
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
fn mixed_build(
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
fn vermagic_mismatch_fails_static_and_runtime() -> Result<(), Failed> {
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
fn hygiene_compares_a_family() -> Result<(), Failed> {
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

/// A copy of one shipped case and its golden in a scratch cases dir.
fn scratch_cases(dir: &Path, case: &str, golden: &str) -> PathBuf {
    let cases = dir.join("cases");
    std::fs::create_dir_all(cases.join("golden")).unwrap();
    std::fs::copy(
        repo().join(format!("cases/{case}.yaml")),
        cases.join(format!("{case}.yaml")),
    )
    .unwrap();
    std::fs::write(cases.join(format!("golden/{golden}.initcalls")), "").unwrap();
    // The case's fragments, at the same place relative to it.
    std::fs::create_dir_all(cases.join("fragments")).unwrap();
    for f in std::fs::read_dir(repo().join("cases/fragments"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(f.path(), cases.join("fragments").join(f.file_name())).unwrap();
    }
    cases
}

/// `run --fail-fast`: x86_64-lto-none fails (two initcalls swapped in a
/// copy of its golden) beside three arm64 cases that pass; after the
/// failure nothing more starts, and every other case is skipped as not
/// run, saying why; exit 1; no QEMU left.
fn fail_fast_stops_at_the_first_failure() -> Result<(), Failed> {
    let dir = out_dir("fail-fast");
    let cases = dir.join("cases");
    let _ = std::fs::remove_dir_all(&cases);
    let copy = Command::new("cp")
        .arg("-r")
        .arg(repo().join("cases"))
        .arg(&cases)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(copy.success(), || "cp -r cases".into())?;
    swap_level_6(&cases.join("golden/x86_64-tiny.initcalls"))?;
    let res = dir.join("out");
    let out = run(harness(&[
        "run",
        "--cases",
        cases.to_str().unwrap(),
        "--fail-fast",
        // One build after another, one boot at a time: the failing case,
        // first, is judged before any other boots.
        "--sequential",
        "--jobs",
        "1",
        "x86_64-lto-none",
        "arm64-lto-none",
        "arm64-lto-thin-cfi",
        "arm64-lto-full-cfi",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1\n{}", describe(&out))
    })?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let mut skipped = 0;
    for c in r["cases"].as_array().into_iter().flatten() {
        let (name, status) = (c["name"].as_str().unwrap_or(""), &c["status"]);
        let ok = match name {
            "x86_64-lto-none" => status == "fail",
            _ if status == "skipped" => {
                skipped += 1;
                c["boot"]["message"].as_str().is_some_and(|m| {
                    m.contains("not run: --fail-fast stopped the run after x86_64-lto-none failed")
                })
            }
            _ => false,
        };
        ensure(ok, || format!("{name}: {c}\n{}", describe(&out)))?;
    }
    ensure(skipped == 3, || {
        format!("nothing was left unrun\n{}", describe(&out))
    })?;
    ensure(
        processes_mentioning(res.to_str().unwrap()).is_empty(),
        || {
            format!(
                "processes left: {:?}",
                processes_mentioning(res.to_str().unwrap())
            )
        },
    )?;
    Ok(())
}

/// Swaps the first level-6 initcall of `golden` with the one three lines
/// on (in one level: the minimal diff moves both lines, where an adjacent
/// swap would show one of them as context); returns the two lines.
fn swap_level_6(golden: &Path) -> Result<(String, String), Failed> {
    let text = std::fs::read_to_string(golden).map_err(|e| e.to_string())?;
    let mut lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("6 "))
        .ok_or("no level-6 initcall in the golden")?;
    let swapped = (lines[i].to_string(), lines[i + 3].to_string());
    lines.swap(i, i + 3);
    std::fs::write(golden, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
    Ok(swapped)
}

/// A golden with two initcalls swapped: both initcall checks fail with a
/// diff naming them; `bless` then restores the kernel's order and says so.
fn swapped_golden_fails_then_bless_restores_it() -> Result<(), Failed> {
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
fn trap_expected_of_a_non_cfi_kernel_fails() -> Result<(), Failed> {
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
    let c = check(case, "cfi.CFI_FORWARD_PROTO")?;
    let msg = c["message"].as_str().unwrap_or("");
    ensure(
        c["status"] == "fail"
            && msg.contains("cfi_expect: trap")
            && msg.contains("lkdtm: FAIL: survived mismatched prototype function call!"),
        || format!("cfi.CFI_FORWARD_PROTO: {c}"),
    )?;
    let s = check(case, "cfi.static")?;
    ensure(s["status"] == "pass", || format!("cfi.static: {s}"))?;
    ensure(case["boot"]["status"] == "pass", || {
        format!("boot: {}", case["boot"])
    })?;
    Ok(())
}

/// Bad goldens are clear errors before anything is built: a malformed line
/// (file and line named), an unreadable file, a missing one.
fn bad_golden_is_a_clear_error() -> Result<(), Failed> {
    let dir = out_dir("bad-golden");
    let cases = scratch_cases(&dir, "x86_64-lto-none", "x86_64-tiny");
    let golden = cases.join("golden/x86_64-tiny.initcalls");
    let attempt = |what: &str, want: &[String]| -> Result<(), Failed> {
        let out = run(harness(&[
            "run",
            "--cases",
            cases.to_str().unwrap(),
            "x86_64-lto-none",
            "--results",
            dir.join("r").to_str().unwrap(),
        ]))?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure(out.status.code() == Some(2), || {
            format!("{what}: {}", describe(&out))
        })?;
        ensure(!err.contains("panicked"), || {
            format!("{what}: panic\n{err}")
        })?;
        for w in want {
            ensure(err.contains(w.as_str()), || {
                format!("{what}: expected `{w}` in:\n{err}")
            })?;
        }
        ensure(!dir.join("r/results.json").exists(), || {
            format!("{what}: a run happened")
        })?;
        Ok(())
    };
    std::fs::write(
        &golden,
        "# ok\nearly init_hw_perf_events\n0 init_mmap_min_addr extra\n",
    )
    .unwrap();
    attempt(
        "malformed line",
        &[
            format!("{}:3:", golden.display()),
            "init_mmap_min_addr extra".into(),
        ],
    )?;
    std::fs::write(&golden, "early init_hw_perf_events\n9 reboot_init\n").unwrap();
    attempt(
        "unknown level",
        &[format!("{}:2:", golden.display()), "`9`".into()],
    )?;
    std::fs::remove_file(&golden).unwrap();
    std::fs::create_dir(&golden).unwrap();
    attempt(
        "unreadable",
        &[format!("{}: cannot read golden file", golden.display())],
    )?;
    std::fs::remove_dir(&golden).unwrap();
    attempt(
        "missing",
        &[
            "does not exist".into(),
            "lto-harness bless x86_64-lto-none".into(),
        ],
    )?;
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<String, Failed> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test Dev",
            "-c",
            "user.email=dev@example.org",
        ])
        .args(args)
        // Fixed dates: the same tree and patches give the same commits in
        // every clone, so a fresh checkout finds their kernels in the cache.
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("git: {e}"))?;
    ensure(out.status.success(), || {
        format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The series and mutate trials share one git tree (and the harness's
/// worktree of it), and the series ones make branches in it: one at a time.
static GIT_TREE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A real kernel git tree: Debian's linux-source committed once into the
/// harness's cache by the library (about a minute), the same commit on
/// every machine, and the tree `lto-harness mutate` uses by default, so the
/// series and mutate trials share its kernels. `master` is that one
/// commit. Callers hold [`GIT_TREE`].
fn kernel_git_tree() -> Result<PathBuf, Failed> {
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| format!("{e:#}"))?;
    let tree =
        lto_harness::stages::source::default_git_tree(&cache).map_err(|e| format!("{e:#}"))?;
    ensure(tree.branch == "master", || format!("{tree:?}"))?;
    Ok(tree.path)
}

/// Commits `edits` (file, from, to) on a throwaway branch off master and
/// returns the patch files `git format-patch` makes of them; the branch
/// is deleted and master checked out again.
fn make_series(
    tree: &Path,
    out: &Path,
    patches: &[(&str, &str, &str, &str)],
) -> Result<Vec<PathBuf>, Failed> {
    // -f: a run interrupted halfway may have left edits behind.
    git(
        tree,
        &[
            "checkout",
            "-q",
            "-f",
            "-B",
            "lto-harness-test-series",
            "master",
        ],
    )?;
    for (subject, file, from, to) in patches {
        let path = tree.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        ensure(text.contains(from), || format!("{file} lacks `{from}`"))?;
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        git(tree, &["add", "-f", file])?;
        git(tree, &["commit", "-q", "-m", subject])?;
    }
    let _ = std::fs::remove_dir_all(out);
    let listed = git(
        tree,
        &[
            "format-patch",
            "-o",
            out.to_str().unwrap(),
            "master..lto-harness-test-series",
        ],
    )?;
    git(tree, &["checkout", "-q", "master"])?;
    git(tree, &["branch", "-q", "-D", "lto-harness-test-series"])?;
    Ok(listed.lines().map(PathBuf::from).collect())
}

const DOC_PATCH: (&str, &str, &str, &str) = (
    "README: say how to validate LTO kernels",
    "README",
    "Linux kernel\n",
    "Linux kernel\n\nBuilt with Clang LTO? Validate it with lto-harness.\n",
);
const LATE_PATCH: (&str, &str, &str, &str) = (
    "x86/setup: register the kernel offset dumper at late_initcall",
    "arch/x86/kernel/setup.c",
    "__initcall(register_kernel_offset_dumper);",
    "late_initcall(register_kernel_offset_dumper);",
);
const BACK_PATCH: (&str, &str, &str, &str) = (
    "x86/setup: back to device_initcall for the offset dumper",
    "arch/x86/kernel/setup.c",
    "late_initcall(register_kernel_offset_dumper);",
    "__initcall(register_kernel_offset_dumper);",
);

/// The user's tree is as it was: master checked out, clean; besides it
/// at most the harness's own worktree, detached, in the cache (kept so the
/// next run's builds are incremental).
fn tree_untouched(tree: &Path, head: &str) -> Result<(), Failed> {
    ensure(git(tree, &["rev-parse", "HEAD"])? == head, || {
        "HEAD moved".into()
    })?;
    ensure(
        git(tree, &["status", "--porcelain", "--ignored=no"])?.is_empty(),
        || "the user's checkout was modified".into(),
    )?;
    let wts = git(tree, &["worktree", "list", "--porcelain"])?;
    // The fault trial's own worktree (its edited copy of the tree) is the
    // suite's, not the harness's: it may exist while this trial runs.
    let others: Vec<&str> = wts
        .split("\n\n")
        .filter(|w| !w.trim().is_empty())
        .filter(|w| !w.starts_with(&format!("worktree {}\n", tree.display())))
        .filter(|w| !w.contains(FAULT_WORKTREE))
        .collect();
    ensure(
        others.len() <= 1
            && others
                .iter()
                .all(|w| w.contains("/series/") && w.contains("\ndetached")),
        || format!("worktrees other than the harness's:\n{wts}"),
    )?;
    Ok(())
}

/// A three-patch series on a real kernel git tree, as an mbox, with
/// --each: the patch that moves an initcall to another level is named as
/// breaking the initcall checks, and the next one as fixing them.
fn series_names_the_breaking_patch() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("series-each");
    let tree = kernel_git_tree()?;
    let head = git(&tree, &["rev-parse", "HEAD"])?;
    let files = make_series(
        &tree,
        &dir.join("patches"),
        &[DOC_PATCH, LATE_PATCH, BACK_PATCH],
    )?;
    ensure(files.len() == 3, || format!("format-patch made {files:?}"))?;
    let mbox: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    std::fs::write(dir.join("series.mbox"), mbox).unwrap();
    let res = dir.join("results");
    let out = run(harness(&[
        "series",
        "x86_64-lto-none",
        "--kernel-src",
        tree.to_str().unwrap(),
        "--base",
        "master",
        "--series",
        dir.join("series.mbox").to_str().unwrap(),
        "--each",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let text = std::fs::read_to_string(res.join("series.json"))
        .map_err(|e| format!("no series.json: {e}\n{}", describe(&out)))?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    // The tip passes again, so the series as a whole passes.
    ensure(out.status.code() == Some(0), || describe(&out))?;
    let statuses: Vec<String> = r["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["cases"][0]["status"].as_str().unwrap_or("?").to_owned())
        .collect();
    ensure(statuses == ["pass", "pass", "fail", "pass"], || {
        format!(
            "statuses at base, 1, 2, 3: {statuses:?}\n{}",
            describe(&out)
        )
    })?;
    let changes = r["changes"].as_array().cloned().unwrap_or_default();
    for (what, change, patch) in [
        ("check:initcalls.static", "broken", 2),
        ("check:initcalls.boot", "broken", 2),
        ("check:initcalls.static", "fixed", 3),
        ("check:initcalls.boot", "fixed", 3),
    ] {
        ensure(
            changes
                .iter()
                .any(|c| c["what"] == what && c["change"] == change && c["patch"] == patch),
            || format!("no `{what} {change} by {patch}` in {changes:?}"),
        )?;
    }
    ensure(changes.len() == 4, || {
        format!("unexpected changes: {changes:?}")
    })?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        err.contains("check:initcalls.static broken by patch 2/3 \"[PATCH 2/3] x86/setup: register the kernel offset dumper at late_initcall\""),
        || format!("the report does not name patch 2:\n{err}"),
    )?;
    // The failing point's results say which initcall moved.
    let p2 = results(&res.join("patch-002")).map_err(|e| e.to_string())?;
    let msg = p2["cases"][0]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "initcalls.static"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or("")
        .to_owned();
    ensure(msg.contains("register_kernel_offset_dumper"), || {
        format!("initcalls.static at patch 2 does not name the moved initcall: {msg}")
    })?;
    tree_untouched(&tree, &head)
}

/// `series --bisect` on a real kernel git tree (the same two patches as
/// the first two of `series_names_the_breaking_patch`, so the same commits
/// and cached kernels): the tip fails, one build more finds patch 2, and
/// the base is not built. Then `bisect` over the same commits names the
/// same commit, a second run resumes from bisect.json without building,
/// and a bad end that cannot be judged (a boot timeout, retried) is said
/// to be so, never taken as good or bad.
fn bisect_names_the_breaking_commit() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("bisect");
    let tree = kernel_git_tree()?;
    let head = git(&tree, &["rev-parse", "HEAD"])?;
    let files = make_series(&tree, &dir.join("patches"), &[DOC_PATCH, LATE_PATCH])?;
    let tree_arg = tree.to_str().unwrap();
    let res = dir.join("series");
    let out = run(harness(&[
        "series",
        "x86_64-lto-none",
        "--kernel-src",
        tree_arg,
        "--base",
        "master",
        "--series",
        dir.join("patches").to_str().unwrap(),
        "--bisect",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    ensure(files.len() == 2 && out.status.code() == Some(1), || {
        describe(&out)
    })?;
    let read = |p: &Path| -> Result<Value, Failed> {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}\n{}", p.display(), describe(&out)))?;
        Ok(serde_json::from_str(&text).map_err(|e| e.to_string())?)
    };
    let b = read(&res.join("bisect.json"))?;
    let s = read(&res.join("series.json"))?;
    ensure(b["outcome"]["kind"] == "found", || format!("{b:#}"))?;
    let culprit = b["outcome"]["commit"].as_str().unwrap_or("").to_owned();
    ensure(
        b["outcome"]["subject"]
            .as_str()
            .is_some_and(|x| x.contains("late_initcall")),
        || format!("{b:#}"),
    )?;
    // The tip, then patch 1: two builds, the base taken on trust.
    let tested: Vec<&str> = b["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["verdict"].as_str())
        .collect();
    ensure(tested == ["bad", "good"], || format!("{b:#}"))?;
    ensure(b["expected_builds"] == 2, || format!("{b:#}"))?;
    let afters: Vec<u64> = s["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["after"].as_u64())
        .collect();
    ensure(afters == [1, 2], || format!("{s:#}"))?;
    ensure(
        s["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["what"] == "check:initcalls.static" && c["patch"] == 2),
        || format!("{s:#}"),
    )?;
    let md = std::fs::read_to_string(res.join("summary.md")).map_err(|e| e.to_string())?;
    ensure(
        md.contains(&format!("- bisected to: {}", &culprit[..12]))
            && md.contains("`patch-002/x86_64-lto-none/reproduce.sh`"),
        || md.clone(),
    )?;

    // `bisect` over the same commits, on the initcall check.
    let base = s["base_commit"].as_str().unwrap_or("").to_owned();
    let res2 = dir.join("bisect");
    let bisect = |res: &Path, what: &str, extra: &[&str]| {
        let mut args = vec![
            "bisect",
            "x86_64-lto-none",
            "--kernel-src",
            tree_arg,
            "--good",
            &base,
            "--bad",
            &culprit,
            "--what",
            what,
            "--results",
            res.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(harness(&args))
    };
    let out = bisect(&res2, "initcalls.static", &[])?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ensure(out.status.code() == Some(0), || describe(&out))?;
    ensure(
        err.contains(&format!("bisect: first bad commit: {}", &culprit[..12])),
        || describe(&out),
    )?;
    // Again: resumed from bisect.json, nothing built or booted.
    let out = bisect(&res2, "initcalls.static", &[])?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ensure(
        out.status.code() == Some(0)
            && err.contains("2 points from an earlier run")
            && !err.contains("build: started")
            && !err.contains("boot: started"),
        || describe(&out),
    )?;
    // A bad end whose boot cannot finish, bisected on a check the boot
    // decides: retried once, then undecided (a static check such as
    // initcalls.static would still say bad without a boot, rightly).
    let res3 = dir.join("untestable");
    let out = bisect(&res3, "initcalls.boot", &["--timeout", "1"])?;
    ensure(out.status.code() == Some(2), || describe(&out))?;
    let b = read(&res3.join("bisect.json"))?;
    ensure(
        b["outcome"]["kind"] == "bad_untestable"
            && b["points"][0]["verdict"] == "skip"
            && b["points"][0]["attempts"] == 2,
        || format!("{b:#}"),
    )?;
    tree_untouched(&tree, &head)
}

/// A series whose second patch does not apply: stops naming the patch,
/// its subject and the file, builds nothing, leaves no worktree behind.
fn series_that_does_not_apply_is_named() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("series-bad");
    let tree = kernel_git_tree()?;
    let head = git(&tree, &["rev-parse", "HEAD"])?;
    let files = make_series(&tree, &dir.join("patches"), &[DOC_PATCH, LATE_PATCH])?;
    ensure(files.len() == 2, || format!("format-patch made {files:?}"))?;
    // Patch 2 as if written against another tree: its context is not here.
    let p2 = std::fs::read_to_string(&files[1]).unwrap();
    ensure(
        p2.contains("-__initcall(register_kernel_offset_dumper);"),
        || p2.clone(),
    )?;
    std::fs::write(
        &files[1],
        p2.replace(
            "-__initcall(register_kernel_offset_dumper);",
            "-subsys_initcall(register_kernel_offset_dumper);",
        ),
    )
    .unwrap();
    let res = dir.join("results");
    let t = Instant::now();
    let out = run(harness(&[
        "series",
        "x86_64-lto-none",
        "--kernel-src",
        tree.to_str().unwrap(),
        "--base",
        "master",
        "--series",
        dir.join("patches").to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(1), || describe(&out))?;
    ensure(
        err.contains("patch 2/2 \"[PATCH 2/2] x86/setup: register the kernel offset dumper at late_initcall\" does not apply")
            && err.contains("arch/x86/kernel/setup.c"),
        || format!("the failure is not named:\n{err}"),
    )?;
    ensure(!err.contains("build: started"), || {
        "something was built".into()
    })?;
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(res.join("series.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    ensure(
        r["not_applied"]["index"] == 2 && r["points"].as_array().is_some_and(|p| p.is_empty()),
        || format!("series.json: {r}"),
    )?;
    ensure(t.elapsed() < Duration::from_secs(300), || {
        format!("took {:?} for a series that does not apply", t.elapsed())
    })?;
    tree_untouched(&tree, &head)
}

/// `lto-harness mutate initcall-order-reversed` on the default source's
/// git tree (the series trials' tree, so the base x86_64-lto-none kernel
/// and its `O=` dir are shared with them): the unmutated kernels pass, the
/// thin-LTO kernel with the reversed ordering script fails
/// `initcalls.static`, and the LTO-none control, which does not use the
/// script, still passes. The base kernels are the shipped cases' (the
/// tree's origin is the tarball); the mutant kernels are seeded builds.
fn mutate_initcall_order_reversed_is_killed() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let tree = kernel_git_tree()?;
    let head = git(&tree, &["rev-parse", "HEAD"])?;
    let dir = out_dir("mutate-initcall-order");
    let res = dir.join("results");
    let t = Instant::now();
    let out = run(harness(&[
        "mutate",
        "initcall-order-reversed",
        "--results",
        res.to_str().unwrap(),
    ]))?;
    eprintln!(
        "mutate::initcall_order_reversed_is_killed: lto-harness mutate took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(res.join("mutate.json"))
        .map_err(|e| format!("no mutate.json: {e}\n{}", describe(&out)))?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    ensure(out.status.code() != Some(1), || {
        format!(
            "exit 1: a mutant survived or a control or base failed\n{text}\n{}",
            describe(&out)
        )
    })?;
    let base = r["base_kernels"]["cases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut base_names: Vec<&str> = base.iter().filter_map(|c| c["case"].as_str()).collect();
    base_names.sort_unstable();
    ensure(
        base_names == ["x86_64-lto-none", "x86_64-lto-thin-cfi"]
            && base.iter().all(|c| c["status"] == "pass"),
        || format!("the unmutated kernels did not both pass: {base:?}"),
    )?;
    let m = &r["mutants"][0];
    ensure(m["name"] == "initcall-order-reversed", || format!("{m}"))?;
    let row = |case: &str| {
        m["cases"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["case"] == case))
            .cloned()
            .unwrap_or_default()
    };
    let thin = row("x86_64-lto-thin-cfi");
    let failed: Vec<&str> = thin["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["check"].as_str())
        .collect();
    ensure(
        thin["verdict"] == "killed" && failed.contains(&"initcalls.static"),
        || format!("x86_64-lto-thin-cfi with the mutant: {thin}"),
    )?;
    let none = row("x86_64-lto-none");
    ensure(
        none["role"] == "control" && none["verdict"] == "control_ok",
        || format!("the control x86_64-lto-none: {none}"),
    )?;
    // The table, printed and written.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let md = std::fs::read_to_string(res.join("mutate.md")).map_err(|e| e.to_string())?;
    for table in [stdout.as_ref(), md.as_str()] {
        ensure(
            table.contains(
                "| initcall-order-reversed | x86_64-lto-thin-cfi | killed | initcalls.static: ",
            ) && table
                .contains("| initcall-order-reversed | x86_64-lto-none (control) | control_ok |"),
            || format!("the table lacks the verdicts:\n{table}"),
        )?;
    }
    // Each point's usual results.
    for point in ["base", "initcall-order-reversed"] {
        results(&res.join(point)).map_err(|e| e.to_string())?;
    }
    tree_untouched(&tree, &head)
}

/// `mutate --dry-run --include-slow`: every shipped mutant's patch for the
/// tree's kernel series applies, on Debian's 6.12 and on the 7.x tarball
/// beside the repository (committed once as a git tree in the cache);
/// where a mutant has a patch for 7.1, the 7.x run names it.
fn mutate_every_patch_applies_to_each_series() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("mutate-dry-run");
    let mut trees: Vec<Option<PathBuf>> = vec![None];
    trees.extend(linux7_tarball().map(Some));
    for tree in trees {
        let mut args = vec!["mutate", "--dry-run", "--include-slow", "--results"];
        let results = dir.to_str().unwrap().to_owned();
        args.push(&results);
        let src = tree.as_ref().map(|t| t.to_string_lossy().into_owned());
        if let Some(t) = &src {
            args.extend(["--kernel-src", t.as_str()]);
        }
        let out = run(harness(&args))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure(out.status.success(), || {
            format!("mutate --dry-run on {src:?}:\n{}", describe(&out))
        })?;
        let rows: Vec<&str> = stdout.lines().skip(1).collect();
        let mutants = std::fs::read_dir(repo().join("cases/mutants"))
            .map_err(|e| e.to_string())?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
            .count();
        ensure(rows.len() == mutants, || {
            format!("{} rows for {mutants} mutants:\n{stdout}", rows.len())
        })?;
        let seven = src.is_some();
        let per_series = rows.iter().filter(|r| r.contains("-7.1.patch")).count();
        ensure((per_series > 0) == seven, || {
            format!("7.1 patches chosen {per_series} times on {src:?}:\n{stdout}")
        })?;
        if seven {
            ensure(
                stdout
                    .lines()
                    .next()
                    .is_some_and(|l| l.contains("(Linux 7.")),
                || format!("no 7.x version in:\n{stdout}"),
            )?;
        }
    }
    Ok(())
}

/// `lto-harness mutate` with its default selection (every mutant not
/// tagged `slow`): each is killed on every case it names, by one of the
/// checks its `killed_by` names (`killed`, not `killed_elsewhere`), and
/// every control still passes. The mutant kernels are incremental builds
/// seeded from the shipped cases' `O=` dirs, cached after the first run.
fn mutate_quick_mutants_are_killed_where_they_aim() -> Result<(), Failed> {
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let tree = kernel_git_tree()?;
    let head = git(&tree, &["rev-parse", "HEAD"])?;
    let cases = lto_harness::case::load_dir(&repo().join("cases")).map_err(|e| format!("{e}"))?;
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let all = lto_harness::mutate::file::load_dir(&repo().join("cases/mutants"), &names)
        .map_err(|e| format!("{e}"))?;
    let quick: Vec<&str> = lto_harness::mutate::file::select(&all, &[], false)?
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    ensure(quick.len() >= 2, || format!("quick mutants: {quick:?}"))?;
    let res = out_dir("mutate-quick").join("results");
    let t = Instant::now();
    let out = run(harness(&["mutate", "--results", res.to_str().unwrap()]))?;
    eprintln!(
        "mutate::quick_mutants_are_killed_where_they_aim: {} mutants in {:.1} s",
        quick.len(),
        t.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(res.join("mutate.json"))
        .map_err(|e| format!("no mutate.json: {e}\n{}", describe(&out)))?;
    ensure(out.status.code() == Some(0), || {
        format!("mutate did not exit 0\n{text}\n{}", describe(&out))
    })?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mutants = r["mutants"].as_array().cloned().unwrap_or_default();
    let ran: Vec<&str> = mutants.iter().filter_map(|m| m["name"].as_str()).collect();
    ensure(ran == quick, || format!("ran {ran:?}, expected {quick:?}"))?;
    for m in &mutants {
        let killed_by: Vec<&str> = m["killed_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for row in m["cases"].as_array().into_iter().flatten() {
            let failed: Vec<&str> = row["failures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["check"].as_str())
                .collect();
            let ok = match row["role"].as_str() {
                Some("case") => {
                    row["verdict"] == "killed" && failed.iter().any(|c| killed_by.contains(c))
                }
                Some("control") => row["verdict"] == "control_ok" && failed.is_empty(),
                _ => false,
            };
            ensure(ok, || {
                format!("mutant {}: {row}\nkilled_by: {killed_by:?}", m["name"])
            })?;
        }
    }
    tree_untouched(&tree, &head)
}

/// CI sharding: `run --shard 1/2` and `--shard 2/2`, then `merge`, give
/// the same cases, statuses and checks as one unsharded run, and each shard
/// ran a different, non-empty share. (Warm: both kernels are cached.)
fn sharded_runs_merge_to_one_run() -> Result<(), Failed> {
    let dir = out_dir("ci-shard-merge");
    let names = ["x86_64-lto-none", "arm64-lto-none"];
    let run_into = |sub: &str, shard: Option<&str>| -> Result<(Option<i32>, Value), Failed> {
        let res = dir.join(sub);
        let mut args = vec!["run"];
        args.extend(names);
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        args.extend(["--results", res.to_str().unwrap()]);
        let out = run(harness(&args))?;
        let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
        Ok((out.status.code(), r))
    };
    // Per case, sorted by name: its status and each check's name and status.
    type Verdicts = Vec<(String, String, Vec<(String, String)>)>;
    let verdicts = |r: &Value| -> Verdicts {
        let mut v: Verdicts = r["cases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let checks = c["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| (k["name"].to_string(), k["status"].to_string()))
                    .collect();
                (c["name"].to_string(), c["status"].to_string(), checks)
            })
            .collect();
        v.sort();
        v
    };
    let (a_code, a) = run_into("A", None)?;
    let want = verdicts(&a);
    ensure(want.len() == names.len(), || {
        format!("the unsharded run has {} cases: {a}", want.len())
    })?;
    let mut shards = Vec::new();
    for (sub, s) in [("B1", "1/2"), ("B2", "2/2")] {
        let (_, r) = run_into(sub, Some(s))?;
        let mine: Vec<String> = verdicts(&r).into_iter().map(|v| v.0).collect();
        ensure(!mine.is_empty(), || format!("shard {s} ran no case"))?;
        shards.push(mine);
    }
    ensure(shards[0].iter().all(|n| !shards[1].contains(n)), || {
        format!("the shards overlap: {shards:?}")
    })?;
    let m = dir.join("M");
    let out = run(harness(&[
        "merge",
        "--results",
        m.to_str().unwrap(),
        dir.join("B1").to_str().unwrap(),
        dir.join("B2").to_str().unwrap(),
    ]))?;
    let merged = results(&m).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(out.status.code() == a_code, || {
        format!(
            "merge exited unlike the unsharded run ({a_code:?})\n{}",
            describe(&out)
        )
    })?;
    let got = verdicts(&merged);
    ensure(got == want, || {
        format!("merged:\n{got:#?}\nunsharded:\n{want:#?}")
    })?;
    let order: Vec<&str> = merged["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    ensure(order.windows(2).all(|w| w[0] < w[1]), || {
        format!("merged cases not in name order: {order:?}")
    })?;
    ensure(merged["summary"] == a["summary"], || {
        format!("summary {} vs {}", merged["summary"], a["summary"])
    })?;
    ensure(m.join("junit.xml").exists(), || {
        "merge wrote no junit.xml".into()
    })?;
    Ok(())
}

/// Two real runs (fixture cases on the x86_64-lto-none kernel): the
/// baseline, and a new run with --retries 1 in which one case breaks, one
/// keeps failing, one is fixed, one panics on its first boot only, one is
/// gone and one is new. compare classifies each; gate fails only on the
/// regression.
fn compare_and_gate_classify_a_real_pair() -> Result<(), Failed> {
    let dir = out_dir("compare");
    let fixtures = "harness/tests/fixtures/compare";
    let (old, new) = (dir.join("old"), dir.join("new"));
    let out = run(harness(&[
        "run",
        "--cases",
        &format!("{fixtures}/old"),
        "--results",
        old.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(1), || describe(&out))?;
    let out = run(harness(&[
        "run",
        "--cases",
        &format!("{fixtures}/new"),
        "--retries",
        "1",
        "--results",
        new.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(1), || describe(&out))?;
    let out = run(harness(&[
        "compare",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--json",
    ]))?;
    ensure(out.status.success(), || describe(&out))?;
    let c: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let class_of = |case: &str, item: &str| -> String {
        c["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["case"] == case && e["item"] == item)
            .and_then(|e| e["class"].as_str())
            .unwrap_or("(absent)")
            .to_owned()
    };
    for (case, item, want) in [
        ("breaks", "check:cfi.CFI_FORWARD_PROTO", "regression"),
        ("known", "check:cfi.CFI_FORWARD_PROTO", "persistent_failure"),
        ("fixed", "check:cfi.CFI_FORWARD_PROTO", "fixed"),
        ("flaky", "boot", "unstable"),
        ("steady", "boot", "pass"),
        ("gone", "boot", "missing"),
        ("fresh", "boot", "new"),
    ] {
        let got = class_of(case, item);
        ensure(got == want, || {
            format!("{case} {item}: {got}, expected {want}")
        })?;
    }
    ensure(c["counts"]["regression"] == 1, || {
        format!("counts: {}", c["counts"])
    })?;
    // The unstable boot really was retried: a panic, then a clean boot.
    let r = results(&new)?;
    let flaky = r["cases"]
        .as_array()
        .and_then(|cs| cs.iter().find(|x| x["name"] == "flaky"))
        .ok_or("no flaky case")?;
    ensure(
        flaky["boot"]["attempts"] == serde_json::json!(["fail", "pass"])
            && flaky["status"] == "pass",
        || format!("flaky: {}", flaky["boot"]),
    )?;
    let junit = std::fs::read_to_string(new.join("junit.xml")).map_err(|e| e.to_string())?;
    ensure(junit.contains("<flakyFailure>"), || {
        "junit.xml has no flakyFailure".into()
    })?;
    // The outputs CI systems read, read by real consumers: junitparser
    // agrees with results.json on testcases and failures, and kcidb-io's
    // schema accepts kcidb.json.
    let cases = r["cases"].as_array().cloned().unwrap_or_default();
    let testcases: usize = cases
        .iter()
        .map(|c| 2 + c["checks"].as_array().map_or(0, |k| k.len()))
        .sum();
    let failures: usize = cases
        .iter()
        .map(|c| {
            c["checks"]
                .as_array()
                .map_or(0, |k| k.iter().filter(|k| k["status"] == "fail").count())
        })
        .sum();
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\nfrom junitparser import JUnitXml\nx = JUnitXml.fromfile(sys.argv[1])\n\
             print(sum(1 for s in x for c in s), x.failures)",
        )
        .arg(new.join("junit.xml"))
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let got = String::from_utf8_lossy(&py.stdout).trim().to_owned();
    ensure(
        py.status.success() && got == format!("{testcases} {failures}"),
        || {
            format!(
            "junitparser read `{got}`, results.json has {testcases} testcases, {failures} failures \
             (pip install junitparser; ci/setup does): {}",
            String::from_utf8_lossy(&py.stderr)
        )
        },
    )?;
    let py = Command::new("python3")
        .arg("-c")
        .arg("import json, sys, kcidb_io\nkcidb_io.schema.LATEST.validate(json.load(open(sys.argv[1])))")
        .arg(new.join("kcidb.json"))
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    ensure(py.status.success(), || {
        format!(
            "kcidb.json does not validate (pip install kcidb-io; ci/setup does): {}",
            String::from_utf8_lossy(&py.stderr)
        )
    })?;
    // gate: non-zero only because of the regression...
    let out = run(harness(&[
        "gate",
        "--baseline",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(
        out.status.code() == Some(1) && text.contains("regression         breaks"),
        || describe(&out),
    )?;
    // ...so known failures alone do not fail it.
    let out = run(harness(&[
        "gate",
        "--baseline",
        new.to_str().unwrap(),
        new.to_str().unwrap(),
    ]))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(
        out.status.code() == Some(0) && text.contains("persistent failure"),
        || describe(&out),
    )?;
    // A night on which nothing was judged is not green: every boot of the
    // baseline's cases times out (incomplete, exit 2), and gate says 2
    // and why, whether it is given that run or makes it itself.
    let stalled = dir.join("stalled");
    let out = run(harness(&[
        "run",
        "--cases",
        &format!("{fixtures}/old"),
        "--timeout",
        "1",
        "--results",
        stalled.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(2), || describe(&out))?;
    let out = run(harness(&[
        "gate",
        "--baseline",
        old.to_str().unwrap(),
        stalled.to_str().unwrap(),
    ]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && err.contains("gate: incomplete: steady boot")
            && err.contains("not green"),
        || describe(&out),
    )?;
    let out = run(harness(&[
        "gate",
        "--baseline",
        old.to_str().unwrap(),
        "--cases",
        &format!("{fixtures}/old"),
        "--timeout",
        "1",
        "--results",
        dir.join("stalled-now").to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(2), || describe(&out))?;
    Ok(())
}

/// `ci/apt-mirror` (ci/setup's source of the backports line) takes the
/// mirror from the machine's apt configuration, not a hard-coded one:
/// with an `apt-get` that reports a local mirror, that mirror; for a
/// release apt has no source for, exit 1 and a message.
fn apt_mirror_is_the_machines_own() -> Result<(), Failed> {
    let dir = out_dir("apt-mirror");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let fake = bin.join("apt-get");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s\\n' 'bookworm-security http://sec.example/debian-security' \
         'bookworm http://mirror.example/debian' 'bookworm http://second.example/debian'\n",
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = repo().join("ci/apt-mirror");
    let out = Command::new(&script)
        .arg("bookworm")
        .env("PATH", &path)
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    ensure(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout) == "http://mirror.example/debian\n",
        || describe(&out),
    )?;
    let out = Command::new(&script)
        .arg("trixie")
        .env("PATH", &path)
        .output()
        .map_err(|e| e.to_string())?;
    ensure(
        out.status.code() == Some(1)
            && String::from_utf8_lossy(&out.stderr).contains("no apt source for trixie"),
        || describe(&out),
    )
}

/// Processes (other than this test) whose command line mentions `needle`,
/// with their names: what a fault must not leave behind.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Zombies have no command line; `stat` says who they were.
        if cmdline.contains(needle) {
            found.push(format!(
                "{pid}: {}",
                cmdline.chars().take(160).collect::<String>()
            ));
        }
    }
    found
}

/// Waits up to `limit` for `pred`, polling.
fn wait_for(limit: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// The fault table's signal rows, on real builds. A git worktree of the
/// default tree with one changed file (unique per run, so the kernel is
/// never cached) is built as x86_64-lto-none: its `O=` dir is seeded from
/// the shipped kernel's, so each `make` is incremental. The harness gets
/// SIGINT, then SIGTERM, then SIGKILL while its make runs: 130 and 143
/// within 5 s, and after each (SIGKILL included, through the watchdog) no
/// process mentioning the worktree's `O=` dir within 5 s and no results;
/// then two runs at once: one builds, the other waits and reuses its
/// kernel, and both pass; then its cache entry damaged twice (vmlinux
/// cut, metadata edited): each time detected, rebuilt and passed.
/// Where [`signals_during_a_build_leave_nothing`] puts its worktree, under
/// its output directory.
const FAULT_WORKTREE: &str = "/lto-harness-tests/fault-signals/linux\n";

/// Removes the fault trial's worktree from the cached kernel tree when the
/// trial ends, passed or not.
struct WorktreeGuard {
    tree: PathBuf,
    worktree: PathBuf,
}

impl Drop for WorktreeGuard {
    fn drop(&mut self) {
        let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
        let wt = self.worktree.to_string_lossy();
        let _ = git(&self.tree, &["worktree", "remove", "--force", &wt]);
        let _ = std::fs::remove_dir_all(&self.worktree);
        let _ = git(&self.tree, &["worktree", "prune"]);
    }
}

fn signals_during_a_build_leave_nothing() -> Result<(), Failed> {
    let dir = out_dir("fault-signals");
    // The donor of the seeded O= dir: the shipped kernel (cached).
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--results",
        dir.join("donor").to_str().unwrap(),
    ]))?;
    ensure(out.status.success(), || describe(&out))?;
    let wt = dir.join("linux");
    let cached_tree = {
        let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
        let tree = kernel_git_tree()?;
        let _ = git(
            &tree,
            &["worktree", "remove", "--force", wt.to_str().unwrap()],
        );
        let _ = std::fs::remove_dir_all(&wt);
        git(&tree, &["worktree", "prune"])?;
        git(
            &tree,
            &[
                "worktree",
                "add",
                "--detach",
                wt.to_str().unwrap(),
                "master",
            ],
        )?;
        tree
    };
    let _remove = WorktreeGuard {
        tree: cached_tree,
        worktree: wt.clone(),
    };
    let stamp = format!(
        "\n/* lto-harness fault trial {} */\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let file = wt.join("init/version.c");
    let mut text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    text.push_str(&stamp);
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let start = |n: usize| {
        harness(&[
            "run",
            "x86_64-lto-none",
            "--kernel-src",
            wt.to_str().unwrap(),
            "--results",
            dir.join(format!("run{n}")).to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(e.to_string()))
    };
    // The O= dir's make, found by its command line (`O=<cache>/work/…-x86_64-lto-none`
    // with the worktree as its source: `-C <wt>`).
    let make_running = || {
        processes_mentioning(wt.to_str().unwrap())
            .iter()
            .any(|p| p.contains("make") && p.contains("O="))
    };
    for (n, sig, code) in [
        (1, "-INT", Some(130)),
        (2, "-TERM", Some(143)),
        (3, "-KILL", None),
    ] {
        let mut child = start(n)?;
        let seen = wait_for(Duration::from_secs(900), || {
            make_running() || matches!(child.try_wait(), Ok(Some(_)))
        });
        ensure(seen && make_running(), || {
            format!("run {n}: make never ran")
        })?;
        // Into the build, not its first instant.
        std::thread::sleep(Duration::from_secs(3));
        let t = Instant::now();
        signal(child.id(), sig);
        let exited = wait_for(Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        let status = child.wait().map_err(|e| e.to_string())?;
        ensure(exited, || format!("run {n}: still running 5 s after {sig}"))?;
        if let Some(code) = code {
            ensure(status.code() == Some(code), || {
                format!("run {n}: {sig} gave {status}, expected exit {code}")
            })?;
        }
        let clean = wait_for(Duration::from_secs(5), || {
            processes_mentioning(wt.to_str().unwrap()).is_empty()
        });
        ensure(clean, || {
            format!(
                "run {n}: {:.1} s after {sig}, processes left: {:?}",
                t.elapsed().as_secs_f64(),
                processes_mentioning(wt.to_str().unwrap())
            )
        })?;
        let published = std::fs::read_to_string(dir.join(format!("run{n}/results.json"))).is_ok();
        ensure(!published, || {
            format!("run {n}: wrote results although interrupted")
        })?;
    }
    // The next runs recover (locks, the half-made O= dir): two at once on
    // the same cache and kernel; one builds, the other waits for it and
    // reuses its kernel; both pass.
    let (a, b) = (start(4)?, start(5)?);
    let (a, b) = (
        a.wait_with_output().map_err(|e| e.to_string())?,
        b.wait_with_output().map_err(|e| e.to_string())?,
    );
    ensure(a.status.success() && b.status.success(), || {
        format!("concurrent runs: {} / {}", a.status, b.status)
    })?;
    let reused: Vec<bool> = [4, 5]
        .iter()
        .map(|n| {
            results(&dir.join(format!("run{n}")))
                .map(|r| r["cases"][0]["build"]["reused"] == true)
                .unwrap_or(false)
        })
        .collect();
    ensure(reused.iter().filter(|r| **r).count() == 1, || {
        format!("expected one run to build and one to reuse, reused: {reused:?}")
    })?;
    // A damaged cache entry (a truncated vmlinux, then an edited
    // metadata.json) is found by its checksums, rebuilt and never judged.
    let entry = results(&dir.join("run4"))?["cases"][0]["build"]["artifacts"]
        .as_str()
        .map(PathBuf::from)
        .ok_or("no artifacts in run 4's results")?;
    type Damage<'a> = (&'a str, &'a dyn Fn(&Path) -> std::io::Result<()>);
    let damages: [Damage; 2] = [
        ("vmlinux", &|e| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(e.join("vmlinux"))?;
            f.set_len(4096)
        }),
        ("metadata.json", &|e| {
            let m = std::fs::read_to_string(e.join("metadata.json"))?;
            std::fs::write(
                e.join("metadata.json"),
                m.replacen("\"jobs\": ", "\"jobs\": 1", 1),
            )
        }),
    ];
    for (n, (what, damage)) in damages.into_iter().enumerate() {
        damage(&entry).map_err(|e| format!("damaging {what}: {e}"))?;
        let res = dir.join(format!("damaged{n}"));
        let out = run(harness(&[
            "run",
            "x86_64-lto-none",
            "--kernel-src",
            wt.to_str().unwrap(),
            "--results",
            res.to_str().unwrap(),
        ]))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let build = results(&res)?["cases"][0]["build"].clone();
        ensure(
            out.status.success()
                && err.contains(&format!("is damaged ({what} has changed"))
                && build["reused"] == false,
            || format!("damaged {what}: build {build}\n{}", describe(&out)),
        )?;
    }
    // The trial's kernel is unique to this run: do not keep it.
    let _ = std::fs::remove_dir_all(&entry);
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let tree = kernel_git_tree()?;
    git(
        &tree,
        &["worktree", "remove", "--force", wt.to_str().unwrap()],
    )?;
    Ok(())
}

/// The fault table's boot rows, on the x86_64-hang fixture (init that
/// never ends): QEMU killed from outside mid-boot is `incomplete` (exit 2)
/// with its console log kept; the harness killed outright (SIGKILL)
/// mid-boot leaves no QEMU within 5 s.
fn kills_during_a_boot() -> Result<(), Failed> {
    let dir = out_dir("fault-boot");
    let start = |sub: &str| {
        harness(&[
            "run",
            "--cases",
            "harness/tests/fixtures/cases",
            "x86_64-hang",
            "--timeout",
            "300",
            "--results",
            dir.join(sub).to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(e.to_string()))
    };
    let in_init = |sub: &str| {
        std::fs::read_to_string(dir.join(sub).join("x86_64-hang/console.log"))
            .unwrap_or_default()
            .contains("@@LTOH BEGIN")
    };
    let qemus = |sub: &str| qemu_processes_mentioning(dir.join(sub).to_str().unwrap());
    // QEMU killed from outside.
    let mut child = start("qemu-killed")?;
    ensure(
        wait_for(Duration::from_secs(1800), || {
            in_init("qemu-killed") || matches!(child.try_wait(), Ok(Some(_)))
        }) && in_init("qemu-killed"),
        || "the guest never started its init".into(),
    )?;
    for q in qemus("qemu-killed") {
        signal(
            q.split(':').next().unwrap_or("").parse().unwrap_or(0),
            "-KILL",
        );
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    ensure(status.code() == Some(2), || {
        format!("QEMU killed: harness exit {status}, expected 2")
    })?;
    let r = results(&dir.join("qemu-killed"))?;
    let boot = &r["cases"][0]["boot"];
    ensure(boot["status"] == "incomplete", || format!("boot: {boot}"))?;
    let log = std::fs::read_to_string(dir.join("qemu-killed/x86_64-hang/console.log"))
        .map_err(|e| format!("console log not kept: {e}"))?;
    ensure(log.contains("@@LTOH BEGIN"), || {
        "console log lost its lines".into()
    })?;
    // The harness killed outright.
    let mut child = start("harness-killed")?;
    ensure(
        wait_for(Duration::from_secs(1800), || {
            in_init("harness-killed") || matches!(child.try_wait(), Ok(Some(_)))
        }) && !qemus("harness-killed").is_empty(),
        || "no QEMU while the guest runs".into(),
    )?;
    signal(child.id(), "-KILL");
    let _ = child.wait();
    ensure(
        wait_for(Duration::from_secs(5), || {
            qemus("harness-killed").is_empty()
        }),
        || {
            format!(
                "QEMU outlived a SIGKILLed harness: {:?}",
                qemus("harness-killed")
            )
        },
    )
}

/// Unmounts a test's tmpfs however the test ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The fault table's results-directory rows: a run into a tmpfs passes;
/// with the tmpfs full, and then mounted read-only, a run exits 2 before
/// building or booting anything, with an error naming the directory, and
/// the previous run's results.json is byte for byte what it was. Needs
/// root (mount); CI runs as root.
fn results_dir_full_or_read_only() -> Result<(), Failed> {
    let dir = out_dir("fault-results").join("mnt");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let _ = Command::new("umount").arg("-l").arg(&dir).status();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&dir)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    ensure(ok.success(), || {
        "mount -t tmpfs failed: this trial needs root".into()
    })?;
    let _unmount = Mounted(dir.clone());
    let d = dir.to_str().unwrap();
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    ensure(out.status.success(), || describe(&out))?;
    let before = std::fs::read(dir.join("results.json")).map_err(|e| e.to_string())?;
    // Full: fill what is left.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", dir.join("filler").display()))
        .stderr(Stdio::null())
        .status();
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2) && err.contains(d) && err.contains("disk full"),
        || format!("full results dir: {}", describe(&out)),
    )?;
    ensure(
        std::fs::read(dir.join("results.json")).ok() == Some(before.clone()),
        || "a run into a full directory changed the previous results.json".into(),
    )?;
    // Read-only.
    std::fs::remove_file(dir.join("filler")).map_err(|e| e.to_string())?;
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(ok.success(), || "remount,ro failed".into())?;
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2) && err.contains(d) && err.contains("Read-only"),
        || format!("read-only results dir: {}", describe(&out)),
    )?;
    ensure(
        std::fs::read(dir.join("results.json")).ok() == Some(before),
        || "a run into a read-only directory changed the previous results.json".into(),
    )
}

/// The fault table's input rows. A missing tool (QEMU, then clang) is an
/// error and exit 2 within seconds, before the source is even extracted,
/// naming the Debian package; a damaged kernel tarball is a clear
/// error naming it, exit 2, with nothing published in the cache.
fn missing_tools_and_a_damaged_tarball() -> Result<(), Failed> {
    let dir = out_dir("fault-inputs");
    // PATH with every tool but qemu-system-x86_64.
    let bin = dir.join("bin");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for p in std::env::var("PATH").unwrap_or_default().split(':') {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name != "qemu-system-x86_64" && !bin.join(&name).exists() {
                let _ = std::os::unix::fs::symlink(e.path(), bin.join(&name));
            }
        }
    }
    let cache = dir.join("cache");
    // `run x86_64-lto-none` on the trial's cache with only `path` on PATH.
    let run_on_path = |path: &Path, results: &str| {
        let mut cmd = harness(&[
            "run",
            "x86_64-lto-none",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--results",
            dir.join(results).to_str().unwrap(),
        ]);
        cmd.env("PATH", path);
        run(cmd)
    };
    let t = Instant::now();
    let out = run_on_path(&bin, "r1")?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && err.contains("install the Debian package `qemu-system-x86`")
            && t.elapsed() < Duration::from_secs(20),
        || format!("no QEMU: {}", describe(&out)),
    )?;
    ensure(
        !cache.join("src").exists() && !cache.join("builds").exists(),
        || "the source was extracted or something built without QEMU".into(),
    )?;
    // Without clang (PATH without clang*, ld.lld* and llvm-*).
    let noclang = dir.join("bin-noclang");
    let _ = std::fs::remove_dir_all(&noclang);
    std::fs::create_dir_all(&noclang).map_err(|e| e.to_string())?;
    for e in std::fs::read_dir(&bin).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !(n.starts_with("clang") || n.starts_with("ld.lld") || n.starts_with("llvm-")) {
            let _ = std::os::unix::fs::symlink(e.path(), noclang.join(&n));
        }
    }
    let _ = std::os::unix::fs::symlink(
        "/usr/bin/qemu-system-x86_64",
        noclang.join("qemu-system-x86_64"),
    );
    let out = run_on_path(&noclang, "r0")?;
    ensure(
        out.status.code() == Some(2)
            && String::from_utf8_lossy(&out.stderr)
                .contains("install the Debian package `clang-19 lld-19 llvm-19`"),
        || format!("no clang: {}", describe(&out)),
    )?;
    // A damaged tarball: Debian's, cut to 8 MiB.
    let bad = dir.join("linux-source-6.12.tar.xz");
    let data = std::fs::read("/usr/src/linux-source-6.12.tar.xz").map_err(|e| e.to_string())?;
    std::fs::write(&bad, &data[..8 << 20]).map_err(|e| e.to_string())?;
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--kernel-src",
        bad.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--results",
        dir.join("r2").to_str().unwrap(),
    ]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && err.contains(bad.to_str().unwrap())
            && err.contains("the tarball is damaged"),
        || format!("damaged tarball: {}", describe(&out)),
    )?;
    let published: Vec<_> = std::fs::read_dir(cache.join("src"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("metadata.json").exists())
        .map(|e| e.path())
        .collect();
    ensure(published.is_empty(), || {
        format!("a damaged tarball was published: {published:?}")
    })
}

/// Bad inputs of every kind the subcommands read (random bytes, an empty
/// and a huge log, broken YAML, damaged results, a foreign ELF file as a
/// module): a clear error or a verdict, exit 1 or 2, never a panic (101).
fn bad_inputs_never_panic() -> Result<(), Failed> {
    let dir = out_dir("bad-inputs");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let file = |name: &str, bytes: &[u8]| -> Result<String, Failed> {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
        Ok(p.to_str().unwrap().to_owned())
    };
    let noise = file("noise.bin", &random(1 << 20))?;
    let empty = file("empty.log", b"")?;
    let mut huge = Vec::new();
    while huge.len() < 40 << 20 {
        huge.extend_from_slice(
            b"[    1.000000] calling  __initstub__kmod_x__1_2_f6+0x0/0x10 @ 1\n",
        );
        huge.extend_from_slice(&random(64));
    }
    let huge = file("huge.log", &huge)?;
    let text = std::fs::read_to_string(good_path()).map_err(|e| e.to_string())?;
    let cut = file("cut.json", &text.as_bytes()[..text.len() / 2])?;
    let wrong = file("wrong.json", br#"{"cases": 7}"#)?;
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases).map_err(|e| e.to_string())?;
    std::fs::write(cases.join("bad.yaml"), random(4096)).map_err(|e| e.to_string())?;
    let foreign = Path::new("/bin/true").to_str().unwrap();
    let res = dir.join("out");
    let r = res.to_str().unwrap();
    let good = good_path();
    let runs: Vec<Vec<&str>> = vec![
        vec!["judge", &noise],
        vec!["judge", &empty],
        vec!["judge", &huge],
        vec!["judge", foreign],
        vec!["judge", "/nonexistent/log"],
        vec!["compare", &noise, &cut],
        vec!["compare", &wrong, &wrong],
        vec!["gate", "--baseline", &cut, &noise],
        vec!["gate", "--baseline", &good, &wrong],
        vec!["merge", "--results", r, &noise, &cut],
        vec!["merge", "--results", r, &wrong],
        vec!["--cases", cases.to_str().unwrap(), "list"],
        vec!["--cases", cases.to_str().unwrap(), "run", "--results", r],
        vec!["series", "--series", &noise, "--results", r],
        vec!["bench", "nope-a", "nope-b", "--results", r],
    ];
    for args in runs {
        let t = Instant::now();
        let out = run(harness(&args))?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure(
            matches!(out.status.code(), Some(1) | Some(2))
                && !err.contains("panicked")
                && !err.contains("internal error"),
            || format!("{args:?}: {}", describe(&out)),
        )?;
        ensure(t.elapsed() < Duration::from_secs(120), || {
            format!("{args:?} took {:?}", t.elapsed())
        })?;
    }
    Ok(())
}

fn good_path() -> String {
    repo()
        .join("harness/tests/fixtures/results/all-pass.json")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `--accel auto` (the default) on this machine, where /dev/kvm exists and
/// KVM hangs before the kernel runs: a few seconds' KVM probe, then TCG,
/// recorded in results.json with the QEMU version; the next run takes the
/// answer from the memo (no probe). A fresh TMPDIR keeps the memo this
/// trial's own.
fn accel_auto_falls_back_to_tcg() -> Result<(), Failed> {
    let dir = out_dir("accel-auto");
    let tmp = dir.join("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    for (n, want) in [(1, "KVM showed no kernel banner in"), (2, "(memo ")] {
        let res = dir.join(format!("r{n}"));
        let mut cmd = harness(&["run", "x86_64-lto-none", "--results", res.to_str().unwrap()]);
        cmd.env("TMPDIR", &tmp);
        let t = Instant::now();
        let out = run(cmd)?;
        let err = String::from_utf8_lossy(&out.stderr);
        let kvm_works = err.contains(": KVM (") || err.contains("in ") && err.contains("s: KVM");
        ensure(
            out.status.success() && (err.contains(want) || kvm_works),
            || format!("run {n}: {}", describe(&out)),
        )?;
        let boot = results(&res)?["cases"][0]["boot"].clone();
        ensure(
            boot["accel"] == if kvm_works { "kvm" } else { "tcg" }
                && boot["qemu_version"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("QEMU emulator version")),
            || format!("run {n}: boot {boot}"),
        )?;
        eprintln!(
            "boot::accel_auto_falls_back_to_tcg: run {n} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The toolchain axis on a real kernel: `run --llvm -15,-19` is two
/// results of one case, told apart in results.json, JUnit, KCIDB and the
/// plan; clang 15 has no kCFI, so its variant is skipped with the reason
/// (the symbol Kconfig would drop) and nothing is built, while clang 19's
/// builds (the plain case's cached kernel: same key), boots and passes.
fn matrix_results_are_told_apart() -> Result<(), Failed> {
    let dir = out_dir("toolchain-matrix");
    let res = dir.join("r");
    let case = "x86_64-lto-full-cfi";
    let args = ["run", "--llvm", "-15,-19", case, "--results"];
    let mut cmd = harness(&args);
    cmd.arg(&res);
    let out = run(cmd)?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(out.status.success(), || {
        format!("a pass and a skip exit 0: {}", describe(&out))
    })?;
    let cases = r["cases"].as_array().cloned().unwrap_or_default();
    let by = |label: &str| {
        cases
            .iter()
            .find(|c| c["name"] == format!("{case}+{label}").as_str())
            .cloned()
            .ok_or_else(|| Failed::from(format!("no {case}+{label} in {r}")))
    };
    let (old, new) = (by("clang-15")?, by("clang-19")?);
    let why = old["build"]["message"].as_str().unwrap_or("");
    ensure(
        old["status"] == "skipped"
            && old["build"]["status"] == "skipped"
            && why.contains("CONFIG_CFI_CLANG")
            && why.contains("clang 16 or newer")
            && old["build"]["key"].is_null(),
        || format!("clang-15's variant: {old}"),
    )?;
    ensure(
        new["status"] == "pass"
            && new["toolchain"]
                .as_str()
                .is_some_and(|t| t.contains(" 19."))
            && new["variant"]["case"] == case
            && new["variant"]["llvm"] == "-19",
        || format!("clang-19's variant: {new}"),
    )?;
    let junit = std::fs::read_to_string(res.join("junit.xml")).map_err(|e| e.to_string())?;
    ensure(
        junit.contains(&format!("name=\"{case}+clang-15\""))
            && junit.contains(&format!("name=\"{case}+clang-19\""))
            && junit.contains("name=\"toolchain\""),
        || format!("junit.xml does not tell the toolchains apart:\n{junit}"),
    )?;
    let kcidb: Value = serde_json::from_str(
        &std::fs::read_to_string(res.join("kcidb.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let compilers: Vec<String> = kcidb["builds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["compiler"].as_str().unwrap_or("").to_owned())
        .collect();
    ensure(
        compilers.len() == 2
            && compilers.iter().any(|c| c.contains(" 15."))
            && compilers.iter().any(|c| c.contains(" 19.")),
        || format!("kcidb builds' compilers: {compilers:?}"),
    )?;
    let out = run(harness(&["plan", "--llvm", "-15,-19", case]))?;
    let plan: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    ensure(
        plan["include"].as_array().map(Vec::len) == Some(2)
            && plan["include"][0]["llvm"] == "-15"
            && plan["include"][1]["case"] == case,
        || format!("plan: {plan}"),
    )?;
    Ok(())
}

/// Kernels built elsewhere: Debian's own linux-image package (GCC, no LTO,
/// no vmlinux) boots and is judged with every LTO and kCFI check saying
/// it does not apply; a TuxMake-style directory made of the shipped
/// x86_64-lto-full-cfi kernel (bzImage, config, vmlinux.xz,
/// modules.tar.xz, build.log, metadata.json) passes as that case, the
/// checks whose build-directory inputs TuxMake does not keep skipping
/// with the reason. No check passes without its input.
fn kernels_built_elsewhere_are_judged_with_honest_skips() -> Result<(), Failed> {
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

/// The ELF readers on a real vmlinux (the shipped x86_64-lto-none and
/// arm64-lto-full-cfi kernels, from the cache), damaged where they look:
/// cut at its section headers, at the initcall tables and in the middle,
/// and with bits flipped in the ELF header, the section header table and
/// the sections the checks read. Each returns; none panics. (The property
/// tests do the same, many times over, on real modules.)
fn vmlinux_readers_survive_damage() -> Result<(), Failed> {
    use lto_harness::elf::*;
    use object::{Object, ObjectSection};
    struct Quiet;
    impl lto_harness::stages::build::BuildProgress for Quiet {
        fn phase(&self, _: &str, _: &str) {}
    }
    let err = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| err(&e))?;
    let source = lto_harness::stages::source::KernelSource::from_default_tarball(&cache)
        .map_err(|e| err(&e))?;
    let toolchain = lto_harness::host::toolchain::Toolchain::detect("-19").map_err(|e| err(&e))?;
    let builder = lto_harness::stages::build::Builder {
        cache: &cache,
        source: &source,
        toolchain: &toolchain,
        jobs: 2,
        cc_wrapper: None,
    };
    let cases = lto_harness::case::load_dir(&repo().join("cases")).map_err(|e| err(&e))?;
    for case in ["x86_64-lto-none", "arm64-lto-full-cfi"] {
        let c = cases
            .iter()
            .find(|c| c.name == case)
            .ok_or("no such case")?;
        // The shipped kernel: cached by the case trials (built here if not).
        let plan = builder.plan(c).map_err(|e| err(&e))?;
        let kernel = builder.build(&plan, &Quiet).map_err(|e| err(&e))?;
        let vmlinux = kernel
            .vmlinux
            .as_ref()
            .ok_or("a cached build has vmlinux")?;
        let data = std::fs::read(vmlinux).map_err(|e| e.to_string())?;
        let arch = if case.starts_with("arm64") {
            lto_harness::arch::PROFILES[1]
        } else {
            lto_harness::arch::PROFILES[0]
        };
        // Where the readers look.
        let mut spots: Vec<usize> = vec![0, 4, 16, 18, 32, 40, 58, 60, 62];
        let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
        for name in [
            ".init.data",
            "__ksymtab",
            "__kcrctab",
            "__mcount_loc",
            ".orc_unwind",
            ".notes",
            ".symtab",
            ".strtab",
        ] {
            if let Some(range) = file.section_by_name(name).and_then(|s| s.file_range()) {
                spots.push(range.0 as usize);
                spots.push((range.0 + range.1 / 2) as usize);
            }
        }
        let shoff = u64::from_le_bytes(data[40..48].try_into().unwrap_or_default()) as usize;
        spots.extend([shoff, shoff + 24, shoff + 64 + 24, data.len() - 8]);
        let read_all = |d: &[u8]| {
            let _ = initcalls::static_order_from_bytes(d);
            let _ = initcalls::table_labels(d);
            let _ = modversions::kernel_crcs(d);
            let _ = ftrace::vmlinux_mcount(d, arch);
            let _ = kcfi::kcfi_evidence(d, arch);
            let _ = notes::lto_note(d);
            let _ = orc::orc_facts(d);
            let _ = sections::llvm_suffixed(d);
            let _ = module::kernel_vermagic(d);
        };
        let mut n = 0;
        for &at in &spots {
            if at >= data.len() {
                continue;
            }
            let mut copy = data.clone();
            copy[at] ^= 0x40;
            copy[at.saturating_sub(1)] ^= 0x01;
            read_all(&copy);
            read_all(&data[..at]);
            n += 2;
        }
        ensure(n >= 20, || format!("{case}: only {n} damaged copies"))?;
    }
    Ok(())
}

/// A deterministic bench whose boot runs a plan longer than one step's
/// limit: 220 exec samples (the most the kernel command line carries,
/// about 0.15 s each here, so 33 s or more in all) against a 20 s step
/// timeout; every sample is in time (the boot to the agent has the case's
/// 120 s), so the bench passes and records every sample. (The final wait
/// for the agent once reused a deadline taken before the plan, and then
/// this failed: `timed out waiting for AGENT`.) A plan too long for the
/// command line is a clear error.
fn bench_plan_longer_than_a_step() -> Result<(), Failed> {
    let dir = out_dir("bench-long-plan");
    let bench = |samples: &str| {
        let mut cmd = harness(&[
            "bench",
            "x86_64-lto-none",
            "x86_64-lto-none",
            "--boots",
            "1",
            "--samples",
            samples,
            "--workloads",
            "exec",
            "--step-timeout",
            "20",
            "--results",
            dir.to_str().unwrap(),
        ]);
        cmd.env("LTO_HARNESS_HISTORY", dir.join("history.jsonl"));
        run(cmd)
    };
    let out = bench("600")?;
    ensure(
        out.status.code() == Some(2)
            && String::from_utf8_lossy(&out.stderr).contains("ask for fewer --samples"),
        || describe(&out),
    )?;
    let t = Instant::now();
    let out = bench("220")?;
    eprintln!(
        "bench::plan_longer_than_a_step: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    ensure(out.status.success(), || describe(&out))?;
    let text = std::fs::read_to_string(dir.join("bench.json")).map_err(|e| e.to_string())?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let exec = r["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "workload.exec")
        .cloned()
        .unwrap_or_default();
    ensure(
        exec["a"].as_array().map(Vec::len) == Some(220)
            && exec["b"].as_array().map(Vec::len) == Some(220),
        || format!("not every sample recorded: {exec}"),
    )
}

/// Deterministic bench of none against full LTO + CFI: every icount figure
/// must repeat exactly from one boot to the next.
fn deterministic_bench(arch: &str) -> Result<(), Failed> {
    let dir = out_dir(&format!("bench-{arch}"));
    let (a, b) = (format!("{arch}-lto-none"), format!("{arch}-lto-full-cfi"));
    let mut cmd = harness(&[
        "bench",
        &a,
        &b,
        "--boots",
        "2",
        "--samples",
        "1",
        "--results",
        dir.to_str().unwrap(),
    ]);
    cmd.env("LTO_HARNESS_HISTORY", dir.join("history.jsonl"));
    let out = run(cmd)?;
    ensure(out.status.success(), || describe(&out))?;
    let table = String::from_utf8_lossy(&out.stdout);
    ensure(
        table.contains("workload.getppid") && table.contains("size.text"),
        || format!("no table:\n{table}"),
    )?;
    let text = std::fs::read_to_string(dir.join("bench.json")).map_err(|e| e.to_string())?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let metrics = r["metrics"].as_array().ok_or("no metrics")?;
    let icount: Vec<&Value> = metrics.iter().filter(|m| m["basis"] == "icount").collect();
    ensure(icount.len() >= 9, || {
        format!(
            "expected boot and 7 workload icount figures, got {}",
            icount.len()
        )
    })?;
    for m in &icount {
        for side in ["a", "b"] {
            let v = m[side].as_array().ok_or("no samples")?;
            ensure(v.len() == 2 && v[0] == v[1], || {
                format!("{} {side}: boots differ: {v:?}", m["name"])
            })?;
        }
    }
    let hist = std::fs::read_to_string(dir.join("history.jsonl")).map_err(|e| e.to_string())?;
    ensure(hist.lines().count() == 2, || {
        format!("expected one history line per kernel:\n{hist}")
    })?;
    Ok(())
}

/// The dashboard, rendered from a real history, opened in headless
/// Chromium: the screenshot must show the plots (bars in the LTO colours).
fn dashboard_renders_in_chromium() -> Result<(), Failed> {
    let chromium = "/usr/bin/chromium";
    ensure(Path::new(chromium).exists(), || {
        "chromium not installed: run ci/setup".into()
    })?;
    let dir = out_dir("dashboard");
    let history = dir.join("history.jsonl");
    for args in [
        vec![
            "run",
            "x86_64-lto-none",
            "--results",
            dir.join("run").to_str().unwrap(),
        ],
        vec![
            "bench",
            "x86_64-lto-none",
            "x86_64-lto-full-cfi",
            "--workloads",
            "getppid,pipe",
            "--boots",
            "1",
            "--samples",
            "1",
            "--results",
            dir.join("bench").to_str().unwrap(),
        ],
    ] {
        let mut cmd = harness(&args);
        cmd.env("LTO_HARNESS_HISTORY", &history);
        let out = run(cmd)?;
        ensure(out.status.success(), || describe(&out))?;
    }
    let html = dir.join("html");
    let out = run(harness(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]))?;
    ensure(out.status.success(), || describe(&out))?;
    let png = dir.join("dashboard.png");
    let profile = dir.join("chromium-profile");
    let shot = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,2600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.join("index.html").display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running chromium: {e}"))?;
    ensure(png.exists(), || {
        format!("no screenshot: {}", String::from_utf8_lossy(&shot.stderr))
    })?;
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).map_err(|e| e.to_string())?,
    ));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("png too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let px = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => return Err(format!("unexpected png colour type {other:?}").into()),
    };
    let near = |p: &[u8], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 6);
    let (mut none_blue, mut full_green, mut ink) = (0usize, 0usize, 0usize);
    for p in buf[..info.buffer_size()].chunks(px) {
        if near(p, [0x4c, 0x72, 0xb0]) {
            none_blue += 1;
        }
        if near(p, [0x55, 0xa8, 0x68]) {
            full_green += 1;
        }
        if p[..3].iter().any(|&v| v < 200) {
            ink += 1;
        }
    }
    let total = (info.width * info.height) as usize;
    ensure(none_blue > 2000 && full_green > 2000, || {
        format!(
            "plots did not render: {none_blue} LTO-none and {full_green} LTO-full pixels in {}",
            png.display()
        )
    })?;
    ensure(ink * 100 / total >= 3, || {
        format!("page nearly blank: {ink} of {total} pixels drawn")
    })?;
    Ok(())
}

/// A results directory copied anywhere reproduces its verdict: the case's
/// `reproduce.sh`, run from a copy in a fresh temporary directory with
/// `--boot-only` and the kernel the run booted, exits 0 and prints the
/// recorded verdict; its make and QEMU lines are the run's, with the
/// script's own paths in place of the machine's; and a recorded outcome
/// the boot does not match makes it exit 1.
fn a_copied_results_dir_reproduces_the_verdict() -> Result<(), Failed> {
    let case = "x86_64-lto-none";
    let dir = out_dir("reproduce");
    let run_dir = dir.join("run");
    let out = run(harness(&[
        "run",
        case,
        "--results",
        run_dir.to_str().unwrap(),
    ]))?;
    let r = results(&run_dir).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let c = &r["cases"][0];
    ensure(
        out.status.code() == Some(0) && c["status"] == "pass",
        || format!("{case} did not pass:\n{}", describe(&out)),
    )?;
    let image = Path::new(
        c["build"]["artifacts"]
            .as_str()
            .ok_or("no build.artifacts")?,
    )
    .join("image");
    // A copy of the case's results in a fresh place.
    let elsewhere = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cp = Command::new("cp")
        .arg("-r")
        .arg(run_dir.join(case))
        .arg(elsewhere.path())
        .status()
        .map_err(|e| e.to_string())?;
    ensure(cp.success(), || "cp -r failed".into())?;
    let script = elsewhere.path().join(case).join("reproduce.sh");
    let text =
        std::fs::read_to_string(&script).map_err(|e| format!("{}: {e}", script.display()))?;
    ensure(text.contains("\nset -euo pipefail\n"), || {
        "no set -euo pipefail".into()
    })?;
    // The QEMU line the run recorded, with the script's kernel and the
    // initramfs beside it.
    let initrd = run_dir.join(case).join("initramfs.cpio.gz");
    let qemu = c["boot"]["qemu_command"]
        .as_str()
        .ok_or("no qemu_command")?
        .replace(
            &format!("-kernel {}", image.display()),
            "-kernel \"$KERNEL\"",
        )
        .replace(
            &format!("-initrd {}", initrd.display()),
            "-initrd \"$INITRD\"",
        );
    ensure(
        text.contains(&format!("\"$BOOT_TIMEOUT\" {qemu} </dev/null")),
        || format!("the script lacks the run's QEMU line `{qemu}`:\n{text}"),
    )?;
    // The make lines the kernel was built with (metadata.json), with the
    // script's source tree and O= dir.
    let meta: Value = serde_json::from_slice(
        &std::fs::read(run_dir.join(case).join("metadata.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let lines: Vec<&str> = meta["make_commands"]
        .as_array()
        .ok_or("no make_commands")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let words: Vec<&str> = lines.first().ok_or("no make command")?.split(' ').collect();
    let at = |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1]);
    let root = at("-C").ok_or("no -C")?;
    let work = words
        .iter()
        .find_map(|w| w.strip_prefix("O="))
        .ok_or("no O=")?;
    for l in &lines {
        let ours: Vec<String> = l
            .split(' ')
            .map(|w| {
                if let Some(rest) = w.strip_prefix(root) {
                    format!("\"$SRC\"{rest}")
                } else if w == format!("O={work}") {
                    "O=\"$WORK\"".into()
                } else if let Some(rest) = w.strip_prefix(work) {
                    format!("\"$WORK\"{rest}")
                } else if w.starts_with("-j") && w[2..].chars().all(|c| c.is_ascii_digit()) {
                    "-j\"$JOBS\"".into()
                } else {
                    w.to_owned()
                }
            })
            .collect();
        let ours = format!("\n    step {}\n", ours.join(" "));
        ensure(text.contains(&ours), || {
            format!("the script lacks the make line `{l}` as `{}`", ours.trim())
        })?;
    }
    let bash_n = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .map_err(|e| e.to_string())?;
    ensure(bash_n.status.success(), || describe(&bash_n))?;
    if lto_harness::host::toolchain::find_in_path("shellcheck").is_some() {
        let sc = Command::new("shellcheck")
            .arg(&script)
            .output()
            .map_err(|e| e.to_string())?;
        ensure(sc.status.success(), || describe(&sc))?;
    }
    // Run from the copy, somewhere else again.
    let reproduce = |script: &Path, work: &str| -> Result<Output, Failed> {
        Command::new("bash")
            .arg(script)
            .arg("--boot-only")
            .arg(&image)
            .arg("--work")
            .arg(elsewhere.path().join(work))
            .current_dir(elsewhere.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()).into())
    };
    let out = reproduce(&script, "work")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!("reproduce.sh did not exit 0:\n{}", describe(&out))
    })?;
    for want in [
        "expected: pass (every step and check passed)",
        "end marker: rc=0, as recorded",
        "kernel panic: no, as recorded",
        "guest steps: as recorded",
        "in the recorded order",
        "outcome: matches the recorded one",
    ] {
        ensure(stdout.contains(want), || {
            format!("no `{want}` in:\n{}", describe(&out))
        })?;
    }
    ensure(elsewhere.path().join("work/console.log").is_file(), || {
        "no console.log in the script's work dir".into()
    })?;
    // A recorded outcome this boot does not match: exit 1, saying what.
    let tampered = elsewhere.path().join(case).join("tampered.sh");
    std::fs::write(
        &tampered,
        text.replace("\nRECORDED_END=rc=0\n", "\nRECORDED_END=rc=1\n"),
    )
    .map_err(|e| e.to_string())?;
    let out = reproduce(&tampered, "work-2")?;
    ensure(
        out.status.code() == Some(1)
            && String::from_utf8_lossy(&out.stdout)
                .contains("end marker: rc=0, recorded: rc=1 (DIFFERS)"),
        || format!("a tampered record was not told apart:\n{}", describe(&out)),
    )?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let cases = lto_harness::case::load_dir(&repo().join("cases")).expect("shipped cases parse");
    let mut trials = vec![
        Trial::test(
            "cli::broken_case_file_is_located",
            broken_case_file_is_located,
        ),
        Trial::test("cli::dry_run_prints_commands", dry_run_prints_commands),
        Trial::test("cli::bad_inputs_never_panic", bad_inputs_never_panic),
    ];
    for case in cases.iter().filter(|c| !c.has_tag("slow")) {
        let name = case.name.clone();
        trials.push(Trial::test(format!("case::{name}"), move || {
            shipped_case(&name)
        }));
    }
    // The 7.x tree beside the repository (../shared/kernels).
    trials.push(
        Trial::test(
            "kseries::linux7_x86_64_lto_full_cfi",
            linux7_x86_64_lto_full_cfi,
        )
        .with_ignored_flag(linux7_tarball().is_none()),
    );
    trials.push(Trial::test(
        "verdict::init_panic_is_fail",
        init_panic_is_fail,
    ));
    trials.push(Trial::test(
        "verdict::timeout_is_incomplete_and_kills_qemu",
        timeout_is_incomplete_and_kills_qemu,
    ));
    trials.push(Trial::test(
        "verdict::interrupt_kills_qemu",
        interrupt_kills_qemu,
    ));
    trials.push(Trial::test(
        "check::foreign_module_fails_the_modules_check",
        foreign_module_fails_the_modules_check,
    ));
    trials.push(Trial::test(
        "check::hygiene_compares_a_family",
        hygiene_compares_a_family,
    ));
    trials.push(Trial::test(
        "check::vermagic_mismatch_fails_static_and_runtime",
        vermagic_mismatch_fails_static_and_runtime,
    ));
    trials.push(Trial::test(
        "check::swapped_golden_fails_then_bless_restores_it",
        swapped_golden_fails_then_bless_restores_it,
    ));
    trials.push(Trial::test(
        "check::trap_expected_of_a_non_cfi_kernel_fails",
        trap_expected_of_a_non_cfi_kernel_fails,
    ));
    trials.push(Trial::test(
        "run::fail_fast_stops_at_the_first_failure",
        fail_fast_stops_at_the_first_failure,
    ));
    trials.push(Trial::test(
        "cli::bad_golden_is_a_clear_error",
        bad_golden_is_a_clear_error,
    ));
    trials.push(Trial::test(
        "compare::classify_a_real_pair_and_gate",
        compare_and_gate_classify_a_real_pair,
    ));
    trials.push(Trial::test(
        "series::names_the_breaking_patch",
        series_names_the_breaking_patch,
    ));
    trials.push(Trial::test(
        "series::that_does_not_apply_is_named",
        series_that_does_not_apply_is_named,
    ));
    trials.push(Trial::test(
        "bisect::names_the_breaking_commit",
        bisect_names_the_breaking_commit,
    ));
    trials.push(Trial::test(
        "mutate::initcall_order_reversed_is_killed",
        mutate_initcall_order_reversed_is_killed,
    ));
    trials.push(Trial::test(
        "mutate::every_patch_applies_to_each_series",
        mutate_every_patch_applies_to_each_series,
    ));
    trials.push(Trial::test(
        "mutate::quick_mutants_are_killed_where_they_aim",
        mutate_quick_mutants_are_killed_where_they_aim,
    ));
    trials.push(Trial::test(
        "fault::a_build_survives_signals_races_and_damage",
        signals_during_a_build_leave_nothing,
    ));
    trials.push(Trial::test(
        "fault::kills_during_a_boot",
        kills_during_a_boot,
    ));
    trials.push(Trial::test(
        "fault::results_dir_full_or_read_only",
        results_dir_full_or_read_only,
    ));
    trials.push(Trial::test(
        "fault::missing_tools_and_a_damaged_tarball",
        missing_tools_and_a_damaged_tarball,
    ));
    trials.push(Trial::test(
        "elf::vmlinux_readers_survive_damage",
        vmlinux_readers_survive_damage,
    ));
    trials.push(Trial::test(
        "boot::accel_auto_falls_back_to_tcg",
        accel_auto_falls_back_to_tcg,
    ));
    trials.push(Trial::test(
        "ci::apt_mirror_is_the_machines_own",
        apt_mirror_is_the_machines_own,
    ));
    // clang 15 (no kCFI) comes from `ci/setup --llvm -15`.
    let clang15 = ["clang-15", "ld.lld-15", "llvm-nm-15"]
        .iter()
        .all(|t| lto_harness::host::toolchain::find_in_path(t).is_some());
    trials.push(
        Trial::test(
            "toolchain::matrix_results_are_told_apart",
            matrix_results_are_told_apart,
        )
        .with_ignored_flag(!clang15),
    );
    trials.push(Trial::test(
        "external::kernels_built_elsewhere_are_judged_with_honest_skips",
        kernels_built_elsewhere_are_judged_with_honest_skips,
    ));
    trials.push(Trial::test(
        "ci::sharded_runs_merge_to_one_run",
        sharded_runs_merge_to_one_run,
    ));
    for arch in ["x86_64", "arm64"] {
        trials.push(Trial::test(
            format!("bench::deterministic_{arch}"),
            move || deterministic_bench(arch),
        ));
    }
    trials.push(Trial::test(
        "bench::plan_longer_than_a_step",
        bench_plan_longer_than_a_step,
    ));
    trials.push(Trial::test(
        "dashboard::renders_in_chromium",
        dashboard_renders_in_chromium,
    ));
    trials.push(Trial::test(
        "reproduce::a_copied_results_dir_reproduces_the_verdict",
        a_copied_results_dir_reproduces_the_verdict,
    ));
    // exit_code() rather than exit(): destructors (temp dirs) still run.
    libtest_mimic::run(&args, trials).exit_code()
}
