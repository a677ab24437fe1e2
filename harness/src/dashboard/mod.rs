//! Dashboard: a static `index.html` rendered from the history, with SVG
//! plots (plotters) inlined, no JavaScript: LTO none/thin/full side by side
//! per metric with intervals (latest figures per case), trends over
//! records, build cost against size and speed, and the regressions.

use crate::history::{self, Figure, Record};
use crate::model::perf::Regression;
use crate::model::{Arch, Lto};
use anyhow::{bail, Context, Result};
use plotters::prelude::*;
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

fn lto_color(lto: Lto) -> RGBColor {
    match lto {
        Lto::None => RGBColor(0x4c, 0x72, 0xb0),
        Lto::Thin => RGBColor(0xdd, 0x84, 0x52),
        Lto::Full => RGBColor(0x55, 0xa8, 0x68),
    }
}

fn case_order(r: &Record) -> (Arch, Lto, String) {
    (r.arch, r.lto, r.case.clone())
}

/// The latest figure of each metric for each case, across runs and benches
/// (benches of the mode given win over runs for the metrics they have).
fn latest(records: &[Record]) -> BTreeMap<String, (Record, BTreeMap<String, Figure>)> {
    let mut out: BTreeMap<String, (Record, BTreeMap<String, Figure>)> = BTreeMap::new();
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

/// A bar's label: `x86_64 full+cfi`, short enough to sit under its bar.
fn short_label(r: &Record) -> String {
    let cfi = if r.cfi.is_on() { "+cfi" } else { "" };
    let known = [
        format!("{}-lto-{}", r.arch, r.lto),
        format!("{}-lto-{}-cfi", r.arch, r.lto),
    ];
    if known.contains(&r.case) {
        format!("{} {}{cfi}", r.arch, r.lto)
    } else {
        r.case.clone()
    }
}

/// Bars per case for one metric, coloured by LTO mode, with interval whiskers.
fn bar_chart(metric: &str, rows: &[(&Record, &Figure)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let unit = rows
            .first()
            .map(|(_, f)| f.unit.clone())
            .unwrap_or_default();
        let max = rows
            .iter()
            .map(|(_, f)| f.hi.unwrap_or(f.value).max(f.value))
            .fold(0.0f64, f64::max)
            .max(1e-12)
            * 1.15;
        let n = rows.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{metric} ({unit})"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(80)
            // Bar i is centred on x = i, so the integer ticks name the bars.
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..max)?;
        let labels: Vec<String> = rows.iter().map(|(r, _)| short_label(r)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (*x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 10))
            .y_label_style(("sans-serif", 11))
            .draw()?;
        for (i, (r, f)) in rows.iter().enumerate() {
            let x0 = i as f64 - 0.35;
            let x1 = i as f64 + 0.35;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, f.value)],
                lto_color(r.lto).filled(),
            )))?;
            if let (Some(lo), Some(hi)) = (f.lo, f.hi) {
                let xm = i as f64;
                chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                    xm,
                    lo,
                    f.value,
                    hi,
                    BLACK.stroke_width(2),
                    10,
                )))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// One line per case over its records, in date order.
fn trend_chart(metric: &str, series: &BTreeMap<String, (Lto, Vec<f64>)>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let len = series
            .values()
            .map(|(_, v)| v.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for (_, v) in series.values() {
            for &x in v {
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-12);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{metric}: trend over records"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..(len - 1) as f64, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("record")
            .label_style(("sans-serif", 11))
            .draw()?;
        for (i, (case, (lto, v))) in series.iter().enumerate() {
            let base = lto_color(*lto);
            // Shade by arch/case index so lines of the same LTO mode differ.
            let c = RGBColor(
                base.0.saturating_sub((i % 3) as u8 * 30),
                base.1,
                base.2.saturating_sub((i % 2) as u8 * 40),
            );
            chart
                .draw_series(LineSeries::new(
                    v.iter().enumerate().map(|(x, y)| (x as f64, *y)),
                    c.stroke_width(2),
                ))?
                .label(case.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            chart.draw_series(
                v.iter()
                    .enumerate()
                    .map(|(x, y)| Circle::new((x as f64, *y), 3, c.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 10))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Build cost (x) against another figure (y), one point per case.
fn scatter_chart(x_metric: &str, y_metric: &str, pts: &[(&Record, f64, f64)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let xmax = pts.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.2;
        let ymax = pts.iter().map(|p| p.2).fold(0.0, f64::max).max(1e-9) * 1.2;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{y_metric} against {x_metric}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc(x_metric)
            .y_desc(y_metric)
            .label_style(("sans-serif", 11))
            .draw()?;
        for (r, x, y) in pts {
            let c = lto_color(r.lto);
            chart.draw_series(std::iter::once(Circle::new((*x, *y), 6, c.filled())))?;
            chart.draw_series(std::iter::once(Text::new(
                r.case.clone(),
                (*x, *y),
                ("sans-serif", 10).into_font(),
            )))?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `dir/index.html` from the history at `history_path`.
pub fn render(history_path: &Path, dir: &Path) -> Result<usize> {
    register_font()?;
    let records = history::load(history_path)?;
    if records.is_empty() {
        bail!(
            "{}: no history yet: run `lto-harness run` or `lto-harness bench` first",
            history_path.display()
        );
    }
    let latest = latest(&records);
    let mut cases: Vec<&(Record, BTreeMap<String, Figure>)> = latest.values().collect();
    cases.sort_by_key(|(r, _)| case_order(r));
    let mut metric_names: Vec<String> = cases.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
    metric_names.sort();
    metric_names.dedup();

    let mut html = String::new();
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
        records.len(),
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

    // Regressions between each case's two latest records of the same kind.
    let mut regs: Vec<Regression> = Vec::new();
    for (r, _) in &cases {
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
    html.push_str("<h2>Performance regressions (latest record against the one before)</h2>\n");
    if regs.is_empty() {
        html.push_str("<p>None beyond their noise bands.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for r in &regs {
            let _ = writeln!(html, "<li class=\"reg\">{}</li>", esc(&r.to_string()));
        }
        html.push_str("</ul>\n");
    }

    html.push_str("<h2>Latest figures, side by side</h2>\n<div class=\"grid\">\n");
    let mut plots = 0;
    for m in &metric_names {
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
    html.push_str("</div>\n<h2>Build cost against size and speed</h2>\n<div class=\"grid\">\n");
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
    html.push_str("</div>\n<h2>Trends</h2>\n<div class=\"grid\">\n");
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.date.cmp(&b.date));
    for m in &metric_names {
        let mut series: BTreeMap<String, (Lto, Vec<f64>)> = BTreeMap::new();
        for r in &sorted {
            if let Some(f) = r.metrics.get(m) {
                series
                    .entry(r.case.clone())
                    .or_insert_with(|| (r.lto, vec![]))
                    .1
                    .push(f.value);
            }
        }
        if series.values().any(|(_, v)| v.len() >= 2) {
            let _ = writeln!(html, "<figure>{}</figure>", trend_chart(m, &series)?);
            plots += 1;
        }
    }
    html.push_str("</div>\n<h2>Latest figures</h2>\n<table><tr><th>case</th>");
    for m in &metric_names {
        let _ = write!(html, "<th>{}</th>", esc(m));
    }
    html.push_str("</tr>\n");
    for (r, ms) in &cases {
        let _ = write!(html, "<tr><th>{}</th>", esc(&r.case));
        for m in &metric_names {
            match ms.get(m) {
                Some(f) => {
                    let _ = write!(html, "<td>{:.6}</td>", f.value);
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n</body></html>\n");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::host::cache::write_atomic(&dir.join("index.html"), html.as_bytes())?;
    Ok(plots)
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
    fn empty_history_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = render(&d.path().join("none.jsonl"), d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no history yet"), "{e}");
    }
}
