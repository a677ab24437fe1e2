//! Trials of the LAVA transport on real kernels, with LAVA's own
//! dispatcher (`lava-run`, unpacked by `ci/setup`): the same verdicts,
//! check by check, as a local boot; a kernel that breaks a check failing
//! the same way through LAVA; a broken job incomplete, LAVA's error quoted.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every step's and check's status of each case of a results.json.
fn statuses(r: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in r["cases"].as_array().into_iter().flatten() {
        let case = c["name"].as_str().unwrap_or("?");
        out.insert(format!("{case}/boot"), c["boot"]["status"].to_string());
        for k in c["checks"].as_array().into_iter().flatten() {
            out.insert(
                format!("{case}/{}", k["name"].as_str().unwrap_or("?")),
                k["status"].to_string(),
            );
        }
    }
    out
}

/// The shipped kCFI cases of both arches, booted by QEMU and by
/// `lava-run`: the same statuses check by check, all passing, and the
/// LAVA boot says it was LAVA's.
pub(crate) fn lava_run_gives_the_local_verdicts() -> Result<(), Failed> {
    let dir = out_dir("lava-same");
    let cases = ["x86_64-lto-full-cfi", "arm64-lto-thin-cfi"];
    let mut got = Vec::new();
    for (label, boot) in [("local", "qemu"), ("lava", "lava-run")] {
        let d = dir.join(label);
        let mut args = vec!["run"];
        args.extend(cases);
        args.extend(["--boot", boot, "--results", d.to_str().unwrap()]);
        let out = run(harness(&args))?;
        ensure(out.status.success(), || describe(&out))?;
        got.push(results(&d)?);
    }
    let (local, lava) = (statuses(&got[0]), statuses(&got[1]));
    ensure(local.len() > 40 && local == lava, || {
        format!("the LAVA path disagrees with the local one:\nlocal: {local:?}\nlava:  {lava:?}")
    })?;
    for c in got[1]["cases"].as_array().into_iter().flatten() {
        ensure(c["boot"]["accel"] == "lava", || {
            format!("boot: {}", c["boot"])
        })?;
        let d = dir.join("lava").join(c["name"].as_str().unwrap_or("?"));
        for f in [
            "lava-job.yaml",
            "lava-device.yaml",
            "lava.log",
            "console.log",
        ] {
            ensure(d.join(f).is_file(), || format!("no {f} in {}", d.display()))?;
        }
    }
    Ok(())
}

/// A kernel that breaks a check fails it through LAVA as it does locally:
/// the x86_64 LTO-none kernel asked to trap lkdtm's CFI test.
pub(crate) fn lava_run_fails_a_kernel_as_the_local_boot_does() -> Result<(), Failed> {
    let dir = out_dir("lava-expect-trap");
    let out = run(harness(&[
        "run",
        "--cases",
        "harness/tests/fixtures/cases",
        "x86_64-expect-trap",
        "--boot",
        "lava-run",
        "--results",
        dir.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(1), || {
        format!("expected exit 1 (fail)\n{}", describe(&out))
    })?;
    let r = results(&dir)?;
    crate::checks::trap_expected_but_survived(&r["cases"][0])
}

/// LAVA's dispatcher as the harness finds it (Debian's, else the cache's).
fn lava_run() -> (Vec<String>, Option<String>) {
    if Path::new("/usr/bin/lava-run").is_file() {
        return (vec!["/usr/bin/lava-run".into()], None);
    }
    let root = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        })
        .join("lto-harness/lava");
    (
        vec![
            "/usr/bin/python3".into(),
            root.join("root/usr/bin/lava-run").display().to_string(),
        ],
        Some(format!(
            "{}:{}",
            root.join("shim").display(),
            root.join("root/usr/lib/python3/dist-packages").display()
        )),
    )
}

/// A job whose kernel is not where it says (the job `--boot lava-job`
/// wrote, its kernel URL broken), run by lava-run: `--lava-log` of its
/// log is incomplete (exit 2), never a fail, with LAVA's own error.
pub(crate) fn a_broken_lava_job_is_incomplete_with_lavas_error() -> Result<(), Failed> {
    let dir = out_dir("lava-broken");
    let jobs = dir.join("jobs");
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--boot",
        "lava-job",
        "--results",
        jobs.to_str().unwrap(),
    ]))?;
    ensure(out.status.success(), || describe(&out))?;
    let case = jobs.join("x86_64-lto-none");
    let job = std::fs::read_to_string(case.join("lava-job.yaml")).map_err(|e| e.to_string())?;
    ensure(
        job.contains("file://") && job.contains("@@LTOH BEGIN"),
        || job.clone(),
    )?;
    let broken = job.replacen("file:///", "file:///nonexistent/", 1);
    std::fs::write(dir.join("broken.yaml"), &broken).unwrap();
    let (argv, pythonpath) = lava_run();
    let log = dir.join("broken.log");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .args(["--job-id", "lto-harness-broken", "--output-dir"])
        .arg(dir.join("lava-output"))
        .arg("--device")
        .arg(case.join("lava-device.yaml"))
        .arg(dir.join("broken.yaml"));
    // lava-run writes its records to stderr.
    let f = std::fs::File::create(&log).unwrap();
    cmd.stderr(f.try_clone().unwrap()).stdout(f);
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    let status = cmd.status().map_err(|e| format!("running lava-run: {e}"))?;
    ensure(!status.success(), || "lava-run ran a broken job".into())?;
    let judged = dir.join("judged");
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--lava-log",
        log.to_str().unwrap(),
        "--results",
        judged.to_str().unwrap(),
    ]))?;
    ensure(out.status.code() == Some(2), || {
        format!("expected exit 2 (incomplete)\n{}", describe(&out))
    })?;
    let r = results(&judged)?;
    let boot = &r["cases"][0]["boot"];
    let msg = boot["message"].as_str().unwrap_or("");
    ensure(
        boot["status"] == "incomplete"
            && msg.contains("LAVA ended the job: Job error")
            && msg.contains("does not exist or is not readable"),
        || format!("boot: {boot}"),
    )?;
    Ok(())
}
