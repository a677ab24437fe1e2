//! Trials of `bench`, `report` and the dashboard: a deterministic bench per arch, a plan longer than a step, the dashboard rendered in headless Chromium.

use crate::common::*;
use libtest_mimic::Failed;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A deterministic bench whose boot runs a plan longer than one step's
/// limit: 220 exec samples (the most the kernel command line carries,
/// about 0.15 s each here, so 33 s or more in all) against a 20 s step
/// timeout; every sample is in time (the boot to the agent has the case's
/// 120 s), so the bench passes and records every sample. (The final wait
/// for the agent once reused a deadline taken before the plan, and then
/// this failed: `timed out waiting for AGENT`.) A plan too long for the
/// command line is a clear error.
pub(crate) fn plan_longer_than_a_step() -> Result<(), Failed> {
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
pub(crate) fn deterministic_bench(arch: &str) -> Result<(), Failed> {
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
pub(crate) fn dashboard_renders_in_chromium() -> Result<(), Failed> {
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
    plots_drawn(&png)?;
    // The README's picture is a screenshot of the same page: it must show
    // the same plots (regenerate it from this trial's dashboard.png).
    plots_drawn(&repo().join("docs/dashboard.png"))
}

/// A screenshot of the dashboard shows its plots: bars in the LTO-none
/// and LTO-full colours, and a page that is not blank.
fn plots_drawn(png: &Path) -> Result<(), Failed> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).map_err(|e| e.to_string())?,
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
