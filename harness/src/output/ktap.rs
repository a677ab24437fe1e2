//! `results.ktap`: the run as a KTAP version 1 document (the format of
//! the kernel's own tests, `Documentation/dev-tools/ktap.rst`), for tools
//! that read KUnit and kselftest results (`kunit.py parse`, KernelCI).
//!
//! One top-level test per case, named after it; each is a subtest (two
//! spaces of indentation, `KTAP version 1`, `# Subtest: <case>`, a plan)
//! holding its steps and checks as
//! [`CaseResult::tests`](crate::model::results::CaseResult::tests) names
//! them: `build`, `boot`, `check:<name>`. Pass is `ok`, fail and
//! incomplete are `not ok` (an incomplete one with a `# incomplete: …`
//! diagnostic), skipped is `ok N name # SKIP reason`. Messages, details
//! and logs are diagnostic lines (`# …`) right before the result line they
//! are about, as the specification recommends.
//!
//! What could break a reader is made harmless: names get no newlines and
//! no `#` (it becomes `_`, in a SKIP reason too); text that `kunit.py`
//! takes for the end of the output (`List of all partitions:`, `Kernel
//! panic - not syncing: VFS:`, `reboot: System halted`, wherever they are
//! in a line) gets its first space doubled; a diagnostic that would read
//! as a subtest header (`# Subtest: x`) becomes `# Subtest : x`.

use crate::model::results::{CaseResult, RunResults, TestItem};
use crate::model::Status;
use std::fmt::Write as _;

/// What kunit.py's parser reads as the end of the KTAP output, anywhere in
/// a line; the writer doubles the first space of each.
const END_PHRASES: [&str; 3] = [
    "List of all partitions:",
    "Kernel panic - not syncing: VFS:",
    "reboot: System halted",
];

/// One level of indentation.
const INDENT: &str = "  ";

/// Text that no reader takes for a line of structure: no control
/// characters (newlines become spaces) and no end-of-output phrases.
fn defuse(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for p in END_PHRASES {
        if s.contains(p) {
            s = s.replace(p, &p.replacen(' ', "  ", 1));
        }
    }
    s
}

/// A test's name as a result line can hold it: one line, no `#`, no
/// leading `- ` (the optional separator) and never empty.
pub fn test_name(name: &str) -> String {
    let s = defuse(name).replace('#', "_");
    let s = s.trim();
    let s = s.strip_prefix('-').map(str::trim_start).unwrap_or(s);
    if s.is_empty() {
        "unnamed".into()
    } else {
        s.to_owned()
    }
}

/// Diagnostic lines, one per line of `text` (empty lines dropped), at
/// `indent`. A line that would read as a subtest header is changed.
fn diagnostics(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let line = defuse(line);
        let line = line.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let line = match line.trim_start().strip_prefix("Subtest:") {
            Some(rest) => format!("Subtest :{rest}"),
            None => line.to_owned(),
        };
        let _ = writeln!(out, "{indent}# {line}");
    }
}

/// A result line: `ok`/`not ok`, the number, the name, and for a skip the
/// `# SKIP` directive with the reason.
fn result_line(out: &mut String, indent: &str, n: usize, name: &str, status: Status, why: &str) {
    let _ = match status {
        Status::Pass => writeln!(out, "{indent}ok {n} {name}"),
        Status::Fail | Status::Incomplete => writeln!(out, "{indent}not ok {n} {name}"),
        Status::Skipped => {
            let why = defuse(why.lines().next().unwrap_or("")).replace('#', "_");
            let why = why.trim();
            if why.is_empty() {
                writeln!(out, "{indent}ok {n} {name} # SKIP")
            } else {
                writeln!(out, "{indent}ok {n} {name} # SKIP {why}")
            }
        }
    };
}

/// One step or check: its diagnostics, then its result line.
fn item(out: &mut String, n: usize, t: &TestItem) {
    let indent = INDENT;
    match t.status {
        Status::Incomplete => {
            diagnostics(out, indent, &format!("incomplete: {}", t.text()));
        }
        Status::Skipped => {
            // The first line of the message is the SKIP reason.
            let rest: Vec<&str> = t.message.lines().skip(1).collect();
            diagnostics(out, indent, &rest.join("\n"));
            diagnostics(out, indent, &t.details.join("\n"));
        }
        _ => diagnostics(out, indent, &t.text()),
    }
    if !t.attempts.is_empty() {
        let attempts: Vec<&str> = t.attempts.iter().map(|s| s.name()).collect();
        let what = if t.unstable() {
            "unstable: passed on a retry; attempts"
        } else {
            "attempts"
        };
        diagnostics(out, indent, &format!("{what}: {}", attempts.join(", ")));
    }
    result_line(out, indent, n, &test_name(&t.id()), t.status, t.message);
}

/// One case: a subtest of its steps and checks, then its own result.
fn case(out: &mut String, n: usize, c: &CaseResult) {
    let name = test_name(&c.name);
    let tests = c.tests();
    let _ = writeln!(out, "{INDENT}KTAP version 1");
    let _ = writeln!(out, "{INDENT}# Subtest: {name}");
    let _ = writeln!(out, "{INDENT}1..{}", tests.len());
    for (i, t) in tests.iter().enumerate() {
        item(out, i + 1, t);
    }
    // A skipped case says why: the first skipped step's reason.
    let why = tests
        .iter()
        .find(|t| t.status == Status::Skipped)
        .map(|t| t.message)
        .unwrap_or("");
    if c.status == Status::Incomplete {
        diagnostics(out, "", "incomplete");
    }
    result_line(out, "", n, &name, c.status, why);
}

/// The run as a KTAP version 1 document: a plan of one test per case,
/// each a subtest of its steps and checks.
pub fn ktap(r: &RunResults) -> String {
    let mut out = String::from("KTAP version 1\n");
    let _ = writeln!(out, "1..{}", r.cases.len());
    for (i, c) in r.cases.iter().enumerate() {
        case(&mut out, i + 1, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;
    use crate::model::testdata::{case, check, run, sample};
    use serde_json::Value;
    use std::path::{Path, PathBuf};

    #[test]
    fn ktap_of_the_sample() {
        let k = ktap(&sample());
        let lines: Vec<&str> = k.lines().collect();
        assert_eq!(
            &lines[..5],
            [
                "KTAP version 1",
                "1..3",
                "  KTAP version 1",
                "  # Subtest: x86_64-lto-full-cfi",
                "  1..5",
            ]
        );
        for want in [
            "  ok 1 build",
            "  ok 2 boot",
            "  ok 3 check:cfi.static",
            "  # unstable: passed on a retry; attempts: fail, pass",
            "  ok 4 check:cfi.CFI_FORWARD_PROTO",
            "  # lkdtm did not load",
            "  # second line",
            "  # console line 12: insmod: can't insert 'lkdtm.ko'",
            "  # attempts: fail, fail",
            "  not ok 5 check:modules.runtime",
            "not ok 1 x86_64-lto-full-cfi",
            "  # incomplete: timed out after 60 s",
            "  # log: /r/arm64-lto-full-cfi/console.log",
            "  not ok 2 boot",
            "  ok 4 check:initcalls.boot # SKIP no boot to check",
            "# incomplete",
            "not ok 2 arm64-lto-full-cfi",
            "  # foo.c:1:2: error: \"x\" undeclared",
            "  not ok 1 build",
            "  ok 3 check:modules.static # SKIP no kernel to check",
            "not ok 3 x86_64-lto-none",
        ] {
            assert!(lines.contains(&want), "{want:?} not in\n{k}");
        }
        // The incomplete boot's diagnostic comes right before its result.
        let i = lines.iter().position(|l| *l == "  not ok 2 boot").unwrap();
        assert_eq!(
            lines[i - 3..i],
            [
                "  # incomplete: timed out after 60 s",
                "  # log: /r/arm64-lto-full-cfi/console.log",
                "  # attempts: incomplete, incomplete",
            ]
        );
    }

    #[test]
    fn a_skipped_case_and_an_empty_run() {
        let r = run(vec![case("s", Status::Skipped, Status::Skipped, vec![])]);
        let mut r = r;
        r.cases[0].build.message = "not for this arch".into();
        assert!(ktap(&r).ends_with("  ok 2 boot # SKIP init ran from start marker to end marker\nok 1 s # SKIP not for this arch\n"), "{}", ktap(&r));
        assert_eq!(ktap(&run(vec![])), "KTAP version 1\n1..0\n");
    }

    #[test]
    fn names_and_messages_cannot_break_the_format() {
        let mut bad = check(
            "a#b\nnot ok 9 x",
            Status::Fail,
            "ok 7 fake\n1..3\nKTAP version 1\n# Subtest: y\n Subtest: z\nKernel panic - not syncing: VFS: Unable to mount root fs\nList of all partitions:\nreboot: System halted",
        );
        bad.details = vec!["line\rwith a carriage return".into()];
        let skip = check("s", Status::Skipped, "why # SKIP ok 1\nmore");
        let r = run(vec![case(
            "- c#1\n2",
            Status::Pass,
            Status::Pass,
            vec![bad, skip],
        )]);
        let k = ktap(&r);
        for l in k.lines() {
            let t = l.trim_start();
            let structural = t.starts_with("KTAP version")
                || t.starts_with("1..")
                || t.starts_with("ok ")
                || t.starts_with("not ok ")
                || t.starts_with("# Subtest: ");
            assert!(structural || t.starts_with("# "), "{l:?}");
            for p in END_PHRASES {
                assert!(!l.contains(p), "{l:?}");
            }
        }
        assert!(k.contains("  not ok 3 check:a_b not ok 9 x\n"), "{k}");
        assert!(
            k.contains(
                "  # ok 7 fake\n  # 1..3\n  # KTAP version 1\n  # # Subtest: y\n  # Subtest : z\n"
            ),
            "{k}"
        );
        assert!(
            k.contains("  # Kernel  panic - not syncing: VFS: Unable to mount root fs\n"),
            "{k}"
        );
        assert!(k.contains("  # line with a carriage return\n"), "{k}");
        assert!(
            k.contains("  # more\n  ok 4 check:s # SKIP why _ SKIP ok 1\n"),
            "{k}"
        );
        assert!(k.contains("# Subtest: c_1 2\n"), "{k}");
        assert!(k.ends_with("not ok 1 c_1 2\n"), "{k}");
    }

    /// The kernel tree's `tools/testing/kunit/kunit.py`: the one extracted
    /// into the cache (`src/<key>/`) when a run has unpacked a tree, else
    /// the one in Debian's tarball, extracting that directory alone into
    /// `scratch` (a new machine's unit tests run before any kernel tree is
    /// unpacked). None when neither is there.
    fn kunit_py(scratch: &Path) -> Option<PathBuf> {
        let in_tree = |root: PathBuf| -> Option<PathBuf> {
            let mut trees: Vec<PathBuf> = std::fs::read_dir(root)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("tools/testing/kunit/kunit.py"))
                .filter(|p| p.is_file())
                .collect();
            trees.sort();
            trees.pop()
        };
        if let Some(p) = crate::host::cache::Cache::open(None)
            .ok()
            .and_then(|c| in_tree(c.src_dir()))
        {
            return Some(p);
        }
        let tarball = Path::new(crate::stages::source::DEFAULT_TARBALL);
        if !tarball.is_file() {
            return None;
        }
        let status = std::process::Command::new("tar")
            .arg("-xJf")
            .arg(tarball)
            .arg("-C")
            .arg(scratch)
            .args(["--wildcards", "*/tools/testing/kunit/*"])
            .status()
            .ok()?;
        assert!(
            status.success(),
            "tar could not extract kunit_tool from {}",
            tarball.display()
        );
        in_tree(scratch.to_owned())
    }

    /// Runs `kunit.py parse` (with `extra` arguments) on `file`: its exit
    /// code and stdout (with stderr).
    fn kunit_parse(kunit: &Path, file: &Path, extra: &[&str]) -> (Option<i32>, String) {
        let o = std::process::Command::new("python3")
            .arg(kunit)
            .arg("parse")
            .args(extra)
            .arg(file)
            .output()
            .expect("python3 runs");
        let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&o.stderr));
        (o.status.code(), text)
    }

    /// kunit_tool's `kunit.py parse` reads what [`write_all`] writes
    /// without complaint: exit status 1 (the sample has failures, and
    /// kunit.py exits 1 when the result is not a success), no error or
    /// parse warning, its counts ours, and with `--json` the same names.
    ///
    /// [`write_all`]: crate::output::write_all
    #[test]
    fn kunit_py_parses_results_ktap() {
        crate::skip_unless!(
            "kunit_py_parses_results_ktap",
            Need::Tool {
                tool: "python3",
                package: "python3"
            }
        );
        let scratch = tempfile::tempdir().unwrap();
        let Some(kunit) = kunit_py(scratch.path()) else {
            let need = Need::File {
                path: crate::stages::source::DEFAULT_TARBALL,
                package: crate::stages::source::DEFAULT_TARBALL_PACKAGE,
            };
            crate::skip_unless!("kunit_py_parses_results_ktap", need);
            unreachable!("the need above is never met");
        };
        let d = tempfile::tempdir().unwrap();
        let mut r = sample();
        // What kunit.py would take for the end of the output, in a message.
        r.cases[0].checks[2].details.push(
            "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)".into(),
        );
        // And a `#` in a name, a skip reason and a message.
        r.cases[2].checks[0].name = "modules#static".into();
        r.cases[2].checks[0].message = "no kernel # to check".into();
        r.cases[1].checks[0].message = "180 initcalls # ok 3 x".into();
        crate::output::write_all(&r, d.path(), &crate::output::KcidbOptions::default()).unwrap();
        let file = d.path().join("results.ktap");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), ktap(&r));
        let (code, out) = kunit_parse(&kunit, &file, &[]);
        eprintln!("kunit.py parse results.ktap:\n{out}");
        assert_eq!(code, Some(1), "{out}");
        // kunit.py reports every parse problem as `[ERROR] Test: …`.
        let lower = out.to_lowercase();
        for bad in [
            "[error]",
            "could not",
            "traceback",
            "expected test number",
            "missing",
        ] {
            assert!(!lower.contains(bad), "{bad:?} in\n{out}");
        }
        // Our counts, one per step and check.
        let (mut pass, mut fail, mut skipped) = (0, 0, 0);
        for c in &r.cases {
            for t in c.tests() {
                match t.status {
                    Status::Pass => pass += 1,
                    Status::Fail | Status::Incomplete => fail += 1,
                    Status::Skipped => skipped += 1,
                }
            }
        }
        let want = format!(
            "Testing complete. Ran {} tests: passed: {pass}, failed: {fail}, skipped: {skipped}",
            pass + fail + skipped
        );
        assert!(out.contains(&want), "{want:?} not in\n{out}");
        // The names, as kunit.py's JSON has them.
        let (code, out) = kunit_parse(&kunit, &file, &["--json"]);
        assert_eq!(code, Some(1), "{out}");
        let start = out.find("\n{").expect("JSON in the output") + 1;
        let end = out.rfind('}').unwrap() + 1;
        let json: Value = serde_json::from_str(&out[start..end]).unwrap();
        let groups = json["sub_groups"].as_array().unwrap();
        let got: Vec<(String, Vec<(String, String)>)> = groups
            .iter()
            .map(|g| {
                let cases = g["test_cases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        (
                            t["name"].as_str().unwrap().to_owned(),
                            t["status"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                (g["name"].as_str().unwrap().to_owned(), cases)
            })
            .collect();
        let want: Vec<(String, Vec<(String, String)>)> = r
            .cases
            .iter()
            .map(|c| {
                let tests = c
                    .tests()
                    .iter()
                    .map(|t| {
                        let s = match t.status {
                            Status::Pass => "PASS",
                            Status::Skipped => "SKIP",
                            _ => "FAIL",
                        };
                        (test_name(&t.id()), s.to_owned())
                    })
                    .collect();
                (test_name(&c.name), tests)
            })
            .collect();
        assert_eq!(got, want);
    }
}
