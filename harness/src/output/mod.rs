//! Output: a run's results in the formats people and CI systems read,
//! written by [`write_all`] into the results directory:
//!
//! * `results.json`: everything, per case and per step (the
//!   [`RunResults`] as they are; read back by `merge`, `compare`, `gate`
//!   and `series`);
//! * `junit.xml` ([`junit`]): JUnit XML, for CI test reports;
//! * `libtest.jsonl` ([`libtest`]): libtest's JSON lines, for tools that
//!   read `cargo test`;
//! * `kcidb.json` ([`kcidb`]): KernelCI's KCIDB I/O data, with the
//!   origin and published URLs its [`KcidbOptions`] say;
//! * `results.ktap` ([`ktap`]): KTAP version 1, a subtest per case, for
//!   the kernel's own test tools (`kunit.py parse`);
//! * `summary.md` ([`markdown`]): a few lines for a mail or a job summary.
//!
//! Every format has one test per step and check, as
//! [`CaseResult::tests`](crate::model::results::CaseResult::tests)
//! enumerates them: `build`, `boot` and `check:<name>` for each check
//! other than `boot` (which the boot step already is).
//!
//! Beside them, each case the run built (or failed to build) gets
//! `<case>/reproduce.sh` ([`reproduce`]): a script that builds and boots
//! its kernel again on another machine and compares the outcome.

pub mod junit;
pub mod kcidb;
pub mod ktap;
pub mod libtest;
pub mod lock;
pub mod markdown;
pub mod reproduce;
mod text;
pub mod writer;

pub use kcidb::KcidbOptions;

use crate::model::results::RunResults;
use anyhow::{Context, Result};
use std::path::Path;

/// Writes every format of `results` into `dir` (created if need be):
/// `results.json`, `junit.xml`, `libtest.jsonl`, `kcidb.json` (as
/// `kcidb` says), `results.ktap`, `summary.md`. All or nothing: each is
/// written in full to a temporary file first, and only when all six are
/// on disk are they renamed into place, so a full disk or an error
/// leaves the previous run's files as they were.
pub fn write_all(results: &RunResults, dir: &Path, kcidb: &KcidbOptions) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files: [(&str, Vec<u8>); 6] = [
        ("results.json", serde_json::to_vec_pretty(results)?),
        ("junit.xml", junit::junit(results)?.into_bytes()),
        ("libtest.jsonl", libtest::libtest_json(results).into_bytes()),
        (
            "kcidb.json",
            serde_json::to_vec_pretty(&kcidb::kcidb(results, kcidb))?,
        ),
        ("results.ktap", ktap::ktap(results).into_bytes()),
        (
            "summary.md",
            markdown::markdown_summary(results).into_bytes(),
        ),
    ];
    let mut staged = Vec::with_capacity(files.len());
    for (name, bytes) in &files {
        let path = dir.join(name);
        let mut tmp = crate::host::cache::staged_file(&path)?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        staged.push((tmp, path));
    }
    // Each case's reproduce.sh, staged with the rest.
    for (path, text) in reproducers(results, dir)? {
        use std::os::unix::fs::PermissionsExt;
        let mut tmp = crate::host::cache::staged_file(&path)?;
        tmp.write_all(text.as_bytes())
            .and_then(|_| {
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o755))
            })
            .and_then(|_| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        staged.push((tmp, path));
    }
    for (tmp, path) in staged {
        tmp.persist(&path)
            .with_context(|| format!("renaming into {}", path.display()))?;
    }
    Ok(())
}

/// Each case's `reproduce.sh` (path, text), for the cases with a recipe;
/// what the recorded console showed is read from the boot's log. A case
/// name that would leave `dir` (a results.json from elsewhere, merged) is
/// an error, before anything is written.
fn reproducers(results: &RunResults, dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>> {
    let mut out = Vec::new();
    for c in &results.cases {
        let Some(recipe) = c.recipe.as_ref() else {
            continue;
        };
        let case_dir = crate::case::join_name(dir, &c.name)
            .with_context(|| format!("writing the reproducer of case `{}`", c.name))?;
        let recorded = c
            .boot
            .console_log
            .as_ref()
            .and_then(|l| std::fs::read(l).ok())
            .map(|b| reproduce::ConsoleFacts::of(&b));
        let text = reproduce::script(results, c, recipe, recorded.as_ref());
        out.push((case_dir.join(reproduce::SCRIPT), text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, run, sample};
    use crate::model::Status;
    use serde_json::Value;

    #[test]
    fn results_json_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let r = run(vec![case("a", Status::Pass, Status::Pass, vec![])]);
        write_all(&r, d.path(), &KcidbOptions::default()).unwrap();
        let back: RunResults =
            serde_json::from_slice(&std::fs::read(d.path().join("results.json")).unwrap()).unwrap();
        assert_eq!(back.cases[0].name, "a");
        assert_eq!(back.cases[0].status, Status::Pass);
        assert!(d.path().join("junit.xml").exists());
    }

    /// A results.json from elsewhere (`merge`) whose case is named `..`:
    /// refused, and nothing written inside or outside the directory.
    #[test]
    fn a_case_name_that_leaves_the_directory_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("res");
        for name in ["..", ".", "../x", "a/b", ""] {
            let mut r = run(vec![case(name, Status::Pass, Status::Pass, vec![])]);
            r.cases[0].recipe = Some(Default::default());
            let e = write_all(&r, &out, &KcidbOptions::default()).unwrap_err();
            let e = format!("{e:#}");
            assert!(
                e.contains(&format!("writing the reproducer of case `{name}`"))
                    && e.contains("cannot name a directory inside"),
                "{e}"
            );
            assert!(!d.path().join(reproduce::SCRIPT).exists());
            assert!(!out.join("results.json").exists(), "{name}");
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{name}");
        }
    }

    /// Two writers of one results directory at once, as two `merge`s
    /// would be: each takes the directory's lock before it writes. While
    /// one holds it the other is refused, naming the directory; and after
    /// rounds of both racing, results.json, junit.xml, results.ktap and
    /// summary.md are always one run's.
    #[test]
    fn two_writers_never_mix_their_files() {
        use lock::{LockError, ResultsLock};
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("res");
        let runs = [
            run(vec![case("writer-a", Status::Pass, Status::Pass, vec![])]),
            run(vec![case("writer-b", Status::Fail, Status::Fail, vec![])]),
        ];
        // The second writer while the first holds the lock.
        let held = ResultsLock::take(&dir).unwrap();
        let e = std::thread::scope(|s| s.spawn(|| ResultsLock::take(&dir).unwrap_err()).join())
            .unwrap();
        assert!(matches!(e, LockError::Busy { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("results directory {} is in use", dir.display())),
            "{e}"
        );
        drop(held);
        // Both racing, 40 rounds each.
        let refused = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for r in &runs {
                let (dir, refused) = (&dir, &refused);
                s.spawn(move || {
                    for _ in 0..40 {
                        // Checked by the holder, after its write: what a
                        // reader sees once the writer is done.
                        let _lock = match ResultsLock::take(dir) {
                            Ok(lock) => lock,
                            Err(LockError::Busy { .. }) => {
                                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        };
                        write_all(r, dir, &KcidbOptions::default()).unwrap();
                        let back: RunResults = serde_json::from_slice(
                            &std::fs::read(dir.join("results.json")).unwrap(),
                        )
                        .unwrap();
                        let name = &back.cases[0].name;
                        let other = if name == "writer-a" {
                            "writer-b"
                        } else {
                            "writer-a"
                        };
                        for f in ["junit.xml", "results.ktap", "summary.md"] {
                            let text = std::fs::read_to_string(dir.join(f)).unwrap();
                            assert!(
                                text.contains(name.as_str()) && !text.contains(other),
                                "{f} is not {name}'s"
                            );
                        }
                    }
                });
            }
        });
        eprintln!(
            "{} of 80 writes refused while the other wrote",
            refused.into_inner()
        );
    }

    #[test]
    fn write_puts_every_format_next_to_results_json() {
        let d = tempfile::tempdir().unwrap();
        let r = sample();
        let opts = KcidbOptions::new("my_ci", Some("https://h/r"), Path::new("/r")).unwrap();
        write_all(&r, d.path(), &opts).unwrap();
        // Each file with the mode a plain file gets here (a CI artifact
        // server must be able to read them), not a temporary file's 0600.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let plain = d.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        for f in [
            "results.json",
            "junit.xml",
            "libtest.jsonl",
            "kcidb.json",
            "results.ktap",
            "summary.md",
        ] {
            assert!(d.path().join(f).is_file(), "{f}");
            assert_eq!(mode(&d.path().join(f)), mode(&plain), "{f}");
        }
        let k: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("kcidb.json")).unwrap()).unwrap();
        assert_eq!(k, kcidb::kcidb(&r, &opts));
        assert_eq!(k["builds"][0]["origin"], "my_ci");
        assert_eq!(
            k["builds"][0]["log_url"],
            "https://h/r/x86_64-lto-full-cfi/build.log"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("libtest.jsonl")).unwrap(),
            libtest::libtest_json(&r)
        );
    }
}
