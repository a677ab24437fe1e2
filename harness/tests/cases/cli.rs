//! Trials of the command line on bad input: a broken case file, --dry-run, inputs that must never panic, bad goldens.

use crate::common::*;
use libtest_mimic::Failed;
use std::path::Path;
use std::time::{Duration, Instant};

/// A broken case file: exit 2, an error naming file, line and column.
pub(crate) fn broken_case_file_is_located() -> Result<(), Failed> {
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
pub(crate) fn dry_run_prints_commands() -> Result<(), Failed> {
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

/// Bad goldens are clear errors before anything is built: a malformed line
/// (file and line named), an unreadable file, a missing one.
pub(crate) fn bad_golden_is_a_clear_error() -> Result<(), Failed> {
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

/// Bad inputs of every kind the subcommands read (random bytes, an empty
/// and a huge log, broken YAML, damaged results, a foreign ELF file as a
/// module): a clear error or a verdict, exit 1 or 2, never a panic (101).
pub(crate) fn bad_inputs_never_panic() -> Result<(), Failed> {
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

pub(crate) fn good_path() -> String {
    repo()
        .join("harness/tests/fixtures/results/all-pass.json")
        .to_str()
        .unwrap()
        .to_owned()
}
