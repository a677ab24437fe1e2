//! The bench report: the build figures of each kernel, each metric's
//! samples for A and B compared as its basis says, bench.json
//! ([`BenchReport`]), and the human table.

use super::stats::{self, Comparison, Verdict};
use super::workloads::Workload;
use super::{Mode, Samples, Subject};
use crate::model::perf::{Basis, Better};
use crate::model::{Arch, Cfi, Lto};
use crate::stages::build::BuildMetadata;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The units of bench figures (bench.json's `unit`), which KCIDB data
/// converts ([`super::kcidb::number`]).
pub mod unit {
    pub const SECONDS: &str = "s";
    pub const BYTES: &str = "bytes";
    pub const MIB: &str = "MiB";
    /// Guest time under `-icount shift=0`: a guest ns is an instruction.
    pub const GUEST_SECONDS: &str = "guest s (1 ns = 1 instruction)";
    pub const INSTRUCTIONS_PER_OP: &str = "instructions/op";
    pub const NS_PER_OP: &str = "ns/op";
    /// Every unit a bench writes.
    pub const ALL: [&str; 6] = [
        SECONDS,
        BYTES,
        MIB,
        GUEST_SECONDS,
        INSTRUCTIONS_PER_OP,
        NS_PER_OP,
    ];
}

/// One figure read off a build's metadata.
pub struct BuildFigure {
    pub name: &'static str,
    pub unit: &'static str,
    pub basis: Basis,
    pub better: Better,
    pub time_like: bool,
    pub value: f64,
}

/// Build cost and sizes of one kernel, the same list for `bench` and for
/// the history of `run`. A build made in the job pool beside other builds
/// has no `build.wall`: its wall time is its share of a shared machine,
/// which depends on what else was building, and comparing it with a build
/// that had the machine (or with another night's mix) would be noise
/// taken for a regression. Its CPU seconds and peak still compare.
pub fn build_figures(m: &BuildMetadata) -> Vec<BuildFigure> {
    let f = |name, unit, basis, time_like, value| BuildFigure {
        name,
        unit,
        basis,
        better: Better::Lower,
        time_like,
        value,
    };
    let modules: u64 = m.modules.iter().map(|x| x.bytes).sum();
    let mut figures = vec![
        f(
            "build.wall",
            unit::SECONDS,
            Basis::BuildOnce,
            true,
            m.wall_seconds,
        ),
        f(
            "build.cpu",
            unit::SECONDS,
            Basis::BuildOnce,
            true,
            m.cpu_seconds,
        ),
        f(
            "build.peak_rss",
            unit::MIB,
            Basis::BuildOnce,
            false,
            m.max_rss_kib as f64 / 1024.0,
        ),
        f(
            "size.text",
            unit::BYTES,
            Basis::Exact,
            false,
            m.vmlinux.text as f64,
        ),
        f(
            "size.data",
            unit::BYTES,
            Basis::Exact,
            false,
            m.vmlinux.data as f64,
        ),
        f(
            "size.bss",
            unit::BYTES,
            Basis::Exact,
            false,
            m.vmlinux.bss as f64,
        ),
        f(
            "size.image",
            unit::BYTES,
            Basis::Exact,
            false,
            m.image_bytes as f64,
        ),
        f(
            "size.modules",
            unit::BYTES,
            Basis::Exact,
            false,
            modules as f64,
        ),
    ];
    if m.profile.as_ref().is_some_and(|p| p.shared) {
        figures.retain(|f| f.name != "build.wall");
    }
    figures
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// e.g. `size.text`, `boot.run_init`, `workload.getppid`.
    pub name: String,
    pub unit: String,
    pub basis: Basis,
    pub better: Better,
    /// True for figures measured in time (for the verdict's words).
    pub time_like: bool,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelInfo {
    pub case: String,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Cfi,
    pub build_key: String,
    pub console_logs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub mode: Mode,
    /// What the figures mean, in words, for whoever reads bench.json.
    pub note: String,
    pub started_at: String,
    pub seconds: f64,
    pub a: KernelInfo,
    pub b: KernelInfo,
    pub metrics: Vec<Metric>,
    /// Figures that got worse beyond their noise band since the previous
    /// bench of the same kernels (filled in when the history is written).
    #[serde(default)]
    pub regressions: Vec<crate::model::perf::Regression>,
}

/// What a metric is, before its samples.
struct Spec<'a> {
    name: &'a str,
    unit: &'a str,
    basis: Basis,
    better: Better,
    time_like: bool,
}

/// B against A, as the basis allows: exact figures within a tolerance
/// (1 % for instruction counts), noisy ones with intervals; a build timed
/// once gets no verdict.
fn compare(basis: Basis, a: &[f64], b: &[f64], better: Better) -> Comparison {
    match basis {
        Basis::Icount => stats::compare_exact(a, b, better, 0.01),
        Basis::Exact => stats::compare_exact(a, b, better, 0.0),
        Basis::Wall => stats::compare_noisy(a, b, better),
        Basis::BuildOnce => {
            let mut c = stats::compare_noisy(a, b, better);
            c.verdict = Verdict::NotTested;
            c
        }
    }
}

impl Metric {
    fn new(spec: Spec, a: Vec<f64>, b: Vec<f64>) -> Metric {
        Metric {
            name: spec.name.into(),
            unit: spec.unit.into(),
            basis: spec.basis,
            better: spec.better,
            time_like: spec.time_like,
            comparison: compare(spec.basis, &a, &b, spec.better),
            a,
            b,
        }
    }
}

/// Build cost and sizes, one sample a side, when both kernels have metadata.
fn build_metrics(a: Option<&BuildMetadata>, b: Option<&BuildMetadata>) -> Vec<Metric> {
    let (Some(ma), Some(mb)) = (a, b) else {
        return vec![];
    };
    let fbs = build_figures(mb);
    build_figures(ma)
        .into_iter()
        // Only figures both have (a pooled build has no build.wall).
        .filter_map(|fa| {
            let fb = fbs.iter().find(|fb| fb.name == fa.name)?;
            Some((fa, fb))
        })
        .map(|(fa, fb)| {
            let spec = Spec {
                name: fa.name,
                unit: fa.unit,
                basis: fa.basis,
                better: fa.better,
                time_like: fa.time_like,
            };
            Metric::new(spec, vec![fa.value], vec![fb.value])
        })
        .collect()
}

/// Boot and workload figures, in the units of the mode that took them.
fn timed_metrics(a: &Samples, b: &Samples, workloads: &[Workload], mode: Mode) -> Vec<Metric> {
    let (basis, unit, per_op) = match mode {
        Mode::Deterministic => (
            Basis::Icount,
            unit::GUEST_SECONDS,
            unit::INSTRUCTIONS_PER_OP,
        ),
        Mode::Wall => (Basis::Wall, unit::SECONDS, unit::NS_PER_OP),
    };
    let timed = |name: &str, unit: &str, a: &[f64], b: &[f64]| {
        let spec = Spec {
            name,
            unit,
            basis,
            better: Better::Lower,
            time_like: true,
        };
        Metric::new(spec, a.to_vec(), b.to_vec())
    };
    let mut out = vec![
        timed("boot.run_init", unit, &a.boot_run_init, &b.boot_run_init),
        timed("boot.first_marker", unit, &a.boot_stamp, &b.boot_stamp),
    ];
    for (wi, w) in workloads.iter().enumerate() {
        let name = format!("workload.{}", w.name);
        out.push(timed(&name, per_op, &a.workloads[wi], &b.workloads[wi]));
    }
    out
}

/// Every metric of a bench, in bench.json's order: build, boot, workloads.
pub(super) fn metrics(a: &Subject, b: &Subject, workloads: &[Workload], mode: Mode) -> Vec<Metric> {
    let mut out = build_metrics(a.kernel.metadata.as_ref(), b.kernel.metadata.as_ref());
    out.extend(timed_metrics(&a.samples, &b.samples, workloads, mode));
    out
}

impl KernelInfo {
    pub(super) fn of(s: &Subject) -> KernelInfo {
        KernelInfo {
            case: s.case.name.clone(),
            arch: s.case.arch,
            lto: s.case.lto,
            cfi: s.case.cfi,
            build_key: s.kernel.key.clone(),
            console_logs: s.logs.clone(),
        }
    }
}

/// What the figures mean, in words, for whoever reads bench.json.
pub(super) fn note(mode: Mode, metrics: &[Metric]) -> String {
    let has = |name: &str| metrics.iter().any(|m| m.name == name);
    let mut note = note_of_mode(mode);
    if has("build.cpu") && !has("build.wall") {
        note.push_str(
            "; build.wall is left out: a kernel was built in the job pool beside the other, so its wall time is \
             a share of the machine (build.cpu compares); `bench --sequential` times each build alone",
        );
    }
    note
}

fn note_of_mode(mode: Mode) -> String {
    match mode {
            Mode::Deterministic => "deterministic mode: boot and workload figures are guest instruction counts under QEMU -icount \
                                    shift=0,sleep=off (1 guest ns = 1 instruction): path length under TCG, not silicon cycles; \
                                    the interval is the spread of the repeats"
                .to_owned(),
            Mode::Wall => "wall mode: host wall time of each sample (command to result, console round trip \
                           included) under plain TCG; medians of interleaved samples with bootstrap 95% intervals; \
                           emulated time is not silicon time"
                .to_owned(),
    }
}

impl BenchReport {
    /// The human table: one row per metric.
    pub fn table(&self) -> String {
        let mut out = format!(
            "A = {}   B = {}   ({:?} mode)\n{}\n\n",
            self.a.case, self.b.case, self.mode, self.note
        );
        out.push_str(&format!(
            "{:<20} {:>16} {:>16} {:>9}  {:<20} {}\n",
            "metric", "A", "B", "delta", "95% interval", "verdict"
        ));
        for m in &self.metrics {
            let c = &m.comparison;
            let interval = if c.ci_low_pct.is_nan() {
                "-".to_owned()
            } else {
                format!("[{:+.2}%, {:+.2}%]", c.ci_low_pct, c.ci_high_pct)
            };
            out.push_str(&format!(
                "{:<20} {:>16} {:>16} {:>+8.2}%  {:<20} {}\n",
                m.name,
                fmt_value(c.a_median),
                fmt_value(c.b_median),
                c.delta_pct,
                interval,
                c.verdict.words(m.better, m.time_like)
            ));
        }
        out.push_str("\nunits: ");
        let mut units: Vec<String> = self
            .metrics
            .iter()
            .map(|m| format!("{} {}", m.name, m.unit))
            .collect();
        units.dedup();
        out.push_str(&units.join("; "));
        out.push('\n');
        for r in &self.regressions {
            out.push_str(&format!("PERFORMANCE REGRESSION: {r}\n"));
        }
        out
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(scale: f64) -> Samples {
        Samples {
            boot_run_init: vec![1.0 * scale, 1.0 * scale],
            boot_stamp: vec![2.0 * scale, 2.0 * scale],
            workloads: vec![vec![100.0 * scale, 100.0 * scale]],
        }
    }

    #[test]
    fn timed_metrics_in_the_units_of_their_mode() {
        let w = super::super::workloads::select(&["getppid".into()]).unwrap();
        let (a, b) = (samples(1.0), samples(1.1));
        let det = timed_metrics(&a, &b, &w, Mode::Deterministic);
        let got: Vec<(&str, &str, Basis)> = det
            .iter()
            .map(|m| (m.name.as_str(), m.unit.as_str(), m.basis))
            .collect();
        let icount = "guest s (1 ns = 1 instruction)";
        assert_eq!(
            got,
            [
                ("boot.run_init", icount, Basis::Icount),
                ("boot.first_marker", icount, Basis::Icount),
                ("workload.getppid", "instructions/op", Basis::Icount),
            ]
        );
        assert!(det.iter().all(|m| m.time_like && m.better == Better::Lower));
        assert_eq!(det[2].comparison.verdict, Verdict::Worse);
        assert_eq!((det[2].a.clone(), det[2].b.len()), (vec![100.0, 100.0], 2));
        let wall = timed_metrics(&a, &b, &w, Mode::Wall);
        assert_eq!((wall[0].unit.as_str(), wall[0].basis), ("s", Basis::Wall));
        assert_eq!(wall[2].unit, "ns/op");
        assert!(build_metrics(None, None).is_empty());
    }

    /// A real build's metadata (x86_64-lto-full-cfi of the cold
    /// sequential run), as built alone or, flipped, in the job pool.
    fn real_metadata(shared: bool) -> BuildMetadata {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/profiles/cold-sequential/x86_64-lto-full-cfi/metadata.json");
        let mut m: BuildMetadata = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        m.profile.as_mut().unwrap().shared = shared;
        m
    }

    #[test]
    fn a_build_in_the_pool_has_no_wall_time_to_compare() {
        let names =
            |m: &BuildMetadata| -> Vec<&str> { build_figures(m).iter().map(|f| f.name).collect() };
        let (alone, pooled) = (real_metadata(false), real_metadata(true));
        assert_eq!(
            names(&alone)[..3],
            ["build.wall", "build.cpu", "build.peak_rss"]
        );
        assert_eq!(names(&pooled)[0], "build.cpu");
        assert_eq!(names(&pooled), names(&alone)[1..]);
        // A bench with one side pooled compares everything else, by name.
        let ms = build_metrics(Some(&alone), Some(&pooled));
        let got: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(got, names(&pooled));
        assert!(
            ms.iter().all(|m| m.a == m.b),
            "the same build on both sides"
        );
        assert!(note(Mode::Wall, &ms).contains("build.wall is left out"));
        let both = build_metrics(Some(&alone), Some(&alone));
        assert_eq!(both[0].name, "build.wall");
        assert!(!note(Mode::Wall, &both).contains("left out"));
    }

    #[test]
    fn the_table_has_a_row_per_metric_and_names_regressions() {
        let w = super::super::workloads::select(&["getppid".into()]).unwrap();
        let kernel = |case: &str| KernelInfo {
            case: case.into(),
            arch: Arch::X86_64,
            lto: Lto::Full,
            cfi: Cfi::Off,
            build_key: "k".into(),
            console_logs: vec![],
        };
        let r = BenchReport {
            mode: Mode::Deterministic,
            note: note(Mode::Deterministic, &[]),
            started_at: "t".into(),
            seconds: 1.0,
            a: kernel("a"),
            b: kernel("b"),
            metrics: timed_metrics(&samples(1.0), &samples(1.0), &w, Mode::Deterministic),
            regressions: vec![],
        };
        let t = r.table();
        assert!(t.starts_with("A = a   B = b   (Deterministic mode)\ndeterministic mode: "));
        let row = t
            .lines()
            .find(|l| l.starts_with("workload.getppid"))
            .unwrap();
        assert!(row.contains("100.000"), "{row}");
        assert!(t.contains("\nunits: boot.run_init guest s"), "{t}");
        let json = serde_json::to_value(&r).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "a",
                "b",
                "metrics",
                "mode",
                "note",
                "regressions",
                "seconds",
                "started_at"
            ]
        );
        assert_eq!(json["mode"], "deterministic");
    }
}
