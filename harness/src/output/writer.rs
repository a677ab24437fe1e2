//! The result writer: a consumer of the event stream that writes a run's
//! result files (results.json, junit.xml, libtest.jsonl, kcidb.json,
//! summary.md) into the directory a [`Event::RunFinished`] names, kcidb.json
//! with the [`KcidbOptions`] it was made with. An error
//! is kept and returned by [`ResultsWriter::finish`]: results that could
//! not be written are never silently lost.

use super::KcidbOptions;
use crate::events::{Event, Reporter};
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Default)]
pub struct ResultsWriter {
    kcidb: KcidbOptions,
    written: Mutex<Vec<PathBuf>>,
    errors: Mutex<Vec<anyhow::Error>>,
}

impl ResultsWriter {
    /// A writer of kcidb.json as `kcidb` says.
    pub fn new(kcidb: KcidbOptions) -> Self {
        ResultsWriter {
            kcidb,
            ..Self::default()
        }
    }

    /// The directories written so far, in order.
    pub fn written(&self) -> Vec<PathBuf> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The first write error, if any.
    pub fn finish(self) -> anyhow::Result<Vec<PathBuf>> {
        let errors = self.errors.into_inner().unwrap_or_default();
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.written.into_inner().unwrap_or_default()),
        }
    }
}

impl Reporter for ResultsWriter {
    fn report(&self, event: &Event<'_>) {
        let Event::RunFinished { results, dir } = event else {
            return;
        };
        match super::write_all(results, dir, &self.kcidb) {
            Ok(()) => {
                if let Ok(mut w) = self.written.lock() {
                    w.push(dir.to_path_buf());
                }
            }
            Err(e) => {
                if let Ok(mut errs) = self.errors.lock() {
                    errs.push(e.context(format!("writing results to {}", dir.display())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::results::{RunResults, Summary};

    fn empty() -> RunResults {
        RunResults {
            harness_version: "t".into(),
            started_at: "now".into(),
            seconds: 1.0,
            source: None,
            kernel_version: None,
            toolchain: None,
            cases: vec![],
            blessed: vec![],
            bisected: None,
            summary: Summary::default(),
        }
    }

    #[test]
    fn writes_on_run_finished_and_reports_what_it_could_not_write() {
        let d = tempfile::tempdir().unwrap();
        let w = ResultsWriter::new(KcidbOptions::new("my_ci", None, d.path()).unwrap());
        let r = empty();
        w.report(&Event::RunFinished {
            results: &r,
            dir: d.path(),
        });
        assert!(d.path().join("results.json").is_file());
        assert!(d.path().join("junit.xml").is_file());
        // kcidb.json as the writer was told.
        let k: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join("kcidb.json")).unwrap()).unwrap();
        assert_eq!(k["checkouts"][0]["origin"], "my_ci");
        // A directory that cannot be created: the error comes back, named.
        let file = d.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        w.report(&Event::RunFinished {
            results: &r,
            dir: &file.join("sub"),
        });
        let e = w.finish().unwrap_err();
        assert!(format!("{e:#}").contains("a-file/sub"), "{e:#}");
    }
}
