//! Trials of `mutate`: the quick mutants killed where they aim, every patch applying to each kernel series.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

/// `lto-harness mutate initcall-order-reversed` on the default source's
/// git tree (the series trials' tree, so the base x86_64-lto-none kernel
/// and its `O=` dir are shared with them): the unmutated kernels pass, the
/// thin-LTO kernel with the reversed ordering script fails
/// `initcalls.static`, and the LTO-none control, which does not use the
/// script, still passes. The base kernels are the shipped cases' (the
/// tree's origin is the tarball); the mutant kernels are seeded builds.
pub(crate) fn initcall_order_reversed_is_killed() -> Result<(), Failed> {
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
pub(crate) fn every_patch_applies_to_each_series() -> Result<(), Failed> {
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
pub(crate) fn quick_mutants_are_killed_where_they_aim() -> Result<(), Failed> {
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
