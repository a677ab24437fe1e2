//! Trials of the CI integration: compare and gate on a real pair of runs, sharded runs merged, the apt mirror.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::process::Command;

/// CI sharding: `run --shard 1/2` and `--shard 2/2`, then `merge`, give
/// the same cases, statuses and checks as one unsharded run, and each shard
/// ran a different, non-empty share. (Warm: both kernels are cached.)
pub(crate) fn sharded_runs_merge_to_one_run() -> Result<(), Failed> {
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
pub(crate) fn compare_and_gate_classify_a_real_pair() -> Result<(), Failed> {
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
pub(crate) fn apt_mirror_is_the_machines_own() -> Result<(), Failed> {
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
