//! History: every `run` and `bench` appends one JSON line per kernel to a
//! store (`$XDG_DATA_HOME/lto-harness/history.jsonl` by default), keyed by
//! source identity, config (build key), toolchain and date, so numbers can
//! be watched night after night. A metric that moved the wrong way beyond
//! its noise band since the previous record of the same case, kernel
//! series and toolchain is flagged as a regression: a 6.1 kernel is never
//! compared with a 6.12 one, nor a clang-16 build with a clang-19 one.

use crate::bench::stats;
use crate::bench::{BenchReport, Metric};
use crate::model::perf::{Basis, Better, Regression};
use crate::model::results::CaseResult;
use crate::model::untrusted::visible;
use crate::model::validate::InputError;
use crate::model::{Arch, Cfi, Lto};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One measured figure, with its interval when it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
    pub unit: String,
    pub basis: Basis,
    pub better: Better,
}

/// One kernel's numbers from one run or bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub date: String,
    /// `run` or `bench`.
    pub kind: String,
    /// Bench mode (`deterministic`, `wall`), if a bench.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub case: String,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Cfi,
    /// Source identity key.
    pub source: String,
    /// Build key (hashes the final config and toolchain).
    pub build_key: String,
    pub toolchain: String,
    /// The kernel's version (`6.12.117`); records from before it was
    /// kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    pub metrics: BTreeMap<String, Figure>,
}

impl Record {
    /// The kernel series (`6.12`) records are compared within.
    pub fn series(&self) -> Option<String> {
        self.kernel_version
            .as_deref()
            .and_then(crate::checks::golden::series)
    }

    /// Whether `other` measures the same thing: same case, kind and mode,
    /// kernel series and toolchain.
    pub fn like(&self, other: &Record) -> bool {
        self.case == other.case
            && self.kind == other.kind
            && self.mode == other.mode
            && self.toolchain == other.toolchain
            && self.series() == other.series()
    }
}

pub fn default_path() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("lto-harness/history.jsonl");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/lto-harness/history.jsonl")
}

/// The largest history read: 256 MiB. A record is about 1 KiB, so that is
/// some 250,000 kernels: decades of nightly runs of every case.
pub const HISTORY_MAX_BYTES: u64 = 256 << 20;

/// The records of a history, and what was wrong with it but did not stop
/// the reading.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// `FILE:LINE: …`: a torn last line that was skipped.
    pub warnings: Vec<String>,
}

/// Reads every record ([`load_checked`]), saying on stderr what was
/// skipped.
pub fn load(path: &Path) -> Result<Vec<Record>> {
    let loaded = load_checked(path)?;
    for w in &loaded.warnings {
        eprintln!("lto-harness: warning: {w}");
    }
    Ok(loaded.records)
}

/// Reads every record of the history at `path` (none when there is no
/// such file), at most [`HISTORY_MAX_BYTES`] of it. A last line without
/// its newline that does not parse is torn (a writer stopped in the
/// middle of it, [`append`] writes each line whole with its newline): it
/// is skipped, with a warning naming the file and line. Any other line
/// that does not parse is an error naming the file and line.
pub fn load_checked(path: &Path) -> Result<Loaded, InputError> {
    let bytes = match crate::host::input::read_bounded(path, HISTORY_MAX_BYTES, "a history file") {
        Ok(b) => b,
        Err(InputError::Read { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::default())
        }
        Err(e) => return Err(e),
    };
    let torn_tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len() - 1;
    let mut out = Loaded::default();
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(r) => out.records.push(r),
            Err(_) if i == last && torn_tail => out.warnings.push(format!(
                "{}:{}: the last line is cut short (no newline at its end: a write that did \
                 not finish); skipped",
                visible(&path.display().to_string()),
                i + 1
            )),
            Err(error) => {
                return Err(InputError::HistoryLine {
                    path: path.to_owned(),
                    line: i + 1,
                    error,
                })
            }
        }
    }
    Ok(out)
}

/// Appends records (one line each; O_APPEND keeps concurrent writers'
/// lines whole, and an exclusive `flock` keeps appenders apart). A torn
/// last line (a writer that died in the middle of it) is cut off first,
/// so the new lines do not join it and leave a bad line in the middle.
pub fn append(path: &Path, records: &[Record]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut buf = Vec::new();
    for r in records {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    cut_torn_tail(&mut f).with_context(|| format!("repairing the end of {}", path.display()))?;
    f.write_all(&buf)?;
    Ok(())
}

/// Cuts a history file (locked) after its last newline, when it does not
/// end with one: what follows is a line a writer did not finish.
fn cut_torn_tail(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // Read backwards in blocks to the last newline.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block[..n])?;
        if end == len && block[n - 1] == b'\n' {
            return Ok(());
        }
        if let Some(i) = block[..n].iter().rposition(|b| *b == b'\n') {
            return f.set_len(start + i as u64 + 1);
        }
        if start == 0 {
            return f.set_len(0);
        }
        end = start;
    }
}

/// Default noise bands for figures without an interval, in percent.
fn default_band_pct(basis: Basis) -> f64 {
    match basis {
        // One build each: machines are shared; builds of the same tree vary by several percent.
        Basis::BuildOnce => 10.0,
        // Sizes are exact; a small change is still a change, but not a regression to page anyone about.
        Basis::Exact => 0.5,
        Basis::Icount => 0.05,
        Basis::Wall => 10.0,
    }
}

/// The narrowest band the spread of earlier values may give. One
/// wall-clock sample (a run's boot, a build's time) on a machine shared
/// with other builds and boots is never trusted to better than the
/// default, however alike the earlier samples were; sizes and
/// instruction counts may be tighter.
fn floor_pct(basis: Basis) -> f64 {
    match basis {
        Basis::Wall | Basis::BuildOnce => default_band_pct(basis),
        Basis::Exact | Basis::Icount => default_band_pct(basis) / 10.0,
    }
}

/// The noise band of a metric between two records: the wider of the two
/// intervals' half-widths when both have one, else the spread of earlier
/// values of the same case (3 × median absolute deviation, at least three
/// values, at least [`floor_pct`]), else a default per basis.
fn band_pct(prev: &Figure, cur: &Figure, earlier: &[f64]) -> f64 {
    let half = |f: &Figure| match (f.lo, f.hi) {
        (Some(lo), Some(hi)) if f.value != 0.0 => Some(((hi - lo) / 2.0 / f.value.abs()) * 100.0),
        _ => None,
    };
    if let (Some(a), Some(b)) = (half(prev), half(cur)) {
        return a.max(b).max(0.01);
    }
    if earlier.len() >= 3 {
        let m = stats::median(earlier);
        let dev: Vec<f64> = earlier.iter().map(|x| (x - m).abs()).collect();
        let mad = stats::median(&dev);
        if m != 0.0 {
            return (3.0 * mad / m.abs() * 100.0).max(floor_pct(cur.basis));
        }
    }
    default_band_pct(cur.basis)
}

/// Regressions of `new` against the latest earlier record like it
/// ([`Record::like`]: same case, kind, mode, kernel series, toolchain) in
/// `history`.
pub fn regressions(history: &[Record], new: &Record) -> Vec<Regression> {
    let same = |r: &&Record| r.like(new) && r.date <= new.date && *r != new;
    let Some(prev) = history
        .iter()
        .filter(same)
        .max_by(|a, b| a.date.cmp(&b.date))
    else {
        return vec![];
    };
    let mut out = Vec::new();
    for (name, cur) in &new.metrics {
        let Some(old) = prev.metrics.get(name) else {
            continue;
        };
        if old.value == 0.0 || !old.value.is_finite() || !cur.value.is_finite() {
            continue;
        }
        let earlier: Vec<f64> = history
            .iter()
            .filter(same)
            .filter_map(|r| r.metrics.get(name).map(|f| f.value))
            .collect();
        let delta = (cur.value / old.value - 1.0) * 100.0;
        let band = band_pct(old, cur, &earlier);
        let worse = match cur.better {
            Better::Lower => delta > band,
            Better::Higher => delta < -band,
        };
        if worse {
            out.push(Regression {
                case: new.case.clone(),
                metric: name.clone(),
                previous: old.value,
                current: cur.value,
                delta_pct: delta,
                band_pct: band,
                previous_date: prev.date.clone(),
            });
        }
    }
    out
}

/// Appends a run's records (cases that produced a kernel) and fills each
/// case's `regressions` against the history before it.
pub fn record_run(results: &mut crate::model::results::RunResults, path: &Path) -> Result<()> {
    let past = load(path)?;
    let source = results
        .source
        .as_ref()
        .map(|s| s.key())
        .unwrap_or_else(|| "external".into());
    let toolchain = results.toolchain.clone().unwrap_or_default();
    let kernel_version = results.kernel_version.clone();
    let mut records = Vec::new();
    for c in &mut results.cases {
        let meta: Option<crate::stages::build::BuildMetadata> = c
            .build
            .metadata
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        if c.build.status != crate::model::Status::Pass {
            continue;
        }
        let mut rec = record_from_run(c, meta.as_ref(), &source, &toolchain, &results.started_at);
        rec.kernel_version = kernel_version.clone();
        c.regressions = regressions(&past, &rec);
        records.push(rec);
    }
    append(path, &records)
}

/// Appends a bench's records; returns the regressions against earlier benches.
pub fn record_bench(
    report: &BenchReport,
    source: &str,
    toolchain: &str,
    kernel_version: Option<&str>,
    path: &Path,
) -> Result<Vec<Regression>> {
    let past = load(path)?;
    let mut records = records_from_bench(report, source, toolchain);
    for r in &mut records {
        r.kernel_version = kernel_version.map(str::to_owned);
    }
    let regs = records.iter().flat_map(|r| regressions(&past, r)).collect();
    append(path, &records)?;
    Ok(regs)
}

fn figure(value: f64, unit: &str, basis: Basis, better: Better) -> Figure {
    Figure {
        value,
        lo: None,
        hi: None,
        unit: unit.into(),
        basis,
        better,
    }
}

/// The record of one case of a `run`: build cost, sizes, boot time.
pub fn record_from_run(
    c: &CaseResult,
    meta: Option<&crate::stages::build::BuildMetadata>,
    source: &str,
    toolchain: &str,
    date: &str,
) -> Record {
    let mut metrics = BTreeMap::new();
    if let Some(m) = meta {
        for f in crate::bench::build_figures(m) {
            metrics.insert(f.name.into(), figure(f.value, f.unit, f.basis, f.better));
        }
    }
    if c.boot.status == crate::model::Status::Pass {
        metrics.insert(
            "boot.qemu_wall".into(),
            figure(c.boot.seconds, "s", Basis::Wall, Better::Lower),
        );
    }
    Record {
        date: date.into(),
        kind: "run".into(),
        mode: None,
        // A matrix variant is filed under its case, told apart by toolchain.
        case: c
            .variant
            .as_ref()
            .map_or_else(|| c.name.clone(), |v| v.case.clone()),
        arch: c.arch,
        lto: c.lto,
        cfi: c.cfi,
        source: source.into(),
        build_key: c.build.key.clone().unwrap_or_default(),
        toolchain: c.toolchain.as_deref().unwrap_or(toolchain).into(),
        kernel_version: None,
        metrics,
    }
}

/// The two records of a bench: each kernel's own medians with intervals.
pub fn records_from_bench(r: &BenchReport, source: &str, toolchain: &str) -> Vec<Record> {
    let one = |k: &crate::bench::KernelInfo, pick: &dyn Fn(&Metric) -> &Vec<f64>| {
        let mut metrics = BTreeMap::new();
        for m in &r.metrics {
            let v = pick(m);
            if v.is_empty() {
                continue;
            }
            let med = stats::median(v);
            let (lo, hi) = match m.basis {
                Basis::Wall if v.len() >= 3 => {
                    let (l, h) = stats::bootstrap_median_ci(v, 2000, 0x5eed);
                    (Some(l), Some(h))
                }
                Basis::Icount if v.len() >= 2 => (
                    Some(v.iter().copied().fold(f64::MAX, f64::min)),
                    Some(v.iter().copied().fold(f64::MIN, f64::max)),
                ),
                _ => (None, None),
            };
            metrics.insert(
                m.name.clone(),
                Figure {
                    value: med,
                    lo,
                    hi,
                    unit: m.unit.clone(),
                    basis: m.basis,
                    better: m.better,
                },
            );
        }
        Record {
            date: r.started_at.clone(),
            kind: "bench".into(),
            mode: Some(format!("{:?}", r.mode).to_lowercase()),
            case: k.case.clone(),
            arch: k.arch,
            lto: k.lto,
            cfi: k.cfi,
            source: source.into(),
            build_key: k.build_key.clone(),
            toolchain: toolchain.into(),
            kernel_version: None,
            metrics,
        }
    };
    let mut out = vec![one(&r.a, &|m| &m.a)];
    if r.b.case != r.a.case {
        out.push(one(&r.b, &|m| &m.b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(date: &str, metrics: &[(&str, f64, Basis)]) -> Record {
        Record {
            date: date.into(),
            kind: "bench".into(),
            mode: Some("deterministic".into()),
            case: "x86_64-lto-full-cfi".into(),
            arch: crate::model::Arch::X86_64,
            lto: crate::model::Lto::Full,
            cfi: crate::model::Switch::On,
            source: "tarball:abc".into(),
            build_key: "k".into(),
            toolchain: "clang 19".into(),
            kernel_version: Some("6.12.117".into()),
            metrics: metrics
                .iter()
                .map(|(n, v, b)| (n.to_string(), figure(*v, "u", *b, Better::Lower)))
                .collect(),
        }
    }

    #[test]
    fn append_and_load_round_trip_and_bad_lines_are_located() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h/history.jsonl");
        let a = rec(
            "2026-01-01T00:00:00Z",
            &[("size.text", 100.0, Basis::Exact)],
        );
        append(&p, std::slice::from_ref(&a)).unwrap();
        append(&p, std::slice::from_ref(&a)).unwrap();
        assert_eq!(load(&p).unwrap(), vec![a.clone(), a]);
        std::fs::write(
            &p,
            format!(
                "{}\n{{oops\n",
                std::fs::read_to_string(&p).unwrap().lines().next().unwrap()
            ),
        )
        .unwrap();
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("history.jsonl:2"), "{e}");
    }

    fn line(r: &Record) -> String {
        format!("{}\n", serde_json::to_string(r).unwrap())
    }

    #[test]
    fn a_torn_last_line_is_skipped_with_a_warning_and_a_torn_middle_line_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("history.jsonl");
        let a = rec(
            "2026-01-01T00:00:00Z",
            &[("size.text", 100.0, Basis::Exact)],
        );
        let whole = line(&a);
        let torn = &whole[..whole.len() / 2];
        std::fs::write(&p, format!("{whole}{whole}{torn}")).unwrap();
        let l = load_checked(&p).unwrap();
        assert_eq!(l.records, vec![a.clone(), a.clone()]);
        assert_eq!(
            l.warnings,
            [format!(
                "{}:3: the last line is cut short (no newline at its end: a write that did not \
                 finish); skipped",
                p.display()
            )]
        );
        assert_eq!(load(&p).unwrap().len(), 2);
        // The same cut line in the middle is an error naming file and line.
        std::fs::write(&p, format!("{whole}{torn}\n{whole}")).unwrap();
        let e = load_checked(&p).unwrap_err();
        assert!(matches!(e, InputError::HistoryLine { line: 2, .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:2: not a history record: ", p.display())),
            "{e}"
        );
        // Appending after a torn line cuts it off first: the file stays whole.
        std::fs::write(&p, format!("{whole}{torn}")).unwrap();
        append(&p, std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{whole}{whole}")
        );
        let l = load_checked(&p).unwrap();
        assert_eq!((l.records.len(), l.warnings.len()), (2, 0));
        // A file that is one torn line.
        std::fs::write(&p, torn).unwrap();
        append(&p, std::slice::from_ref(&a)).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), whole);
    }

    #[test]
    fn a_history_over_its_limit_is_an_error_naming_file_and_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("history.jsonl");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(HISTORY_MAX_BYTES + 1).unwrap();
        let e = load_checked(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: larger than 256 MiB (268435456 bytes), the limit for a history file; \
                 not read (is it the right file?)",
                p.display()
            )
        );
        // An endless file is read only up to the limit, then refused.
        let e = load_checked(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn worse_beyond_the_band_is_a_regression_and_within_is_not() {
        let old = rec(
            "2026-01-01T00:00:00Z",
            &[
                ("workload.getppid", 200.0, Basis::Icount),
                ("size.text", 1000.0, Basis::Exact),
            ],
        );
        // +1 % icount (band 0.05 %): regression. +0.2 % size (band 0.5 %): not.
        let new = rec(
            "2026-01-02T00:00:00Z",
            &[
                ("workload.getppid", 202.0, Basis::Icount),
                ("size.text", 1002.0, Basis::Exact),
            ],
        );
        let r = regressions(&[old.clone(), new.clone()], &new);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].metric, "workload.getppid");
        assert!((r[0].delta_pct - 1.0).abs() < 1e-9);
        // Getting better is never a regression.
        let better = rec(
            "2026-01-02T00:00:00Z",
            &[("workload.getppid", 150.0, Basis::Icount)],
        );
        assert!(regressions(std::slice::from_ref(&old), &better).is_empty());
        // No earlier record: nothing to compare.
        assert!(regressions(&[], &new).is_empty());
    }

    #[test]
    fn only_like_is_compared_with_like() {
        let old = rec("2026-01-01", &[("size.text", 100.0, Basis::Exact)]);
        let mut new = rec("2026-01-02", &[("size.text", 150.0, Basis::Exact)]);
        assert_eq!(regressions(std::slice::from_ref(&old), &new).len(), 1);
        // Another kernel series: no baseline, no regression.
        new.kernel_version = Some("6.1.192".into());
        assert!(regressions(std::slice::from_ref(&old), &new).is_empty());
        // Another toolchain.
        new.kernel_version = old.kernel_version.clone();
        new.toolchain = "clang 16".into();
        assert!(regressions(std::slice::from_ref(&old), &new).is_empty());
        // Another stable release of the same series is the same series.
        new.toolchain = old.toolchain.clone();
        new.kernel_version = Some("6.12.118".into());
        assert_eq!(regressions(&[old], &new).len(), 1);
    }

    #[test]
    fn a_matrix_variant_is_filed_under_its_case_and_toolchain() {
        let mut c = crate::model::testdata::case(
            "x86_64-lto-full-cfi+clang-22",
            crate::model::Status::Pass,
            crate::model::Status::Pass,
            vec![],
        );
        c.toolchain = Some("Debian clang version 22.1.8".into());
        c.variant = Some(crate::model::Variant {
            case: "x86_64-lto-full-cfi".into(),
            llvm: "-22".into(),
            label: "clang-22".into(),
        });
        let r = record_from_run(&c, None, "tarball:abc", "clang 16; clang 22", "2026-01-01");
        assert_eq!(r.case, "x86_64-lto-full-cfi");
        assert_eq!(r.toolchain, "Debian clang version 22.1.8");
        // Without a variant: the result's name and the run's toolchain.
        c.variant = None;
        c.toolchain = None;
        let r = record_from_run(&c, None, "tarball:abc", "clang 19", "2026-01-01");
        assert_eq!(r.case, "x86_64-lto-full-cfi+clang-22");
        assert_eq!(r.toolchain, "clang 19");
    }

    /// Earlier boots all alike give no band narrower than 10 % for one
    /// more boot (a run's boot shares the machine); earlier sizes all
    /// alike give a tighter band than the default.
    #[test]
    fn a_single_wall_sample_keeps_the_default_band() {
        let at = |day: u32, name: &str, v: f64, basis: Basis| {
            rec(&format!("2026-01-{day:02}T00:00:00Z"), &[(name, v, basis)])
        };
        let boots: Vec<Record> = (1..=5)
            .map(|d| at(d, "boot.qemu_wall", 3.67, Basis::Wall))
            .collect();
        let slower = at(6, "boot.qemu_wall", 3.79, Basis::Wall);
        let mut all = boots.clone();
        all.push(slower.clone());
        assert!(regressions(&all, &slower).is_empty(), "+3 % of one boot");
        let much_slower = at(6, "boot.qemu_wall", 4.2, Basis::Wall);
        all.pop();
        all.push(much_slower.clone());
        assert_eq!(regressions(&all, &much_slower).len(), 1, "+14 %");
        let sizes: Vec<Record> = (1..=5)
            .map(|d| at(d, "size.text", 1000.0, Basis::Exact))
            .collect();
        let bigger = at(6, "size.text", 1003.0, Basis::Exact);
        let mut all = sizes;
        all.push(bigger.clone());
        assert_eq!(regressions(&all, &bigger).len(), 1, "+0.3 % of a size");
    }

    #[test]
    fn intervals_widen_the_band() {
        let mut old = rec(
            "2026-01-01T00:00:00Z",
            &[("workload.pipe", 100.0, Basis::Wall)],
        );
        let mut new = rec(
            "2026-01-02T00:00:00Z",
            &[("workload.pipe", 108.0, Basis::Wall)],
        );
        for (r, lo, hi) in [(&mut old, 90.0, 110.0), (&mut new, 98.0, 118.0)] {
            let f = r.metrics.get_mut("workload.pipe").unwrap();
            f.lo = Some(lo);
            f.hi = Some(hi);
        }
        assert!(
            regressions(&[old.clone()], &new).is_empty(),
            "8 % inside a ±10 % band"
        );
        new.metrics.get_mut("workload.pipe").unwrap().value = 125.0;
        assert_eq!(regressions(&[old], &new).len(), 1);
    }
}
