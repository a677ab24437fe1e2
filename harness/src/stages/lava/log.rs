//! The dispatcher's log read back: one record per line, `{"dt": …, "lvl":
//! …, "msg": …}` as LAVA dumps it (YAML flow mappings with double-quoted
//! values; a lab's `output.yaml` puts `- ` before each). The `target`
//! records are the device's console, written out as a console log for the
//! checks; the `results` record of case `job` is the job's end, with
//! LAVA's own typed `error_type`. A line that is not a record is noise and
//! skipped (counted), as the console parser skips noise; memory stays flat
//! in the log's size.

use crate::model::results::BootEnd;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// One record of the log.
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    lvl: String,
    #[serde(default)]
    msg: Msg,
}

#[derive(Debug, Deserialize, Default)]
#[serde(untagged)]
enum Msg {
    Text(String),
    Map(BTreeMap<String, serde_json::Value>),
    #[default]
    None,
}

/// How the job ended, as LAVA's `job` result says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// `pass`, `fail` or `incomplete`.
    pub result: String,
    /// LAVA's error class: `Infrastructure`, `Job`, `Test`, `Bug`,
    /// `Configuration`, `Canceled`, `LAVATimeout`, `MultinodeTimeout`.
    pub error_type: Option<String>,
    pub error_msg: Option<String>,
}

/// What a LAVA log held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LavaLog {
    /// Console lines (the `target` records).
    pub console_lines: usize,
    /// The job's end; None when the log stops before it.
    pub job: Option<JobEnd>,
    /// The dispatcher's `error` records, in order.
    pub errors: Vec<String>,
    /// Lines that were not records.
    pub noise: usize,
}

impl LavaLog {
    /// The boot's end for the checks: a clean end or a test-level failure
    /// leaves the verdict to the console (as a QEMU exit does); LAVA's
    /// timeout is a timeout; any other error class (the lab's, the job
    /// definition's, a dispatcher bug, a cancel) ended the job without a
    /// boot to judge: the lab's, quoted, never the kernel's.
    pub fn boot_end(&self, timeout_secs: u64) -> BootEnd {
        let Some(job) = &self.job else {
            return BootEnd::Lab {
                error: format!(
                    "the LAVA log ends without the job's result ({} console lines){}",
                    self.console_lines,
                    self.errors
                        .last()
                        .map_or(String::new(), |e| format!("; its last error: {e}"))
                ),
            };
        };
        match job.error_type.as_deref() {
            // The console decides, as for a QEMU that exited by itself.
            None | Some("") | Some("Test") => BootEnd::Exited { code: Some(0) },
            Some("LAVATimeout") => BootEnd::TimedOut {
                after_seconds: timeout_secs,
            },
            Some(kind) => BootEnd::Lab {
                error: format!(
                    "LAVA ended the job: {kind} error: {}",
                    job.error_msg
                        .clone()
                        .or_else(|| self.errors.last().cloned())
                        .unwrap_or_else(|| "(no message)".into())
                ),
            },
        }
    }
}

/// Reads a LAVA log from `input`, writing its console to `console`.
pub fn read(input: impl BufRead, mut console: impl Write) -> std::io::Result<LavaLog> {
    let mut out = LavaLog::default();
    for line in input.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        let body = text.strip_prefix("- ").unwrap_or(text).trim();
        if body.is_empty() {
            continue;
        }
        let Ok(r) = serde_saphyr::from_str::<Record>(body) else {
            out.noise += 1;
            continue;
        };
        match (r.lvl.as_str(), r.msg) {
            ("target", Msg::Text(t)) => {
                console.write_all(t.as_bytes())?;
                console.write_all(b"\n")?;
                out.console_lines += 1;
            }
            ("error", Msg::Text(t)) => out.errors.push(t),
            ("results", Msg::Map(m)) if m.get("case").and_then(|c| c.as_str()) == Some("job") => {
                let field = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                out.job = Some(JobEnd {
                    result: field("result").unwrap_or_default(),
                    error_type: field("error_type"),
                    error_msg: field("error_msg"),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reads the LAVA log at `path` into the console log at `console`.
pub fn read_file(path: &Path, console: &Path) -> std::io::Result<LavaLog> {
    let input = std::io::BufReader::new(std::fs::File::open(path)?);
    let out = std::io::BufWriter::new(std::fs::File::create(console)?);
    read(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = r#"{"dt": "2026-12-07T22:10:01.819472", "lvl": "info", "msg": "Waiting for start message: @@LTOH BEGIN"}
{"dt": "2026-12-07T22:10:03.136016", "lvl": "target", "msg": "Booting from ROM..\e[?7l\e[2J\e[0m.[    0.000000] Linux version 6.12.118 (root@vm)"}
{"dt": "2026-12-07T22:10:04.299565", "lvl": "target", "msg": "@@LTOH BEGIN x86_64-lto-full-cfi"}
{"dt": "2026-12-07T22:10:04.331257", "lvl": "results", "msg": {"case": "insmod_test_module", "definition": "lto-harness", "result": "pass"}}
not a record at all
{"dt": "2026-12-07T22:10:06.260036", "lvl": "target", "msg": "@@LTOH END rc=0"}
{"dt": "2026-12-07T22:10:08.276807", "lvl": "feedback", "msg": "[    0.000000] Linux version 6.12.118 (a second boot, after the test)"}
{"dt": "2026-12-07T22:10:08.392959", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;

    #[test]
    fn the_console_is_the_target_records_and_the_job_ends_clean() {
        let mut console = Vec::new();
        let log = read(PASS.as_bytes(), &mut console).unwrap();
        let text = String::from_utf8(console).unwrap();
        assert_eq!(log.console_lines, 3);
        assert!(
            text.contains("\u{1b}[0m.[    0.000000] Linux version 6.12.118"),
            "{text}"
        );
        assert!(
            text.ends_with("@@LTOH BEGIN x86_64-lto-full-cfi\n@@LTOH END rc=0\n"),
            "{text}"
        );
        assert!(!text.contains("second boot"));
        assert_eq!(log.noise, 1);
        assert_eq!(log.boot_end(300), BootEnd::Exited { code: Some(0) });
    }

    #[test]
    fn a_labs_output_yaml_reads_the_same() {
        let yaml: String = PASS.lines().map(|l| format!("- {l}\n")).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(
            read(PASS.as_bytes(), &mut a).unwrap(),
            read(yaml.as_bytes(), &mut b).unwrap()
        );
        assert_eq!(a, b);
    }

    #[test]
    fn lava_errors_end_by_their_type() {
        let end = |kind: &str| {
            let log = format!(
                "{{\"dt\": \"x\", \"lvl\": \"error\", \"msg\": \"Unable to download file:///nope\"}}\n\
                 {{\"dt\": \"x\", \"lvl\": \"results\", \"msg\": {{\"case\": \"job\", \"definition\": \"lava\", \"result\": \"fail\", \"error_type\": \"{kind}\", \"error_msg\": \"boom\"}}}}\n"
            );
            read(log.as_bytes(), Vec::new()).unwrap().boot_end(60)
        };
        assert_eq!(
            end("Infrastructure"),
            BootEnd::Lab {
                error: "LAVA ended the job: Infrastructure error: boom".into()
            }
        );
        assert!(matches!(end("Job"), BootEnd::Lab { .. }));
        assert_eq!(end("LAVATimeout"), BootEnd::TimedOut { after_seconds: 60 });
        assert_eq!(end("Test"), BootEnd::Exited { code: Some(0) });
        // A log cut before the job's end: the lab's, with its last error.
        let cut = read(
            &b"{\"lvl\": \"error\", \"msg\": \"lost the board\"}\n"[..],
            Vec::new(),
        )
        .unwrap();
        assert!(
            matches!(cut.boot_end(60), BootEnd::Lab { error } if error.contains("lost the board"))
        );
    }
}
