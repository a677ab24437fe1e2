//! Trials of `bisect`: the first bad commit named on a real kernel history, resumed.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::Path;

/// `series --bisect` on a real kernel git tree (the same two patches as
/// the first two of `series_names_the_breaking_patch`, so the same commits
/// and cached kernels): the tip fails, one build more finds patch 2, and
/// the base is not built. Then `bisect` over the same commits names the
/// same commit, a second run resumes from bisect.json without building,
/// and a bad end that cannot be judged (a boot timeout, retried) is said
/// to be so, never taken as good or bad.
pub(crate) fn names_the_breaking_commit() -> Result<(), Failed> {
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
