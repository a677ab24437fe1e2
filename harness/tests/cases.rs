//! End-to-end tests on real kernels: every shipped case in `cases/` (but
//! the `slow` ones) is a trial that builds, boots and checks it through the
//! `lto-harness` binary, then reruns it warm with a `make` that fails if
//! called. Beside them: a kernel whose init panics, one that cannot boot in
//! time, Ctrl-C in the middle of a boot, and a broken case file.
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
    let dir = out_dir(&format!("case-{name}"));
    let cold = dir.join("cold");
    let out = run(harness(&["run", name, "--results", cold.to_str().unwrap()]))?;
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
    for check in case["checks"].as_array().into_iter().flatten() {
        ensure(check["status"] == "pass", || {
            format!("check not passed: {check}")
        })?;
    }
    let log = cold.join(name).join("console.log");
    let console = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    ensure(console.contains("@@LTOH END rc=0"), || {
        format!("no end marker in {}", log.display())
    })?;

    // Warm: same inputs, so make must not run at all.
    let warm = dir.join("warm");
    let (path, marker) = poisoned_path(&dir);
    let mut cmd = harness(&["run", name, "--results", warm.to_str().unwrap()]);
    cmd.env("PATH", path);
    let out = run(cmd)?;
    ensure(!marker.exists(), || {
        format!(
            "warm rerun called make: {}",
            std::fs::read_to_string(&marker).unwrap_or_default()
        )
    })?;
    let r = results(&warm).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    ensure(
        out.status.code() == Some(0) && r["cases"][0]["build"]["reused"] == true,
        || format!("warm rerun did not reuse the build:\n{}", describe(&out)),
    )?;
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
    let artifacts = |case: &str| -> Result<PathBuf, Failed> {
        let res = dir.join(format!("warm-{case}"));
        let out = run(harness(&["run", case, "--results", res.to_str().unwrap()]))?;
        let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
        let a = r["cases"][0]["build"]["artifacts"]
            .as_str()
            .ok_or_else(|| format!("no artifacts for {case}\n{}", describe(&out)))?;
        Ok(PathBuf::from(a))
    };
    let x86 = artifacts("x86_64-lto-none")?;
    let arm = artifacts("arm64-lto-none")?;
    // An O= dir as another build system would leave it: the x86_64 kernel,
    // its own lkdtm, and the arm64 test_module.
    let kb = dir.join("mixed-build");
    std::fs::create_dir_all(kb.join("arch/x86/boot")).unwrap();
    std::fs::create_dir_all(kb.join("lib")).unwrap();
    let copy = |from: PathBuf, to: &str| {
        std::fs::copy(&from, kb.join(to))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", from.display()))
    };
    copy(x86.join("config"), ".config")?;
    copy(x86.join("vmlinux"), "vmlinux")?;
    copy(x86.join("image"), "arch/x86/boot/bzImage")?;
    copy(x86.join("modules/lkdtm.ko"), "lib/lkdtm.ko")?;
    copy(arm.join("modules/test_module.ko"), "lib/test_module.ko")?;
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
    let modules = case["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "modules"))
        .ok_or("no modules check")?;
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

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let cases = lto_harness::case::load_dir(&repo().join("cases")).expect("shipped cases parse");
    let mut trials = vec![
        Trial::test(
            "cli::broken_case_file_is_located",
            broken_case_file_is_located,
        ),
        Trial::test("cli::dry_run_prints_commands", dry_run_prints_commands),
    ];
    for case in cases.iter().filter(|c| !c.has_tag("slow")) {
        let name = case.name.clone();
        trials.push(Trial::test(format!("case::{name}"), move || {
            shipped_case(&name)
        }));
    }
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
    for arch in ["x86_64", "arm64"] {
        trials.push(Trial::test(
            format!("bench::deterministic_{arch}"),
            move || deterministic_bench(arch),
        ));
    }
    trials.push(Trial::test(
        "dashboard::renders_in_chromium",
        dashboard_renders_in_chromium,
    ));
    // exit_code() rather than exit(): destructors (temp dirs) still run.
    libtest_mimic::run(&args, trials).exit_code()
}
