//! The command line against what is around it, on the built binary: a
//! stdout whose reader leaves early or whose disk is full, counts of 0,
//! case names that would leave the results directory, and two processes
//! writing one results directory. None builds or boots a kernel.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn harness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lto-harness"));
    c.env_remove("LTO_HARNESS_LOG").stdin(Stdio::null());
    c
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A cases directory of `n` minimal cases (`c00000` ...).
fn many_cases(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for i in 0..n {
        std::fs::write(
            d.path().join(format!("c{i:05}.yaml")),
            "arch: x86_64\nlto: none\ncfi: off\ndescription: a case of many\n",
        )
        .unwrap();
    }
    d
}

/// `lto-harness list | head -1`: the reader takes one line and goes; the
/// list (more than a pipe holds) ends quietly, exit 0, nothing on stderr.
#[test]
fn a_reader_that_leaves_early_ends_the_output_quietly() {
    let cases = many_cases(3000);
    let mut child = harness()
        .arg("--cases")
        .arg(cases.path())
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("c00000"), "{first}");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // And through a shell, as a user types it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --cases '{}' list | head -1",
            env!("CARGO_BIN_EXE_lto-harness"),
            cases.path().display()
        ))
        .output()
        .unwrap();
    assert_eq!(stderr(&out), "", "shell pipeline");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

/// `judge LOG > /dev/full` (and `list`, `plan`): a clear error naming
/// standard output and the full disk, exit 2, not "a bug".
#[test]
fn a_full_stdout_is_an_error_naming_it_not_a_bug() {
    let log = fixture("console/x86_64-tiny-none.log");
    let cases = fixture("cases");
    let runs: [Vec<std::ffi::OsString>; 4] = [
        vec!["judge".into(), log.clone().into()],
        vec!["judge".into(), "--json".into(), log.into()],
        vec!["--cases".into(), cases.clone().into(), "list".into()],
        vec!["--cases".into(), cases.into(), "plan".into()],
    ];
    for args in runs {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = harness().args(&args).stdout(full).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            "lto-harness: error: cannot write to standard output: No space left on device (os error 28)",
            "{args:?}"
        );
    }
}

/// `--jobs 0` would be `make -j0`; every count is refused at 0 when the
/// arguments are parsed, exit 2, naming the option.
#[test]
fn counts_of_zero_are_refused_naming_the_option() {
    let cases = fixture("cases");
    let from = fixture("results/all-pass.json");
    let from = from.to_str().unwrap();
    let runs: &[(&[&str], &str)] = &[
        (&["run", "--dry-run", "--jobs", "0"], "'--jobs <JOBS>'"),
        (&["run", "--dry-run", "-j", "0"], "'--jobs <JOBS>'"),
        (
            &["run", "--dry-run", "--timeout", "0"],
            "'--timeout <SECONDS>'",
        ),
        (&["bless", "a", "--jobs", "0"], "'--jobs <JOBS>'"),
        (
            &["gate", "--baseline", from, "--jobs", "0"],
            "'--jobs <JOBS>'",
        ),
        (&["bench", "a", "b", "--boots", "0"], "'--boots <BOOTS>'"),
        (
            &["bench", "a", "b", "--samples", "0"],
            "'--samples <SAMPLES>'",
        ),
        (
            &["bench", "a", "b", "--step-timeout", "0"],
            "'--step-timeout <SECONDS>'",
        ),
        (&["plan", "--shards", "0"], "'--shards <N>'"),
        (
            &["plan", "--simulate", "2,0", "--from", from],
            "'--simulate <CORES>'",
        ),
        (&["plan", "--boot-jobs", "0"], "'--boot-jobs <BOOT_JOBS>'"),
        (&["mutate", "--jobs", "0"], "'--jobs <JOBS>'"),
        (
            &["series", "--jobs", "0", "--base", "x", "s.patch"],
            "'--jobs <JOBS>'",
        ),
    ];
    for (args, option) in runs {
        let out = harness()
            .arg("--cases")
            .arg(&cases)
            .args(*args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "invalid value '0' for {option}: must be at least 1"
            )),
            "{args:?}: {err}"
        );
    }
}

/// A case named `..` (by `name:` or by its file `...yaml`) is refused
/// before anything runs, naming the file; nothing lands beside the
/// results directory.
#[test]
fn a_case_named_dot_dot_is_refused_naming_the_file() {
    for (file, text, at) in [
        ("...yaml", "arch: x86_64\nlto: none\ncfi: off\n", ""),
        (
            "x.yaml",
            "name: ..\narch: x86_64\nlto: none\ncfi: off\n",
            ":1:7",
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        let cases = d.path().join("cases");
        std::fs::create_dir_all(&cases).unwrap();
        std::fs::write(cases.join(file), text).unwrap();
        let res = d.path().join("res");
        let out = harness()
            .arg("--cases")
            .arg(&cases)
            .args(["run", "--dry-run", "--results"])
            .arg(&res)
            .arg("..")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with(&format!(
                "lto-harness: error: {}{at}: name: ",
                cases.join(file).display()
            )) && err.contains("not `.` or `..`"),
            "{err}"
        );
        assert!(!d.path().join("initramfs.cpio.gz").exists());
    }
}

/// Two `merge`s into one results directory at once, 20 rounds: each
/// either writes or is refused (exit 2, "is in use"), and the result
/// files are always one merge's. A merge while this test holds the lock
/// is refused naming the directory and this test's pid.
#[test]
fn two_merges_into_one_directory_never_mix_their_files() {
    let d = tempfile::tempdir().unwrap();
    let res = d.path().join("res");
    let parts = [
        fixture("results/all-pass.json"),
        fixture("results/boot-fail.json"),
    ];
    let merge = |part: &Path| {
        harness()
            .args(["merge", "--results"])
            .arg(&res)
            .arg(part)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut refused = 0;
    for _ in 0..20 {
        let children = [merge(&parts[0]), merge(&parts[1])];
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            let err = stderr(&out);
            match out.status.code() {
                // all-pass passes, boot-fail fails: each its own verdict.
                Some(code) if code == i as i32 => {}
                Some(2) if err.contains("is in use: another lto-harness") => refused += 1,
                other => panic!("merge {i}: {other:?}: {err}"),
            }
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(res.join("results.json")).unwrap()).unwrap();
        let all = json["cases"].as_array().unwrap().len() == 6;
        for f in ["junit.xml", "results.ktap", "summary.md", "kcidb.json"] {
            let text = std::fs::read_to_string(res.join(f)).unwrap();
            assert_eq!(
                text.contains("arm64-lto-none"),
                all,
                "{f} disagrees with results.json"
            );
        }
    }
    eprintln!("{refused} of 40 merges refused while the other wrote");
    let held = lto_harness::output::lock::ResultsLock::take(&res).unwrap();
    let out = merge(&parts[0]).wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "lto-harness: error: results directory {} is in use: another lto-harness (pid {}) \
             is writing it (lock {}/.lto-harness.lock); one writer per results directory: \
             wait for it to finish, or give another --results",
            res.display(),
            std::process::id(),
            res.display()
        )
    );
    drop(held);
}
