//! Trials of the main pipeline on real kernels: every shipped case built, booted and checked (and rerun warm with a make that fails if called), the 7.x tree, a panic, a timeout, Ctrl-C, --fail-fast, a copied results directory reproducing its verdict, the accelerator fallback, a thin-LTO link on the pool's tokens.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `make` that records being called and fails.
pub(crate) fn poisoned_path(dir: &Path) -> (String, PathBuf) {
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
pub(crate) fn shipped_case(name: &str) -> Result<(), Failed> {
    shipped_case_on(name, None).map(|_| ())
}

/// x86_64-lto-full-cfi on the 7.x tree, as on Debian's 6.12: every check
/// passes or says why it does not apply, the build is reused warm, and
/// what moved in 7.x is read from the tree: kCFI is `CONFIG_CFI`, the
/// initcall order is the `@7.1` golden's, the vDSO image is found.
pub(crate) fn linux7_x86_64_lto_full_cfi() -> Result<(), Failed> {
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
pub(crate) fn shipped_case_on(name: &str, src: Option<&Path>) -> Result<Value, Failed> {
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
    // The results say when the build ended and the verdict came: after
    // the boot, within the run.
    let (done, verdict) = (
        case["timeline"]["build_done"].as_f64().unwrap_or(-1.0),
        case["timeline"]["verdict"].as_f64().unwrap_or(-1.0),
    );
    let boot = case["boot"]["seconds"].as_f64().unwrap_or(0.0);
    let whole = r["seconds"].as_f64().unwrap_or(0.0);
    ensure(
        done >= 0.0 && verdict >= done + boot && verdict <= whole,
        || {
            format!(
                "timeline {} with a {boot} s boot in a {whole} s run",
                case["timeline"]
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
pub(crate) fn captures_keep_the_verdict(log: &[u8], path: &Path) -> Result<(), Failed> {
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
pub(crate) fn init_panic_is_fail() -> Result<(), Failed> {
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
pub(crate) fn timeout_is_incomplete_and_kills_qemu() -> Result<(), Failed> {
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
pub(crate) fn interrupt_kills_qemu() -> Result<(), Failed> {
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

pub(crate) fn unsafe_sigint(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

/// `run --fail-fast`: x86_64-lto-none fails (two initcalls swapped in a
/// copy of its golden) beside three arm64 cases that pass; after the
/// failure nothing more starts, and every other case is skipped as not
/// run, saying why; exit 1; no QEMU left.
pub(crate) fn fail_fast_stops_at_the_first_failure() -> Result<(), Failed> {
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

/// `--accel auto` (the default) on this machine, where /dev/kvm exists and
/// KVM hangs before the kernel runs: a few seconds' KVM probe, then TCG,
/// recorded in results.json with the QEMU version; the next run takes the
/// answer from the memo (no probe). A fresh TMPDIR keeps the memo this
/// trial's own.
pub(crate) fn accel_auto_falls_back_to_tcg() -> Result<(), Failed> {
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

/// A results directory copied anywhere reproduces its verdict: the case's
/// `reproduce.sh`, run from a copy in a fresh temporary directory with
/// `--boot-only` and the kernel the run booted, exits 0 and prints the
/// recorded verdict; its make and QEMU lines are the run's, with the
/// script's own paths in place of the machine's; and a recorded outcome
/// the boot does not match makes it exit 1.
pub(crate) fn a_copied_results_dir_reproduces_the_verdict() -> Result<(), Failed> {
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

/// A pooled thin-LTO link runs on the pool's tokens, not on every core:
/// x86_64-lto-thin-cfi's `O=` dir (from the normal cache, built there
/// first when it is not) copied into a fresh cache, where the build is not
/// published, and made again in a pool of one token. The new `LD` (the
/// pool's linker script) makes kbuild link everything again (vmlinux.o's
/// ThinLTO backend included) through `lto-harness link-in-pool`, which
/// finds no free token: every link runs with `--thinlto-jobs=1`. The
/// kernel passes, with the build key of the kernel linked as kbuild does.
pub(crate) fn a_pooled_thin_link_runs_on_its_tokens() -> Result<(), Failed> {
    let case = "x86_64-lto-thin-cfi";
    let dir = out_dir("thin-link");
    let warm = dir.join("warm");
    let out = run(harness(&["run", case, "--results", warm.to_str().unwrap()]))?;
    let r = results(&warm).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let key = r["cases"][0]["build"]["key"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    ensure(out.status.code() == Some(0) && !key.is_empty(), || {
        format!("{case} did not pass:\n{}", describe(&out))
    })?;
    let meta: Value = serde_json::from_slice(
        &std::fs::read(warm.join(case).join("metadata.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let make = meta["make_commands"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(Value::as_str)
        .ok_or("no make command")?
        .to_owned();
    let words: Vec<&str> = make.split(' ').collect();
    let src = Path::new(
        words
            .iter()
            .position(|w| *w == "-C")
            .map(|i| words[i + 1])
            .ok_or("no -C")?,
    );
    let work = Path::new(
        words
            .iter()
            .find_map(|w| w.strip_prefix("O="))
            .ok_or("no O=")?,
    );
    // The fresh cache: the same extracted source (and its memos), a copy
    // of the O= dir, nothing published.
    let cache = dir.join("cache");
    let sources = cache.join("src");
    std::fs::create_dir_all(&sources).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(cache.join("work")).map_err(|e| e.to_string())?;
    let src_name = src.file_name().ok_or("no source dir name")?;
    std::os::unix::fs::symlink(src, sources.join(src_name)).map_err(|e| e.to_string())?;
    for memo in std::fs::read_dir(src.parent().ok_or("no src parent")?)
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sha256"))
    {
        std::fs::copy(memo.path(), sources.join(memo.file_name())).map_err(|e| e.to_string())?;
    }
    let copied = cache
        .join("work")
        .join(work.file_name().ok_or("no O= name")?);
    let cp = Command::new("cp")
        .arg("-a")
        .arg(work)
        .arg(&copied)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(cp.success(), || format!("cp -a {}", work.display()))?;
    let res = dir.join("relinked");
    let out = run(harness(&[
        "run",
        case,
        "--jobs",
        "1",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]))?;
    let r = results(&res).map_err(|e| format!("{e}\n{}", describe(&out)))?;
    let c = &r["cases"][0];
    ensure(
        out.status.code() == Some(0) && c["status"] == "pass",
        || format!("the relinked {case} did not pass:\n{}", describe(&out)),
    )?;
    ensure(
        c["build"]["reused"] == false && c["build"]["key"] == key.as_str(),
        || format!("not rebuilt under the same key {key}: {}", c["build"]),
    )?;
    let log =
        std::fs::read_to_string(res.join(case).join("build.log")).map_err(|e| e.to_string())?;
    ensure(
        log.lines()
            .any(|l| l.starts_with("$ make ") && l.contains(" LD=") && l.contains("/ld.lld")),
        || "the build log's make line has no LD= linker script".into(),
    )?;
    let links = std::fs::read_to_string(copied.join("lto-harness-links.log"))
        .map_err(|e| format!("no links log: {e}"))?;
    let vmlinux_o: Vec<&str> = links
        .lines()
        .filter(|l| l.ends_with(" vmlinux.o"))
        .collect();
    ensure(vmlinux_o.len() == 1, || {
        format!("vmlinux.o was not linked through the pool once:\n{links}")
    })?;
    ensure(links.lines().all(|l| l.starts_with("1 ")), || {
        format!("a link ran on more threads than the pool's one token:\n{links}")
    })?;
    Ok(())
}
