//! Trials of `series`: a patch series applied in the harness's worktree names the patch that broke a check, and one that does not apply.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A three-patch series on a real kernel git tree, as an mbox, with
/// --each: the patch that moves an initcall to another level is named as
/// breaking the initcall checks, and the next one as fixing them.
pub(crate) fn names_the_breaking_patch() -> Result<(), Failed> {
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

/// A series whose second patch does not apply: stops naming the patch,
/// its subject and the file, builds nothing, leaves no worktree behind.
pub(crate) fn a_series_that_does_not_apply_is_named() -> Result<(), Failed> {
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
