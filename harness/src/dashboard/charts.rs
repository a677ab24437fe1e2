//! The dashboard's plots, as SVG strings (plotters' SVG backend, text in
//! DejaVu Sans) for `index.html` to inline: bars per case for a metric
//! (with interval whiskers), a metric's trend over the records, and build
//! cost against another figure. Coloured by LTO mode.

use crate::history::{Figure, Record};
use crate::model::Lto;
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// A chart with numbers on both axes, drawn into an SVG string.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The colour of an LTO mode, in every plot and the page's legend.
pub(super) fn lto_color(lto: Lto) -> RGBColor {
    match lto {
        Lto::None => RGBColor(0x4c, 0x72, 0xb0),
        Lto::Thin => RGBColor(0xdd, 0x84, 0x52),
        Lto::Full => RGBColor(0x55, 0xa8, 0x68),
    }
}

/// An SVG of `size` on white, drawn by `draw`.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(svg)
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
pub(super) fn bar_chart(metric: &str, rows: &[(&Record, &Figure)]) -> Result<String> {
    svg((640, 320), |root| {
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
        let mut chart = ChartBuilder::on(root)
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
        draw_bars(&mut chart, rows)
    })
}

/// Bar i centred on x = i, with its interval as a whisker if it has one.
fn draw_bars(chart: &mut Chart, rows: &[(&Record, &Figure)]) -> Result<()> {
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
    Ok(())
}

/// One line per case over its records, in date order.
pub(super) fn trend_chart(
    metric: &str,
    series: &BTreeMap<String, (Lto, Vec<f64>)>,
) -> Result<String> {
    svg((640, 300), |root| {
        let len = series
            .values()
            .map(|(_, v)| v.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let (lo, hi) = value_range(series);
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-12);
        let mut chart = ChartBuilder::on(root)
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
            draw_trend(&mut chart, case, trend_color(*lto, i), v)?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 10))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// The lowest and highest value of all the series (0 and 1 when empty).
fn value_range(series: &BTreeMap<String, (Lto, Vec<f64>)>) -> (f64, f64) {
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
    (lo, hi)
}

/// The LTO mode's colour, shaded by the series' index (arch, case) so
/// lines of the same LTO mode differ.
fn trend_color(lto: Lto, i: usize) -> RGBColor {
    let base = lto_color(lto);
    RGBColor(
        base.0.saturating_sub((i % 3) as u8 * 30),
        base.1,
        base.2.saturating_sub((i % 2) as u8 * 40),
    )
}

/// One case's line, its points, and its entry in the legend.
fn draw_trend(chart: &mut Chart, case: &str, c: RGBColor, v: &[f64]) -> Result<()> {
    chart
        .draw_series(LineSeries::new(
            v.iter().enumerate().map(|(x, y)| (x as f64, *y)),
            c.stroke_width(2),
        ))?
        .label(case)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    chart.draw_series(
        v.iter()
            .enumerate()
            .map(|(x, y)| Circle::new((x as f64, *y), 3, c.filled())),
    )?;
    Ok(())
}

/// Build cost (x) against another figure (y), one point per case.
pub(super) fn scatter_chart(
    x_metric: &str,
    y_metric: &str,
    pts: &[(&Record, f64, f64)],
) -> Result<String> {
    svg((640, 320), |root| {
        let xmax = pts.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.2;
        let ymax = pts.iter().map(|p| p.2).fold(0.0, f64::max).max(1e-9) * 1.2;
        let mut chart = ChartBuilder::on(root)
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
        Ok(())
    })
}
