//! A bench's figures as KCIDB I/O data (`bench-kcidb.json`, next to
//! bench.json), built as `output::kcidb` builds a run's: the checkout of
//! a run of the same source, a build per kernel (the IDs a run of its
//! case gives it), and per kernel a test per figure, status `DONE`, the
//! figure (the median of its samples) as `number` in a unit KCIDB scales
//! ([`number`]).

use super::report::unit;
use super::stats::median;
use super::{BenchReport, KernelInfo, Metric};
use crate::model::perf::Basis;
use crate::model::source::SourceIdentity;
use crate::output::kcidb::{
    checkout, checkout_id, config_name, kcidb_name, kcidb_test_path, kcidb_text, put, resource,
    short_hash, Ids, KcidbOptions, QemuEnvironment, KCIDB_MAJOR, KCIDB_MINOR,
};
use serde_json::{json, Map, Value};

/// What a bench's KCIDB data says besides the report: what the kernels
/// were built from and with, and the QEMU they ran under.
#[derive(Debug, Clone, Default)]
pub struct BenchContext<'a> {
    pub source: Option<&'a SourceIdentity>,
    pub kernel_version: Option<&'a str>,
    /// The compiler (`clang --version`'s first line).
    pub toolchain: Option<&'a str>,
    /// Kernel A's QEMU, kernel B's.
    pub qemu: [QemuEnvironment; 2],
}

/// One of the two kernels.
struct Side<'a> {
    /// `a` or `b`.
    tag: &'static str,
    kernel: &'a KernelInfo,
    other: &'a KernelInfo,
    qemu: &'a QemuEnvironment,
    build_id: String,
}

/// The bench as KCIDB I/O data (schema v[`KCIDB_MAJOR`].[`KCIDB_MINOR`]),
/// submitted by `opts.origin()`:
///
/// * one checkout, the ID a run of the same source has; the bench (mode,
///   what its figures mean, when) under `misc`;
/// * a build per kernel, `<checkout id>:<case>` as in a run;
/// * per kernel and figure a test `<build id>:<bench>:<a|b>:bench.<figure>`
///   (`<bench>` a hash of its start), path `lto_harness.bench.<figure>`,
///   status `DONE` with the median as `number` (`ERROR` when the figure
///   has no sample); boot and workload figures have the kernel's QEMU as
///   `environment` and, with a base URL, its first console log as
///   `log_url`, the others in `output_files`; the samples, the basis and,
///   for B, the comparison with A under `misc`.
pub fn bench_kcidb(r: &BenchReport, cx: &BenchContext, opts: &KcidbOptions) -> Value {
    let ids = Ids {
        origin: opts.origin(),
        checkout: checkout_id(cx.source, &r.started_at, opts.origin()),
        run: short_hash(&["bench", &r.started_at]),
    };
    let build_id = |k: &KernelInfo| format!("{}:{}", ids.checkout, kcidb_text(&k.case));
    let sides = [
        Side {
            tag: "a",
            kernel: &r.a,
            other: &r.b,
            qemu: &cx.qemu[0],
            build_id: build_id(&r.a),
        },
        Side {
            tag: "b",
            kernel: &r.b,
            other: &r.a,
            qemu: &cx.qemu[1],
            build_id: build_id(&r.b),
        },
    ];
    let mut builds: Vec<Value> = Vec::new();
    for s in &sides {
        let b = build(&ids, s, cx);
        if !builds.iter().any(|x| x["id"] == b["id"]) {
            builds.push(b);
        }
    }
    let mut tests = Vec::new();
    for m in &r.metrics {
        for s in &sides {
            tests.push(figure(&ids, s, m, r, opts));
        }
    }
    let mut bench = Map::new();
    put(&mut bench, "harness_version", env!("CARGO_PKG_VERSION"));
    put(&mut bench, "bench_started_at", r.started_at.as_str());
    put(&mut bench, "bench_seconds", finite(r.seconds));
    put(
        &mut bench,
        "bench_mode",
        serde_json::to_value(r.mode).unwrap_or_default(),
    );
    put(&mut bench, "bench_note", kcidb_text(&r.note));
    json!({
        "version": {"major": KCIDB_MAJOR, "minor": KCIDB_MINOR},
        "checkouts": [checkout(&ids, cx.source, cx.kernel_version, bench)],
        "builds": builds,
        "tests": tests,
    })
}

/// A kernel of the bench as the build it is: built (the bench has it),
/// with the compiler and the configuration; the case and cache key under
/// `misc`.
fn build(ids: &Ids, s: &Side, cx: &BenchContext) -> Value {
    let k = s.kernel;
    let mut b = Map::new();
    put(&mut b, "id", s.build_id.as_str());
    put(&mut b, "checkout_id", ids.checkout.as_str());
    put(&mut b, "origin", ids.origin);
    put(&mut b, "architecture", kcidb_name(k.arch.name()));
    put(&mut b, "compiler", cx.toolchain.map(kcidb_text));
    put(
        &mut b,
        "config_name",
        kcidb_text(&config_name(k.lto, k.cfi)),
    );
    put(&mut b, "status", "PASS");
    let mut misc = Map::new();
    put(&mut misc, "case", k.case.as_str());
    put(&mut misc, "arch", k.arch.name());
    put(&mut misc, "lto", k.lto.name());
    put(&mut misc, "cfi", k.cfi.name());
    put(&mut misc, "key", k.build_key.as_str());
    put(&mut b, "misc", misc);
    Value::Object(b)
}

/// One figure of one kernel as a test.
fn figure(ids: &Ids, s: &Side, m: &Metric, r: &BenchReport, opts: &KcidbOptions) -> Value {
    let samples = if s.tag == "a" { &m.a } else { &m.b };
    let figure = format!("bench.{}", m.name);
    let mut t = Map::new();
    put(
        &mut t,
        "id",
        format!(
            "{}:{}:{}:{}",
            s.build_id,
            ids.run,
            s.tag,
            kcidb_text(&figure)
        ),
    );
    put(&mut t, "build_id", s.build_id.as_str());
    put(&mut t, "origin", ids.origin);
    put(&mut t, "path", kcidb_test_path(&figure));
    let value = median(samples);
    if value.is_finite() {
        put(&mut t, "status", "DONE");
        put(&mut t, "number", number(value, &m.unit));
    } else {
        put(&mut t, "status", "ERROR");
    }
    put(&mut t, "comment", kcidb_text(&comment(s, m, value)));
    // Boot and workload figures come from the kernel's boots.
    if matches!(m.basis, Basis::Icount | Basis::Wall) {
        put(&mut t, "environment", s.qemu.kcidb());
        let logs = &s.kernel.console_logs;
        if let Some(url) = logs.first().and_then(|l| opts.url_of(l)) {
            put(&mut t, "log_url", url);
        }
        let others: Vec<Value> = logs
            .iter()
            .skip(1)
            .map(|l| resource(opts, Some(l)))
            .filter(|v| !v.is_null())
            .collect();
        if !others.is_empty() {
            put(&mut t, "output_files", others);
        }
    }
    put(&mut t, "misc", figure_misc(s, m, samples, r));
    Value::Object(t)
}

/// `<value> <unit>` (or that there is none), and for B how it compares
/// with A.
fn comment(s: &Side, m: &Metric, value: f64) -> String {
    let mut text = if value.is_finite() {
        format!("{}: {value} {}", m.name, m.unit)
    } else {
        format!("{}: no sample", m.name)
    };
    let c = &m.comparison;
    if s.tag == "b" && c.delta_pct.is_finite() {
        text.push_str(&format!(
            "; {:+.2}% against {} (A): {}",
            c.delta_pct,
            s.other.case,
            c.verdict.words(m.better, m.time_like)
        ));
    }
    text
}

/// A figure's `misc`: the case and side, the figure as bench.json has it
/// (unit, basis, which way is better, the samples) and, for B, the
/// comparison with A; only finite numbers.
fn figure_misc(s: &Side, m: &Metric, samples: &[f64], r: &BenchReport) -> Map<String, Value> {
    let mut misc = Map::new();
    put(&mut misc, "case", s.kernel.case.as_str());
    put(&mut misc, "side", s.tag);
    put(&mut misc, "against", s.other.case.as_str());
    put(&mut misc, "metric", m.name.as_str());
    put(&mut misc, "unit", m.unit.as_str());
    put(
        &mut misc,
        "basis",
        serde_json::to_value(m.basis).unwrap_or_default(),
    );
    put(
        &mut misc,
        "better",
        serde_json::to_value(m.better).unwrap_or_default(),
    );
    put(
        &mut misc,
        "mode",
        serde_json::to_value(r.mode).unwrap_or_default(),
    );
    let finite_samples: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    put(&mut misc, "samples", finite_samples);
    if s.tag == "b" {
        let c = &m.comparison;
        let mut cmp = Map::new();
        put(&mut cmp, "delta_pct", finite(c.delta_pct));
        put(&mut cmp, "ci_low_pct", finite(c.ci_low_pct));
        put(&mut cmp, "ci_high_pct", finite(c.ci_high_pct));
        put(
            &mut cmp,
            "verdict",
            serde_json::to_value(c.verdict).unwrap_or_default(),
        );
        put(&mut misc, "comparison", cmp);
    }
    misc
}

/// The number, or null (left out) when it is not finite.
fn finite(v: f64) -> Value {
    if v.is_finite() {
        v.into()
    } else {
        Value::Null
    }
}

/// A figure as KCIDB's `number`: the value in the unit without its
/// prefix, with the kind of prefix a reader scales it by (`metric`,
/// `binary`), so it shows as `1.2 Minstructions` or `512 KiB`:
///
/// * seconds: `s`, metric; ns/op: `s/op`, metric (so `ns/op` again);
/// * bytes and MiB: `B`, binary;
/// * guest seconds under -icount (a guest ns is an instruction):
///   `instructions`, metric; instructions/op: as it is, metric;
/// * any other unit as it is, unscaled.
pub fn number(value: f64, unit_name: &str) -> Value {
    let (value, unit, prefix) = match unit_name {
        unit::SECONDS => (value, "s", Some("metric")),
        unit::NS_PER_OP => (value * 1e-9, "s/op", Some("metric")),
        unit::BYTES => (value, "B", Some("binary")),
        unit::MIB => (value * 1024.0 * 1024.0, "B", Some("binary")),
        unit::GUEST_SECONDS => ((value * 1e9).round(), "instructions", Some("metric")),
        unit::INSTRUCTIONS_PER_OP => (value, "instructions/op", Some("metric")),
        other => (value, other, None),
    };
    let mut n = Map::new();
    put(&mut n, "value", value);
    if !unit.is_empty() {
        put(&mut n, "unit", kcidb_text(unit));
    }
    put(&mut n, "prefix", prefix);
    Value::Object(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::{Comparison, Verdict};
    use crate::bench::Mode;
    use crate::host::needs::Need;
    use crate::model::perf::Better;
    use crate::model::{Arch, Cfi, Lto};
    use crate::output::kcidb::validate_with_kcidb_io;
    use std::path::{Path, PathBuf};

    /// `n` console logs of a kernel in `dir`.
    fn logs(dir: &str, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("{dir}/bench-console-{i}.log")))
            .collect()
    }

    fn metric(name: &str, unit: &str, basis: Basis, a: Vec<f64>, b: Vec<f64>) -> Metric {
        Metric {
            name: name.into(),
            unit: unit.into(),
            basis,
            better: Better::Lower,
            time_like: true,
            comparison: Comparison {
                a_median: median(&a),
                b_median: median(&b),
                delta_pct: 10.0,
                ci_low_pct: 9.5,
                ci_high_pct: 10.5,
                verdict: Verdict::Worse,
            },
            a,
            b,
        }
    }

    /// A deterministic bench of x86_64-lto-none (A) against
    /// x86_64-lto-full-cfi (B): a size, a boot and a workload figure, and
    /// one figure without samples.
    fn report() -> BenchReport {
        let kernel = |case: &str, lto, cfi, tag: &str| KernelInfo {
            case: case.into(),
            arch: Arch::X86_64,
            lto,
            cfi,
            build_key: format!("key-{case}"),
            console_logs: logs(&format!("/r/bench/{tag}-{case}"), 2),
        };
        BenchReport {
            mode: Mode::Deterministic,
            note: "deterministic mode: ...".into(),
            started_at: "2026-11-26T10:00:00Z".into(),
            seconds: 120.5,
            a: kernel("x86_64-lto-none", Lto::None, Cfi::Off, "a"),
            b: kernel("x86_64-lto-full-cfi", Lto::Full, Cfi::On, "b"),
            metrics: vec![
                metric(
                    "size.text",
                    unit::BYTES,
                    Basis::Exact,
                    vec![9_000_000.0],
                    vec![9_900_000.0],
                ),
                metric(
                    "boot.run_init",
                    unit::GUEST_SECONDS,
                    Basis::Icount,
                    vec![0.5, 0.5],
                    vec![0.55, 0.55],
                ),
                metric(
                    "workload.getppid",
                    unit::INSTRUCTIONS_PER_OP,
                    Basis::Icount,
                    vec![100.0, 100.0],
                    vec![110.0, 110.0],
                ),
                metric(
                    "workload.none",
                    unit::INSTRUCTIONS_PER_OP,
                    Basis::Icount,
                    vec![],
                    vec![],
                ),
            ],
            regressions: vec![],
        }
    }

    fn context<'a>(source: Option<&'a SourceIdentity>) -> BenchContext<'a> {
        let qemu = |accel: &str| QemuEnvironment {
            version: Some("QEMU emulator version 7.2.15".into()),
            accel: Some(accel.into()),
        };
        BenchContext {
            source,
            kernel_version: Some("6.12.117"),
            toolchain: Some("Debian clang version 19.1.7"),
            qemu: [qemu("tcg"), qemu("tcg")],
        }
    }

    fn published() -> KcidbOptions {
        KcidbOptions::new("my_ci", Some("https://ci.example.org/b/7"), Path::new("/r")).unwrap()
    }

    #[test]
    fn every_bench_unit_becomes_a_unit_kcidb_scales() {
        let got: Vec<Value> = unit::ALL.iter().map(|u| number(2.0, u)).collect();
        assert_eq!(
            got,
            [
                json!({"value": 2.0, "unit": "s", "prefix": "metric"}),
                json!({"value": 2.0, "unit": "B", "prefix": "binary"}),
                json!({"value": 2097152.0, "unit": "B", "prefix": "binary"}),
                json!({"value": 2e9, "unit": "instructions", "prefix": "metric"}),
                json!({"value": 2.0, "unit": "instructions/op", "prefix": "metric"}),
                json!({"value": 2e-9, "unit": "s/op", "prefix": "metric"}),
            ]
        );
        // A guest-time figure is a whole number of instructions.
        assert_eq!(
            number(0.123456789, unit::GUEST_SECONDS)["value"],
            123456789.0
        );
        assert_eq!(
            number(3.0, "widgets"),
            json!({"value": 3.0, "unit": "widgets"})
        );
        assert_eq!(number(3.0, ""), json!({"value": 3.0}));
    }

    #[test]
    fn every_figure_of_each_kernel_is_a_done_test_with_its_number() {
        let source = SourceIdentity::Tarball {
            path: "/usr/src/linux-source-6.12.tar.xz".into(),
            sha256: "cd".repeat(32),
        };
        let r = report();
        let k = bench_kcidb(&r, &context(Some(&source)), &published());
        let builds = k["builds"].as_array().unwrap();
        assert_eq!(builds.len(), 2);
        assert_eq!(builds[0]["config_name"], "lto-none");
        assert_eq!(builds[1]["config_name"], "lto-full+cfi");
        assert_eq!(builds[1]["compiler"], "Debian clang version 19.1.7");
        assert_eq!(builds[1]["misc"]["key"], "key-x86_64-lto-full-cfi");
        // The checkout and builds have the IDs a run of the same source
        // and cases gives them.
        let checkout = &k["checkouts"][0];
        assert_eq!(
            checkout["id"],
            format!("my_ci:{}", short_hash(&["source", &source.key()]))
        );
        assert_eq!(
            builds[1]["id"],
            format!("{}:x86_64-lto-full-cfi", checkout["id"].as_str().unwrap())
        );
        assert_eq!(checkout["misc"]["bench_mode"], "deterministic");

        let tests = k["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 8);
        let find = |case: &str, path: &str| {
            tests
                .iter()
                .find(|t| t["path"] == path && t["misc"]["case"] == case)
                .unwrap_or_else(|| panic!("{case} {path}"))
        };
        let text_b = find("x86_64-lto-full-cfi", "lto_harness.bench.size.text");
        assert_eq!(text_b["status"], "DONE");
        assert_eq!(
            text_b["number"],
            json!({"value": 9_900_000.0, "unit": "B", "prefix": "binary"})
        );
        assert_eq!(text_b["misc"]["comparison"]["verdict"], "worse");
        assert_eq!(
            text_b["comment"],
            "size.text: 9900000 bytes; +10.00% against x86_64-lto-none (A): slower"
        );
        // A size is read off the build: no QEMU, no console log.
        assert!(text_b.get("environment").is_none() && text_b.get("log_url").is_none());
        let boot_a = find("x86_64-lto-none", "lto_harness.bench.boot.run_init");
        assert_eq!(
            boot_a["number"],
            json!({"value": 5e8, "unit": "instructions", "prefix": "metric"})
        );
        assert!(boot_a["misc"].get("comparison").is_none());
        assert_eq!(boot_a["misc"]["samples"], json!([0.5, 0.5]));
        assert_eq!(boot_a["environment"]["misc"]["accel"], "tcg");
        assert_eq!(
            boot_a["log_url"],
            "https://ci.example.org/b/7/bench/a-x86_64-lto-none/bench-console-0.log"
        );
        assert_eq!(
            boot_a["output_files"],
            json!([{"name": "bench-console-1.log",
                    "url": "https://ci.example.org/b/7/bench/a-x86_64-lto-none/bench-console-1.log"}])
        );
        let op_b = find("x86_64-lto-full-cfi", "lto_harness.bench.workload.getppid");
        assert_eq!(op_b["number"]["value"], 110.0);
        // No samples: not DONE, no number.
        let none = find("x86_64-lto-none", "lto_harness.bench.workload.none");
        assert_eq!(none["status"], "ERROR");
        assert!(none.get("number").is_none());
        assert_eq!(none["comment"], "workload.none: no sample");

        let mut ids: Vec<&str> = tests.iter().map(|t| t["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
        assert!(ids.iter().all(|id| id.starts_with("my_ci:")));

        // A kernel against itself: one build, its tests still apart.
        let mut same = r.clone();
        same.b = same.a.clone();
        let k = bench_kcidb(&same, &context(None), &KcidbOptions::default());
        assert_eq!(k["builds"].as_array().unwrap().len(), 1);
        let mut ids: Vec<&str> = k["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
        // No base URL: no URLs.
        assert!(!k.to_string().contains("log_url"));
    }

    #[test]
    fn bench_kcidb_validates_against_kcidb_io() {
        crate::skip_unless!(
            "bench_kcidb_validates_against_kcidb_io",
            Need::Python {
                module: "kcidb_io",
                pip: "kcidb-io==141"
            }
        );
        let source = SourceIdentity::Git {
            path: "/src/linux".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            dirty: false,
            diff_sha256: None,
        };
        let mut r = report();
        // Every unit, wall mode's among them.
        for (i, u) in unit::ALL.iter().enumerate() {
            r.metrics.push(metric(
                &format!("unit.u{i}"),
                u,
                Basis::Wall,
                vec![1.5],
                vec![f64::NAN],
            ));
        }
        let data = bench_kcidb(&r, &context(Some(&source)), &published());
        let tests = data["tests"].as_array().unwrap();
        assert!(tests
            .iter()
            .any(|t| t["status"] == "DONE" && t["number"]["prefix"] == "binary"));
        assert!(tests.iter().any(|t| t.get("log_url").is_some()));
        assert!(tests.iter().any(|t| t.get("environment").is_some()));
        validate_with_kcidb_io("bench", &data);
        validate_with_kcidb_io(
            "bench, defaults",
            &bench_kcidb(&r, &BenchContext::default(), &KcidbOptions::default()),
        );
    }
}
