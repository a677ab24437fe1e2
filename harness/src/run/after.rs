//! After the cases are judged: what every command that runs cases does
//! once (`run`, `gate` when it runs, each point of `series`, `bisect`
//! and `mutate`): how busy the cores were against the floor the builds
//! set (`cpu-use.json` in the results directory), the run appended to the
//! performance history (for `run` and `gate`: a series' points are not
//! the kernel's history; the history feature records it, through
//! [`History`], as it sits above the run) and the regressions it found,
//! and what bless did to each golden. Each is said as an [`Event::Note`].

use crate::events::{Event, Reporter};
use crate::host::cpustat::{CpuUse, Sampler};
use crate::model::results::{RunResults, Timeline};
use crate::model::Status;
use std::path::Path;
use std::time::Duration;

/// How many lines of a golden's diff are said.
const DIFF_LINES: usize = 80;

/// Where and how the run is recorded in the performance history.
pub struct History<'a> {
    pub path: &'a Path,
    /// Appends the run, filling in the regressions its results record.
    pub record: &'a dyn Fn(&mut RunResults, &Path) -> anyhow::Result<()>,
}

/// Watches the machine while a run goes on; [`Watch::finish`] ends it.
pub struct Watch {
    sampler: Sampler,
}

/// Starts watching the cores (a sample every 5 s).
pub fn watch() -> Watch {
    Watch {
        sampler: Sampler::start(Duration::from_secs(5)),
    }
}

impl Watch {
    /// The after-steps of `results`, written to `dir`; the history when
    /// given.
    pub fn finish(
        self,
        results: &mut RunResults,
        dir: &Path,
        history: Option<History>,
        reporter: &dyn Reporter,
    ) {
        let note = |message: &str| reporter.report(&Event::Note { message });
        for line in cpu_use(self.sampler.finish(), results, dir) {
            note(&line);
        }
        if let Some(line) = verdict_times(results) {
            note(&line);
        }
        if let Some(history) = history {
            // The history fills in the performance regressions the
            // results record.
            if let Err(e) = (history.record)(results, history.path) {
                note(&format!(
                    "lto-harness: warning: history {} not updated: {e:#}",
                    history.path.display()
                ));
            }
        }
        for c in &results.cases {
            for r in &c.regressions {
                note(&format!("PERFORMANCE REGRESSION: {r}"));
            }
        }
        for line in blessed(results) {
            note(&line);
        }
    }
}

/// What the run did with the machine: how busy each core was (from
/// `/proc/stat`) and the wall time against the floor the builds made in
/// this run set (their CPU seconds over the cores), as lines, and in
/// `cpu-use.json` of the results directory.
fn cpu_use(usage: Option<CpuUse>, r: &RunResults, dir: &Path) -> Vec<String> {
    let Some(usage) = usage else {
        return Vec::new();
    };
    let build_cpu: f64 = r
        .cases
        .iter()
        .filter(|c| !c.build.reused)
        .filter_map(|c| c.build.metadata.as_deref())
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|m| m["cpu_seconds"].as_f64())
        .sum();
    let floor = build_cpu / usage.cores.max(1) as f64;
    let mut lines = vec![format!("cpu: {}", usage.line())];
    if floor > 0.0 {
        lines.push(format!(
            "cpu: the builds made here took {build_cpu:.0} CPU s, a floor of {floor:.0} s on {} cores; \
             the run took {:.0} s wall, {:.2} x the floor",
            usage.cores,
            r.seconds,
            r.seconds / floor
        ));
    }
    let json = serde_json::json!({
        "cpu": usage,
        "build_cpu_seconds": build_cpu,
        "floor_seconds": floor,
        "wall_seconds": r.seconds,
    });
    let _ = std::fs::create_dir_all(dir);
    if let Ok(bytes) = serde_json::to_vec_pretty(&json) {
        let _ = crate::host::cache::write_atomic(&dir.join("cpu-use.json"), &bytes);
    }
    lines
}

/// When the verdicts came: the first one's time into the run, and how
/// long after its build step each case's verdict came (its boot and
/// checks, and any wait for a boot slot). Cases not run are left out.
fn verdict_times(r: &RunResults) -> Option<String> {
    let timed: Vec<(&str, Timeline)> = r
        .cases
        .iter()
        .filter(|c| c.build.status != Status::Skipped)
        .filter_map(|c| Some((c.name.as_str(), c.timeline?)))
        .collect();
    let first = timed
        .iter()
        .min_by(|a, b| a.1.verdict.total_cmp(&b.1.verdict))?;
    let after = |t: &Timeline| t.verdict - t.build_done;
    let by_gap = |a: &&(&str, Timeline), b: &&(&str, Timeline)| after(&a.1).total_cmp(&after(&b.1));
    let shortest = after(&timed.iter().min_by(by_gap)?.1);
    let longest = timed.iter().max_by(by_gap)?;
    Some(if timed.len() == 1 {
        format!(
            "verdict: {:.1} s into the run, {:.1} s after the build step ended",
            first.1.verdict,
            after(&first.1)
        )
    } else {
        format!(
            "verdicts: the first {:.1} s into the run ({}); each {shortest:.1} to {:.1} s \
             after its build step ended (the longest: {})",
            first.1.verdict,
            first.0,
            after(&longest.1),
            longest.0
        )
    })
}

/// What blessing did to each golden, with (the start of) its diff.
fn blessed(results: &RunResults) -> Vec<String> {
    let mut lines = Vec::new();
    for b in &results.blessed {
        lines.push(format!(
            "bless: golden {} ({}) from {}: {}: {}",
            b.family,
            b.path.display(),
            b.cases.join(", "),
            b.status,
            b.message
        ));
        lines.extend(b.diff.iter().take(DIFF_LINES).map(|l| format!("  {l}")));
        if b.diff.len() > DIFF_LINES {
            lines.push(format!(
                "  ... {} more diff lines",
                b.diff.len() - DIFF_LINES
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Notes(Mutex<Vec<String>>);

    impl Reporter for Notes {
        fn report(&self, event: &Event<'_>) {
            if let Event::Note { message } = event {
                self.0.lock().unwrap().push((*message).to_owned());
            }
        }
    }

    /// The verdict note: the first verdict, and the shortest and longest
    /// gap between a build step's end and its case's verdict; cases not
    /// run and results without a timeline are left out.
    #[test]
    fn the_verdict_times_are_said() {
        use crate::model::testdata;
        let timed = |name: &str, build: Status, at: Option<(f64, f64)>| {
            let mut c = testdata::case(name, build, Status::Pass, vec![]);
            c.timeline = at.map(|(build_done, verdict)| Timeline {
                build_done,
                verdict,
            });
            c
        };
        let mut r = testdata::run(vec![
            timed("b", Status::Pass, Some((1483.0, 1488.2))),
            timed("a", Status::Pass, Some((743.5, 748.4))),
            timed("c", Status::Fail, Some((1608.1, 1616.1))),
            timed("skipped", Status::Skipped, Some((0.0, 3000.0))),
            timed("loaded", Status::Pass, None),
        ]);
        assert_eq!(
            verdict_times(&r).as_deref(),
            Some(
                "verdicts: the first 748.4 s into the run (a); each 4.9 to 8.0 s \
                 after its build step ended (the longest: c)"
            )
        );
        r.cases.truncate(1);
        assert_eq!(
            verdict_times(&r).as_deref(),
            Some("verdict: 1488.2 s into the run, 5.2 s after the build step ended")
        );
        r.cases = vec![timed("loaded", Status::Pass, None)];
        assert_eq!(verdict_times(&r), None);
    }

    /// A run's after-steps write cpu-use.json, append the history when
    /// asked, and say each as a note.
    #[test]
    fn the_after_steps_are_written_and_said() {
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results/all-pass.json"
        );
        let mut r: RunResults =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.jsonl");
        let notes = Notes(Mutex::new(Vec::new()));
        let record = |r: &mut RunResults, p: &Path| -> anyhow::Result<()> {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?;
            for c in &r.cases {
                writeln!(f, "{}", c.name)?;
            }
            Ok(())
        };
        let h = || History {
            path: &history,
            record: &record,
        };
        watch().finish(&mut r, dir.path(), Some(h()), &notes);
        let said = notes.0.into_inner().unwrap();
        assert!(said.iter().any(|l| l.starts_with("cpu: ")), "{said:?}");
        assert!(dir.path().join("cpu-use.json").is_file());
        // One history line per case.
        let lines = || std::fs::read_to_string(&history).unwrap().lines().count();
        assert_eq!(lines(), r.cases.len());
        // A series point keeps out of the history.
        let notes = Notes(Mutex::new(Vec::new()));
        watch().finish(&mut r, dir.path(), None, &notes);
        assert_eq!(lines(), r.cases.len());
    }
}
