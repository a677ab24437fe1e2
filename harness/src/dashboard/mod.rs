//! Dashboard: a static `index.html` rendered from the history, for people
//! to open in a browser, with SVG plots ([`charts`]) inlined, no
//! JavaScript: LTO none/thin/full side by side per metric with intervals
//! (latest figures per case), trends over records, build cost against size
//! and speed, and the regressions.

mod charts;

use crate::history::{self, Figure, Record};
use crate::model::perf::Regression;
use crate::model::{Arch, Lto};
use anyhow::{bail, Context, Result};
use charts::{bar_chart, lto_color, scatter_chart, trend_chart};
use plotters::style::FontStyle;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Debian's DejaVu Sans (fonts-dejavu-core), used to measure and draw text.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers DejaVu Sans as plotters' `sans-serif` (plotters is built with
/// ab_glyph, so without this any text, criterion's plots included, fails).
pub fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| {
            format!("{FONT}: {e}: install the Debian package `fonts-dejavu-core` (ci/setup does)")
        })?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT}: not a usable font"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// A case's latest record, and the latest figure of each of its metrics.
type Latest = (Record, BTreeMap<String, Figure>);

/// Cases by architecture, LTO mode, then name.
fn case_order(r: &Record) -> (Arch, Lto, String) {
    (r.arch, r.lto, r.case.clone())
}

/// The latest figure of each metric for each case, across runs and benches
/// (benches of the mode given win over runs for the metrics they have).
fn latest(records: &[Record]) -> BTreeMap<String, Latest> {
    let mut out: BTreeMap<String, Latest> = BTreeMap::new();
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.date.cmp(&b.date));
    for r in sorted {
        let e = out
            .entry(r.case.clone())
            .or_insert_with(|| (r.clone(), BTreeMap::new()));
        e.0 = r.clone();
        for (k, v) in &r.metrics {
            e.1.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Records relabelled so that only like is compared with like: when the
/// history holds more than one kernel series or toolchain, each case's
/// records become one line per (case, series, toolchain), labelled
/// `case · linux 6.1 · clang 16.0.6`; with one, labels stay the case names.
fn lines(records: Vec<Record>) -> Vec<Record> {
    let kinds: std::collections::BTreeSet<(Option<String>, String)> = records
        .iter()
        .map(|r| (r.series(), r.toolchain.clone()))
        .collect();
    if kinds.len() < 2 {
        return records;
    }
    records
        .into_iter()
        .map(|mut r| {
            let series = r
                .series()
                .map_or("linux ?".into(), |s| format!("linux {s}"));
            r.case = format!("{} · {series} · {}", r.case, short_toolchain(&r.toolchain));
            r
        })
        .collect()
}

/// `Debian clang version 19.1.7 (3~deb12u1)` → `clang 19.1.7`.
fn short_toolchain(t: &str) -> String {
    t.split_once("clang version ")
        .and_then(|(_, v)| v.split_whitespace().next())
        .map_or_else(|| t.to_owned(), |v| format!("clang {v}"))
}

/// Text as HTML: `&`, `<` and `>` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `dir/index.html` from the history at `history_path`: the
/// latest figures per case, then the page section by section. Returns how
/// many plots it has.
pub fn render(history_path: &Path, dir: &Path) -> Result<usize> {
    register_font()?;
    let records = history::load(history_path)?;
    if records.is_empty() {
        bail!(
            "{}: no history yet: run `lto-harness run` or `lto-harness bench` first",
            history_path.display()
        );
    }
    let records = lines(records);
    let latest = latest(&records);
    let mut cases: Vec<&Latest> = latest.values().collect();
    cases.sort_by_key(|(r, _)| case_order(r));
    let mut metric_names: Vec<String> = cases.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
    metric_names.sort();
    metric_names.dedup();

    let mut html = String::new();
    head(&mut html, records.len(), history_path);
    regressions_section(&mut html, &regressions(&records, &cases));
    let mut plots = 0;
    plots += bars_section(&mut html, &cases, &metric_names)?;
    plots += scatter_section(&mut html, &cases)?;
    plots += trends_section(&mut html, &records, &metric_names)?;
    table(&mut html, &cases, &metric_names);
    html.push_str("</body></html>\n");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::host::cache::write_atomic(&dir.join("index.html"), html.as_bytes())?;
    Ok(plots)
}

/// The page up to its first section: style, title, a note on the figures
/// and the LTO modes' colours.
fn head(html: &mut String, records: usize, history_path: &Path) {
    html.push_str(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lto-harness dashboard</title>\n\
         <style>body{font-family:sans-serif;margin:2em;max-width:1400px}\
         .grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0;border:1px solid #ddd}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
         th{background:#eee}.reg{color:#b00;font-weight:bold}.note{color:#444;max-width:900px}\
         .legend span{display:inline-block;width:14px;height:14px;margin:0 4px 0 14px;vertical-align:middle}</style>\n\
         </head><body>\n<h1>lto-harness: LTO versus non-LTO</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p class=\"note\">{} records from <code>{}</code>. Workload and boot figures from deterministic benches are guest \
         instruction counts under QEMU <code>-icount</code> (path length under TCG, not silicon cycles); wall figures are TCG \
         time with bootstrap 95% intervals. Whiskers show intervals where a figure has one.</p>",
        records,
        esc(&history_path.display().to_string())
    );
    html.push_str("<p class=\"legend\">LTO mode:");
    for l in [Lto::None, Lto::Thin, Lto::Full] {
        let c = lto_color(l);
        let _ = write!(
            html,
            "<span style=\"background:rgb({},{},{})\"></span>{l}",
            c.0, c.1, c.2
        );
    }
    html.push_str("</p>\n");
}

/// Regressions between each case's two latest records of the same kind
/// (and bench mode).
fn regressions(records: &[Record], cases: &[&Latest]) -> Vec<Regression> {
    let mut regs: Vec<Regression> = Vec::new();
    for (r, _) in cases {
        let mut same: Vec<&Record> = records.iter().filter(|x| x.case == r.case).collect();
        same.sort_by(|a, b| a.date.cmp(&b.date));
        for kind_mode in same
            .iter()
            .map(|x| (x.kind.clone(), x.mode.clone()))
            .collect::<std::collections::BTreeSet<_>>()
        {
            let of: Vec<&&Record> = same
                .iter()
                .filter(|x| (x.kind.clone(), x.mode.clone()) == kind_mode)
                .collect();
            if let Some(last) = of.last() {
                let earlier: Vec<Record> =
                    of[..of.len() - 1].iter().map(|x| (**x).clone()).collect();
                regs.extend(history::regressions(&earlier, last));
            }
        }
    }
    regs
}

/// The regressions, one per line, or a line saying there are none.
fn regressions_section(html: &mut String, regs: &[Regression]) {
    html.push_str("<h2>Performance regressions (latest record against the one before)</h2>\n");
    if regs.is_empty() {
        html.push_str("<p>None beyond their noise bands.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for r in regs {
            let _ = writeln!(html, "<li class=\"reg\">{}</li>", esc(&r.to_string()));
        }
        html.push_str("</ul>\n");
    }
}

/// A bar chart per metric of the cases' latest figures; returns how many.
fn bars_section(html: &mut String, cases: &[&Latest], metric_names: &[String]) -> Result<usize> {
    html.push_str("<h2>Latest figures, side by side</h2>\n<div class=\"grid\">\n");
    let mut plots = 0;
    for m in metric_names {
        let rows: Vec<(&Record, &Figure)> = cases
            .iter()
            .filter_map(|(r, ms)| ms.get(m).map(|f| (r, f)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            html,
            "<figure>{}</figure>",
            bar_chart(m, &rows).with_context(|| format!("plotting {m}"))?
        );
        plots += 1;
    }
    html.push_str("</div>\n");
    Ok(plots)
}

/// Build CPU time against size and speed, where two cases or more have
/// both; returns how many plots.
fn scatter_section(html: &mut String, cases: &[&Latest]) -> Result<usize> {
    html.push_str("<h2>Build cost against size and speed</h2>\n<div class=\"grid\">\n");
    let mut plots = 0;
    for y in [
        "size.text",
        "size.image",
        "workload.getppid",
        "boot.run_init",
    ] {
        let pts: Vec<(&Record, f64, f64)> = cases
            .iter()
            .filter_map(|(r, ms)| Some((r, ms.get("build.cpu")?.value, ms.get(y)?.value)))
            .collect();
        if pts.len() >= 2 {
            let _ = writeln!(
                html,
                "<figure>{}</figure>",
                scatter_chart("build.cpu", y, &pts)?
            );
            plots += 1;
        }
    }
    html.push_str("</div>\n");
    Ok(plots)
}

/// A trend chart per metric that some case has two records of; returns
/// how many.
fn trends_section(html: &mut String, records: &[Record], metric_names: &[String]) -> Result<usize> {
    html.push_str("<h2>Trends</h2>\n<div class=\"grid\">\n");
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.date.cmp(&b.date));
    let mut plots = 0;
    for m in metric_names {
        let series = trend(&sorted, m);
        if series.values().any(|(_, v)| v.len() >= 2) {
            let _ = writeln!(html, "<figure>{}</figure>", trend_chart(m, &series)?);
            plots += 1;
        }
    }
    html.push_str("</div>\n");
    Ok(plots)
}

/// Each case's values of `metric`, in the records' order, with its LTO mode.
fn trend(sorted: &[&Record], metric: &str) -> BTreeMap<String, (Lto, Vec<f64>)> {
    let mut series: BTreeMap<String, (Lto, Vec<f64>)> = BTreeMap::new();
    for r in sorted {
        if let Some(f) = r.metrics.get(metric) {
            series
                .entry(r.case.clone())
                .or_insert_with(|| (r.lto, vec![]))
                .1
                .push(f.value);
        }
    }
    series
}

/// The latest figures as a table: a row per case, a column per metric.
fn table(html: &mut String, cases: &[&Latest], metric_names: &[String]) {
    html.push_str("<h2>Latest figures</h2>\n<table><tr><th>case</th>");
    for m in metric_names {
        let _ = write!(html, "<th>{}</th>", esc(m));
    }
    html.push_str("</tr>\n");
    for (r, ms) in cases {
        let _ = write!(html, "<tr><th>{}</th>", esc(&r.case));
        for m in metric_names {
            match ms.get(m) {
                Some(f) => {
                    let _ = write!(html, "<td>{:.6}</td>", f.value);
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::perf::Basis;
    use crate::model::perf::Better;

    fn rec(case: &str, lto: Lto, date: &str, text: f64, getppid: f64) -> Record {
        let f = |v: f64, basis| Figure {
            value: v,
            lo: Some(v * 0.99),
            hi: Some(v * 1.01),
            unit: "u".into(),
            basis,
            better: Better::Lower,
        };
        Record {
            date: date.into(),
            kind: "bench".into(),
            mode: Some("deterministic".into()),
            case: case.into(),
            arch: crate::model::Arch::X86_64,
            lto,
            cfi: crate::model::Switch::On,
            source: "s".into(),
            build_key: "k".into(),
            toolchain: "t".into(),
            kernel_version: None,
            metrics: [
                ("size.text".to_string(), f(text, Basis::Exact)),
                ("workload.getppid".to_string(), f(getppid, Basis::Icount)),
                ("build.cpu".to_string(), f(400.0, Basis::BuildOnce)),
            ]
            .into(),
        }
    }

    #[test]
    fn renders_plots_and_flags_regressions() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("history.jsonl");
        history::append(
            &h,
            &[
                rec("x86_64-lto-none", Lto::None, "2026-01-01", 4.4e6, 190.0),
                rec("x86_64-lto-full-cfi", Lto::Full, "2026-01-01", 4.5e6, 200.0),
                rec("x86_64-lto-full-cfi", Lto::Full, "2026-01-02", 4.5e6, 230.0),
            ],
        )
        .unwrap();
        let plots = render(&h, &d.path().join("out")).unwrap();
        let html = std::fs::read_to_string(d.path().join("out/index.html")).unwrap();
        assert!(plots >= 3, "{plots}");
        assert_eq!(html.matches("<svg").count(), plots);
        assert!(
            html.contains("x86_64-lto-full-cfi workload.getppid: 200 -&gt; 230"),
            "{html}"
        );
        assert!(!html.contains("<script"));
        // Every bar chart names its bars (plotters puts text content on its own line).
        assert!(
            html.matches(">\nx86_64 full+cfi\n</text>").count() >= 3,
            "case labels missing"
        );
    }

    #[test]
    fn kernels_of_other_series_and_toolchains_are_other_lines() {
        let mut a = rec("x86_64-lto-full-cfi", Lto::Full, "2026-01-01", 100.0, 50.0);
        a.kernel_version = Some("6.12.117".into());
        a.toolchain = "Debian clang version 19.1.7 (3~deb12u1)".into();
        let mut b = a.clone();
        b.date = "2026-01-02".into();
        b.kernel_version = Some("6.1.192".into());
        // Much bigger: were it compared with 6.12, a regression.
        b.metrics.get_mut("size.text").unwrap().value = 500.0;
        let mut c = a.clone();
        c.date = "2026-01-03".into();
        c.toolchain = "Debian clang version 16.0.6 (15~deb12u1)".into();
        let l = lines(vec![a.clone(), b.clone(), c]);
        let labels: std::collections::BTreeSet<&str> = l.iter().map(|r| r.case.as_str()).collect();
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [
                "x86_64-lto-full-cfi · linux 6.1 · clang 19.1.7",
                "x86_64-lto-full-cfi · linux 6.12 · clang 16.0.6",
                "x86_64-lto-full-cfi · linux 6.12 · clang 19.1.7",
            ]
        );
        assert!(history::regressions(&[a.clone()], &b).is_empty());
        // One series and toolchain: labels are the case names.
        assert_eq!(lines(vec![a.clone()])[0].case, "x86_64-lto-full-cfi");
    }

    #[test]
    fn a_torn_last_history_line_does_not_stop_the_dashboard() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("history.jsonl");
        let r = rec("x86_64-lto-none", Lto::None, "2026-01-01", 4.4e6, 190.0);
        history::append(&h, std::slice::from_ref(&r)).unwrap();
        let torn = serde_json::to_string(&r).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&h).unwrap();
        std::io::Write::write_all(&mut f, &torn.as_bytes()[..torn.len() / 2]).unwrap();
        assert!(render(&h, &d.path().join("out")).unwrap() >= 1);
        // A history that never ends is refused at its limit, not read whole.
        let e = render(Path::new("/dev/zero"), &d.path().join("out2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero: larger than 256 MiB"), "{e}");
    }

    #[test]
    fn empty_history_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = render(&d.path().join("none.jsonl"), d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no history yet"), "{e}");
    }
}
