//! Trials of the toolchain matrix: clang-15 (no kCFI) beside clang-19, results told apart.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;

/// The toolchain axis on a real kernel: `run --llvm -15,-19` is two
/// results of one case, told apart in results.json, JUnit, KCIDB and the
/// plan; clang 15 has no kCFI, so its variant is skipped with the reason
/// (the symbol Kconfig would drop) and nothing is built, while clang 19's
/// builds (the plain case's cached kernel: same key), boots and passes.
pub(crate) fn matrix_results_are_told_apart() -> Result<(), Failed> {
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
