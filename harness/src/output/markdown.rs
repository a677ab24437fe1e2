//! `summary.md`: a few lines to paste into a reply on a mailing list or a
//! CI job's summary page: the counts, a table of the cases (padded, so it
//! reads as plain text too) and every step or check that did not pass, or
//! passed only on a retry. Markdown, no HTML.

use super::text::attempts_text;
use crate::model::results::RunResults;
use crate::model::untrusted::visible;
use crate::model::Status;
use std::fmt::Write as _;

/// The first line of `s`, at most `max` characters (`...` when cut).
fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim_end();
    if line.chars().count() > max {
        let mut l: String = line.chars().take(max).collect();
        l.push_str("...");
        l
    } else {
        line.to_owned()
    }
}

/// Untrusted text (from results, whatever wrote them) as Markdown text:
/// control characters shown as escapes ([`visible`]), `&`, `<` and `>` as
/// HTML entities, and `\\`, `` ` ``, `[` and `]` behind a backslash, so
/// nothing in it becomes HTML, a code span or a link.
fn md(s: &str) -> String {
    let s = visible(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A table cell: its first line as Markdown text ([`md`]), `|` escaped.
fn cell(s: &str) -> String {
    md(&first_line(s, 80)).replace('|', "\\|")
}

/// The longest run of backticks in `s`.
fn backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `s` as a code span: delimited by more backticks than it holds in a
/// row (and spaced when it starts or ends with one), control characters
/// shown as escapes.
fn code_span(s: &str) -> String {
    let s = visible(s);
    let ticks = "`".repeat(backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// A short summary to paste into a mail: the counts, a table of the cases
/// (padded, so it reads as plain text too), and every step or check that
/// did not pass, or passed only on a retry, with the first line of its
/// message. Markdown, no HTML.
pub fn markdown_summary(r: &RunResults) -> String {
    let mut out = counts_line(r);
    let _ = writeln!(out, "\n{}", about_line(r));
    if !r.cases.is_empty() {
        out.push('\n');
        out.push_str(&case_table(r));
    }
    out.push('\n');
    out.push_str(&not_passing(r));
    for c in r.cases.iter().filter(|c| c.status.is_bad()) {
        out.push('\n');
        out.push_str(&report(r, c));
    }
    out
}

/// How many evidence lines a report quotes.
const EVIDENCE_LINES: usize = 12;

/// A failing or incomplete case as a kernel test bot reports it: what was
/// built (base, config, compiler), the first thing that went wrong with
/// its evidence, and how to see it again.
fn report(r: &RunResults, c: &crate::model::results::CaseResult) -> String {
    let mut out = format!(
        "### {}: {}\n\n",
        md(&c.name),
        c.status.name().to_uppercase()
    );
    let mut base = Vec::new();
    if let Some(v) = &r.kernel_version {
        base.push(format!("Linux {v}"));
    }
    if let Some(s) = &r.source {
        base.push(s.describe());
    }
    if !base.is_empty() {
        let _ = writeln!(out, "- base: {}", md(&base.join(", ")));
    }
    let key = c
        .build
        .key
        .as_deref()
        .map(|k| format!(" (build key {})", md(k.get(..12).unwrap_or(k))))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "- config: {} {}, LTO {}, CFI {}{key}; the fragments are inline in reproduce.sh",
        c.arch.name(),
        md(c.variant
            .as_ref()
            .map_or(c.name.as_str(), |v| v.case.as_str())),
        c.lto.name(),
        c.cfi.name()
    );
    if let Some(t) = c.toolchain.as_deref().or(r.toolchain.as_deref()) {
        let _ = writeln!(out, "- compiler: {}", md(t));
    }
    // The first failure, else the first incomplete step or check.
    let tests = c.tests();
    let first = tests
        .iter()
        .find(|i| i.status == Status::Fail)
        .or_else(|| tests.iter().find(|i| i.status == Status::Incomplete));
    if let Some(i) = first {
        let _ = writeln!(
            out,
            "- first {}: {}: {}",
            if i.status == Status::Fail {
                "failure"
            } else {
                "incomplete"
            },
            md(&i.id()),
            md(&first_line(i.message, 400))
        );
        if !i.details.is_empty() {
            // A fence no evidence line can close: longer than any run of
            // backticks in it.
            let shown: Vec<String> = i
                .details
                .iter()
                .take(EVIDENCE_LINES)
                .map(|d| visible(d))
                .collect();
            let fence = "`".repeat(
                shown
                    .iter()
                    .map(|d| backtick_run(d))
                    .max()
                    .unwrap_or(0)
                    .max(2)
                    + 1,
            );
            let _ = writeln!(out, "\n{fence}");
            for d in &shown {
                let _ = writeln!(out, "{d}");
            }
            if i.details.len() > EVIDENCE_LINES {
                let _ = writeln!(out, "... {} more lines", i.details.len() - EVIDENCE_LINES);
            }
            let _ = writeln!(out, "{fence}\n");
        }
        if let Some(log) = i.log {
            let _ = writeln!(out, "- log: {}", md(&log.display().to_string()));
        }
    }
    let mut dir = String::new();
    if let Some(b) = &r.bisected {
        let short = |c: &str| c.get(..12).unwrap_or(c).to_owned();
        let _ = writeln!(
            out,
            "- bisected to: {} (\"{}\"), the first bad commit between good {} and bad {}, in {} builds",
            md(&short(&b.commit)),
            md(&b.subject),
            md(&b.good.iter().map(|g| short(g)).collect::<Vec<_>>().join(", ")),
            md(&short(&b.bad)),
            b.builds
        );
        if !b.results_dir.is_empty() {
            dir = format!("{}/", b.results_dir.trim_end_matches('/'));
        }
    }
    let _ = writeln!(
        out,
        "- reproduce: {} (builds and boots this kernel again on a Debian \
         machine and compares the outcome; `--boot-only IMAGE` boots a given kernel)",
        code_span(&format!("{dir}{}/reproduce.sh", c.name))
    );
    out
}

/// `lto-harness: N cases: ...; N steps and checks: ...`: pass and fail
/// always, incomplete and skipped when there are any.
fn counts_line(r: &RunResults) -> String {
    let mut cases = [0usize; 4];
    let mut tests = [0usize; 4];
    let idx = |s: Status| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Incomplete => 2,
        Status::Skipped => 3,
    };
    for c in &r.cases {
        cases[idx(c.status)] += 1;
        for i in c.tests() {
            tests[idx(i.status)] += 1;
        }
    }
    let counts = |n: &[usize; 4]| {
        ["pass", "fail", "incomplete", "skipped"]
            .iter()
            .zip(n)
            .filter(|(name, n)| **n > 0 || **name == "pass" || **name == "fail")
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total_tests: usize = tests.iter().sum();
    format!(
        "lto-harness: {} case{}: {}; {} steps and checks: {}\n",
        r.cases.len(),
        if r.cases.len() == 1 { "" } else { "s" },
        counts(&cases),
        total_tests,
        counts(&tests),
    )
}

/// What was tested: the kernel, the source, the toolchain, the harness.
fn about_line(r: &RunResults) -> String {
    let mut about = Vec::new();
    if let Some(v) = &r.kernel_version {
        about.push(format!("Linux {v}"));
    }
    if let Some(s) = &r.source {
        about.push(s.describe());
    }
    if let Some(t) = &r.toolchain {
        about.push(t.clone());
    }
    about.push(format!("lto-harness {}", r.harness_version));
    md(&about.join("; "))
}

/// The cases as a table, padded to the widest cell of each column.
fn case_table(r: &RunResults) -> String {
    let header = ["case", "arch", "lto", "cfi", "status"];
    let rows: Vec<[String; 5]> = r
        .cases
        .iter()
        .map(|c| {
            [
                cell(&c.name),
                cell(c.arch.name()),
                cell(c.lto.name()),
                cell(c.cfi.name()),
                c.status.name().to_owned(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, v) in width.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header.map(String::from));
    out.push_str(&line(&width.map(|w| "-".repeat(w))));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// Every step or check that did not pass, or passed only on a retry, one
/// per line with the first line of its message; or a line saying all
/// passed. A case skipped at its build (its toolchain cannot build it)
/// is one line: everything after the build is skipped with it.
fn not_passing(r: &RunResults) -> String {
    let mut notes = Vec::new();
    for c in &r.cases {
        if c.build.status == Status::Skipped {
            notes.push(format!(
                "- {} build: skipped, and everything after it: {}",
                md(&c.name),
                md(&first_line(&c.build.message, 400))
            ));
            continue;
        }
        for i in c.tests() {
            let what = md(&i.id());
            if i.status != Status::Pass {
                notes.push(format!(
                    "- {} {what}: {}: {}",
                    md(&c.name),
                    i.status.name(),
                    md(&first_line(i.message, 240))
                ));
            } else if i.unstable() {
                notes.push(format!(
                    "- {} {what}: unstable (passed on a retry; attempts: {}): {}",
                    md(&c.name),
                    attempts_text(i.attempts),
                    md(&first_line(i.message, 240))
                ));
            }
        }
    }
    if notes.is_empty() {
        return "Every step and check passed.\n".into();
    }
    let mut out = String::from("Not passing:\n\n");
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{fixtures, sample};

    #[test]
    fn a_failing_case_reads_like_a_bot_report() {
        let mut r = sample();
        let c = r
            .cases
            .iter_mut()
            .find(|c| c.status == Status::Fail)
            .expect("the sample has a failing case");
        let name = c.name.clone();
        c.toolchain = Some("Debian clang version 22.1.8".into());
        let failing = c
            .checks
            .iter_mut()
            .find(|k| k.status == Status::Fail)
            .expect("a failing check");
        failing.details = (0..20)
            .map(|i| format!("console line {i}: evidence"))
            .collect();
        let check = failing.name.clone();
        let md = markdown_summary(&r);
        let report = md
            .split(&format!("### {name}: FAIL"))
            .nth(1)
            .expect("a report for the failing case");
        assert!(
            report.contains("- compiler: Debian clang version 22.1.8"),
            "{report}"
        );
        // Build and boot passed here, so the first failure is the check.
        assert!(
            report.contains(&format!("- first failure: check:{check}: ")),
            "{report}"
        );
        assert!(report.contains("console line 0: evidence"), "{report}");
        assert!(report.contains("... 8 more lines"), "{report}");
        assert!(
            report.contains(&format!("`{name}/reproduce.sh`")),
            "{report}"
        );
        // Passing cases get no report.
        for c in r.cases.iter().filter(|c| c.status == Status::Pass) {
            assert!(!md.contains(&format!("### {}:", c.name)), "{md}");
        }
        assert!(!md.contains("bisected"), "{md}");
        // After a bisection: the commit, and the reproducer where it is.
        r.bisected = Some(crate::model::bisection::Bisected {
            commit: "0123456789abcdef0123".into(),
            subject: "x86/setup: move the dumper".into(),
            good: vec!["aaaaaaaaaaaaaaaa".into()],
            bad: "bbbbbbbbbbbbbbbbbbbb".into(),
            builds: 5,
            results_dir: "0123456789ab".into(),
        });
        let md = markdown_summary(&r);
        assert!(
            md.contains(
                "- bisected to: 0123456789ab (\"x86/setup: move the dumper\"), the first bad commit \
                 between good aaaaaaaaaaaa and bad bbbbbbbbbbbb, in 5 builds\n"
            ),
            "{md}"
        );
        assert!(
            md.contains(&format!("`0123456789ab/{name}/reproduce.sh`")),
            "{md}"
        );
    }

    #[test]
    fn untrusted_text_cannot_become_html_code_or_table_cells() {
        use crate::model::testdata::{case, check, run};
        let mut failing = check(
            "cfi",
            Status::Fail,
            "<script>alert(1)</script> a | b `code` [x](javascript:y) \\ & \x1b[2J",
        );
        failing.details = vec!["```".into(), "</pre><img src=x>".into()];
        let mut r = run(vec![case(
            "x|y`z",
            Status::Pass,
            Status::Pass,
            vec![failing],
        )]);
        r.toolchain = Some("clang <b>19</b>".into());
        let md = markdown_summary(&r);
        assert!(!md.contains("<script>") && !md.contains("<b>"), "{md}");
        assert!(!md.contains('\x1b'), "{md}");
        // The table row keeps its five cells: the name's pipe is escaped.
        assert!(
            md.contains("| x\\|y\\`z | x86_64 | full | on  | fail   |"),
            "{md}"
        );
        assert!(
            md.contains(
                "- x|y\\`z check:cfi: fail: &lt;script&gt;alert(1)&lt;/script&gt; a | b \\`code\\` \
                 \\[x\\](javascript:y) \\\\ &amp; \\\\x1b\\[2J\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("- compiler: clang &lt;b&gt;19&lt;/b&gt;\n"),
            "{md}"
        );
        // Evidence goes in a fence longer than any run of backticks in it.
        assert!(
            md.contains("\n````\n```\n</pre><img src=x>\n````\n"),
            "{md}"
        );
        // The reproducer's path is a code span its backtick cannot close.
        assert!(md.contains("- reproduce: ``x|y`z/reproduce.sh`` ("), "{md}");
    }

    #[test]
    fn a_case_skipped_at_its_build_is_one_line() {
        let mut r = sample();
        let c = &mut r.cases[0];
        c.build.status = Status::Skipped;
        c.build.message = "clang-15 cannot compile -fsanitize=kcfi".into();
        c.boot.status = Status::Skipped;
        for k in &mut c.checks {
            k.status = Status::Skipped;
        }
        let name = c.name.clone();
        let md = markdown_summary(&r);
        let lines: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with(&format!("- {name} ")))
            .collect();
        assert_eq!(
            lines,
            [format!(
                "- {name} build: skipped, and everything after it: clang-15 cannot compile -fsanitize=kcfi"
            )]
        );
    }

    #[test]
    fn markdown_lists_every_failing_check() {
        let md = markdown_summary(&sample());
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "lto-harness: 3 cases: 0 pass, 2 fail, 1 incomplete; \
             12 steps and checks: 6 pass, 2 fail, 1 incomplete, 3 skipped"
        );
        assert!(
            md.contains("| case                | arch   | lto  | cfi | status     |"),
            "{md}"
        );
        assert!(
            md.contains("| arm64-lto-full-cfi  | arm64  | full | on  | incomplete |"),
            "{md}"
        );
        for want in [
            "- x86_64-lto-full-cfi check:modules.runtime: fail: lkdtm did not load\n",
            "- arm64-lto-full-cfi boot: incomplete: timed out after 60 s\n",
            "- arm64-lto-full-cfi check:initcalls.boot: skipped: no boot to check\n",
            "- x86_64-lto-none build: fail: built in 394 s\n",
            "- x86_64-lto-none boot: skipped:",
            "- x86_64-lto-none check:modules.static: skipped: no kernel to check\n",
            "- x86_64-lto-full-cfi check:cfi.CFI_FORWARD_PROTO: unstable (passed on a retry; attempts: fail, pass)",
        ] {
            assert!(md.contains(want), "{want}\n---\n{md}");
        }
        assert!(!md.contains("second line"), "{md}");
        assert!(!md.contains("check:cfi.static"), "{md}");
        assert!(!md.contains('<'), "{md}");

        let (_, pass) = fixtures()
            .into_iter()
            .find(|(p, _)| p.ends_with("all-pass.json"))
            .unwrap();
        let md = markdown_summary(&pass);
        assert!(
            md.starts_with("lto-harness: 6 cases: 6 pass, 0 fail; "),
            "{md}"
        );
        assert!(md.contains("Every step and check passed."), "{md}");
    }
}
