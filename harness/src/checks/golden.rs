//! Golden files: the initcall order a case's kernels must have, one
//! `<level> <function>` per line, and the comparison of an order with it
//! (a [`GoldenMismatch`] with a readable unified diff). A golden belongs to
//! a kernel series (`# kernel: 6.12`): a family's first golden is
//! `golden/<family>.initcalls`, those of other series
//! `golden/<family>@<series>.initcalls` ([`resolve`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::elf::initcalls::{is_level, Initcall};

/// Golden file: plain text, one initcall per line `<level> <func>` (single
/// space), in order. Lines starting with '#' and blank lines are comments.
/// Levels must be level ids ([`is_level`]); func must be a C identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Golden {
    pub path: PathBuf,
    pub entries: Vec<Initcall>,
    /// The kernel series (`6.12`) of its `# kernel:` line, if it has one.
    pub kernel: Option<String>,
}

/// The header line that names a golden's kernel series.
const KERNEL_HEADER: &str = "# kernel:";

/// `6.12.117` (or `6.12.0-rc3`, `6.1`) → `6.12`: the series a golden
/// belongs to. None when `version` does not start with two numbers.
pub fn series(version: &str) -> Option<String> {
    let mut parts = version.split(['.', '-', '+']);
    let (a, b) = (parts.next()?, parts.next()?);
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    (num(a) && num(b)).then(|| format!("{a}.{b}"))
}

/// Which golden file a kernel of a series is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// When there is no golden for the kernel's series: the series the
    /// family's golden is for (the checks then skip, saying so).
    pub only_for: Option<String>,
}

/// The golden of `family` (default file `default`) for kernels of
/// `series`: `<family>@<series>.initcalls` when it exists; else the
/// default file when it is for that series, names none, or does not exist
/// yet (blessing creates it); else the versioned file, marked as missing
/// with the series the default is for.
pub fn resolve(family: &str, default: &Path, series: Option<&str>) -> Resolved {
    let plain = Resolved {
        path: default.to_owned(),
        only_for: None,
    };
    let Some(series) = series else { return plain };
    let versioned = default.with_file_name(format!("{family}@{series}.initcalls"));
    if versioned.is_file() {
        return Resolved {
            path: versioned,
            only_for: None,
        };
    }
    match Golden::load(default).ok().and_then(|g| g.kernel) {
        Some(k) if k != series => Resolved {
            path: versioned,
            only_for: Some(k),
        },
        _ => plain,
    }
}

/// Why a golden file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error("{}: cannot read golden file: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}:{line}: {message}", .path.display())]
    Malformed {
        path: PathBuf,
        /// 1-based.
        line: usize,
        message: String,
    },
}

/// The largest golden read: 16 MiB (arm64 defconfig's 1802 initcalls
/// take about 100 KiB).
pub const GOLDEN_MAX_BYTES: u64 = 16 << 20;

impl Golden {
    pub fn load(path: &Path) -> Result<Golden, GoldenError> {
        use crate::model::validate::InputError;
        let bytes = crate::host::input::read_bounded(path, GOLDEN_MAX_BYTES, "a golden file")
            .map_err(|e| match e {
                InputError::Read { error, .. } => GoldenError::Io {
                    path: path.to_owned(),
                    error,
                },
                other => GoldenError::Malformed {
                    path: path.to_owned(),
                    line: 1,
                    message: other.to_string(),
                },
            })?;
        let text = String::from_utf8(bytes).map_err(|e| GoldenError::Malformed {
            path: path.to_owned(),
            line: 1,
            message: format!("not UTF-8 text: {e}"),
        })?;
        Golden::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Golden, GoldenError> {
        let kernel = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(KERNEL_HEADER))
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        let entries = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !is_comment(line))
            .map(|(index, line)| {
                parse_golden_line(line).map_err(|message| GoldenError::Malformed {
                    path: path.to_owned(),
                    line: index + 1,
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Golden {
            path: path.to_owned(),
            entries,
            kernel,
        })
    }

    /// The file text for `entries`, with a short '#' header naming the
    /// family and saying how to regenerate it. `parse(render(x))` gives `x`
    /// back when all levels and functions are valid (not `?`).
    pub fn render(family: &str, kernel: Option<&str>, entries: &[Initcall]) -> String {
        let family = family.replace(['\r', '\n'], " ");
        let mut text = format!(
            "# Initcall order of the `{family}` kernels: `<level> <function>` per line, in run order.\n\
             # Generated; regenerate with `lto-harness bless CASE...` after checking the diff.\n"
        );
        if let Some(k) = kernel {
            text.push_str(&format!(
                "{KERNEL_HEADER} {}\n",
                k.replace(['\r', '\n'], " ")
            ));
        }
        text.extend(entries.iter().map(|entry| format!("{entry}\n")));
        text
    }
}

fn is_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// One `<level> <function>` line, or what is wrong with it.
fn parse_golden_line(line: &str) -> Result<Initcall, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [level, func] = fields[..] else {
        return Err(format!(
            "expected `<level> <function>`, found `{}`",
            line.trim()
        ));
    };
    if !is_level(level) {
        return Err(format!(
            "unknown level `{level}`; expected early, 0-7, 0s-7s or rootfs"
        ));
    }
    if !is_identifier(func) {
        return Err(format!(
            "`{func}` is not a C identifier; expected [A-Za-z_][A-Za-z0-9_]*"
        ));
    }
    Ok(Initcall::new(level, func))
}

fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

// ---- comparison ------------------------------------------------------------------

/// The outcome of comparing an order with the golden.
#[derive(Debug, Clone, Serialize)]
pub struct GoldenMismatch {
    /// Unified diff (3 lines of context, headers `golden <path>` and `what`).
    pub diff: String,
    /// 0-based index in `actual` of the first difference.
    pub first: usize,
    /// A sentence naming the first initcall out of place and its level.
    pub summary: String,
    /// Lines removed from the golden in the diff.
    pub missing: usize,
    /// Lines added to the golden in the diff.
    pub extra: usize,
}

/// Compares `actual` (described by `what`, e.g. "boot order") with the
/// golden order; None when equal.
pub fn compare(
    golden: &[Initcall],
    golden_path: &Path,
    actual: &[Initcall],
    what: &str,
) -> Option<GoldenMismatch> {
    let first = golden
        .iter()
        .zip(actual)
        .take_while(|(g, a)| g == a)
        .count();
    if first == golden.len() && first == actual.len() {
        return None;
    }
    let old = lines(golden);
    let new = lines(actual);
    let text_diff = TextDiff::from_lines(&old, &new);
    let count = |tag| {
        text_diff
            .iter_all_changes()
            .filter(|c| c.tag() == tag)
            .count()
    };
    let diff = text_diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("golden {}", golden_path.display()), what)
        .to_string();
    Some(GoldenMismatch {
        missing: count(ChangeTag::Delete),
        extra: count(ChangeTag::Insert),
        summary: first_difference(golden, actual, first),
        first,
        diff,
    })
}

fn lines(entries: &[Initcall]) -> String {
    entries.iter().map(|e| format!("{e}\n")).collect()
}

fn first_difference(golden: &[Initcall], actual: &[Initcall], at: usize) -> String {
    let what = match (golden.get(at), actual.get(at)) {
        (Some(expected), Some(found)) => {
            format!("golden expects `{expected}`, the kernel has `{found}`")
        }
        (Some(expected), None) => format!(
            "golden expects `{expected}`, the kernel has nothing more ({} missing at the end)",
            initcalls(golden.len() - at)
        ),
        (None, Some(found)) => format!(
            "golden has nothing more; extra `{found}` ({} extra at the end)",
            initcalls(actual.len() - at)
        ),
        (None, None) => "the orders are equal".to_owned(),
    };
    format!("first difference at initcall #{}: {what}", at + 1)
}

fn initcalls(n: usize) -> String {
    match n {
        1 => "1 initcall".to_owned(),
        n => format!("{n} initcalls"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::elf::initcalls::test_support::{ic, order};

    // ---- golden ----

    fn sample() -> Vec<Initcall> {
        order(&[
            ("early", "init_hw_perf_events"),
            ("0", "init_mmap_min_addr"),
            ("1s", "sync_one"),
            ("rootfs", "populate_rootfs"),
            ("7", "_late9"),
        ])
    }

    #[test]
    fn a_golden_larger_than_its_limit_is_refused_unread() {
        let e = Golden::load(Path::new("/dev/zero")).unwrap_err();
        assert!(
            e.to_string().contains("larger than 16 MiB") && e.to_string().contains("golden"),
            "{e}"
        );
    }

    #[test]
    fn golden_round_trip() {
        let text = Golden::render("x86_64-tiny", Some("6.12"), &sample());
        assert!(text.starts_with('#'), "{text}");
        assert!(text.contains("x86_64-tiny"), "{text}");
        assert!(text.contains("lto-harness bless"), "{text}");
        let golden = Golden::parse(Path::new("g.txt"), &text).unwrap();
        assert_eq!(golden.entries, sample());
        assert_eq!(golden.path, Path::new("g.txt"));
        assert_eq!(golden.kernel.as_deref(), Some("6.12"));
        let old = Golden::render("f", None, &sample());
        assert_eq!(Golden::parse(Path::new("g"), &old).unwrap().kernel, None);
    }

    #[test]
    fn series_of_versions() {
        assert_eq!(series("6.12.117").as_deref(), Some("6.12"));
        assert_eq!(series("6.1.192").as_deref(), Some("6.1"));
        assert_eq!(series("6.13.0-rc3").as_deref(), Some("6.13"));
        assert_eq!(series("6.12").as_deref(), Some("6.12"));
        assert_eq!(series("6"), None);
        assert_eq!(series("x.y"), None);
        assert_eq!(series(""), None);
    }

    #[test]
    fn a_kernel_of_another_series_gets_its_own_golden_or_none() {
        let d = tempfile::tempdir().unwrap();
        let default = d.path().join("fam.initcalls");
        // No golden yet: the default file (bless creates it).
        let r = resolve("fam", &default, Some("6.1"));
        assert_eq!((r.path.clone(), r.only_for), (default.clone(), None));
        std::fs::write(&default, Golden::render("fam", Some("6.12"), &sample())).unwrap();
        // Its own series: the default.
        assert_eq!(resolve("fam", &default, Some("6.12")).path, default);
        assert_eq!(resolve("fam", &default, None).path, default);
        // Another series: a versioned file, missing, said to be 6.12's.
        let r = resolve("fam", &default, Some("6.1"));
        assert_eq!(r.path, d.path().join("fam@6.1.initcalls"));
        assert_eq!(r.only_for.as_deref(), Some("6.12"));
        // Once blessed, used.
        std::fs::write(&r.path, Golden::render("fam", Some("6.1"), &sample())).unwrap();
        let r = resolve("fam", &default, Some("6.1"));
        assert_eq!(
            (r.path, r.only_for),
            (d.path().join("fam@6.1.initcalls"), None)
        );
        // A golden that names no series fits every kernel (as before).
        std::fs::write(&default, Golden::render("fam", None, &sample())).unwrap();
        assert_eq!(resolve("fam", &default, Some("5.15")).path, default);
    }

    #[test]
    fn golden_comments_and_blank_lines() {
        let text = "# header\n\n1 foo\n   \n  # indented comment\r\n2 bar\r\n";
        let golden = Golden::parse(Path::new("g"), text).unwrap();
        assert_eq!(golden.entries, order(&[("1", "foo"), ("2", "bar")]));
    }

    fn malformed(text: &str) -> (usize, String) {
        match Golden::parse(Path::new("cases/g.initcalls"), text) {
            Err(GoldenError::Malformed {
                line,
                message,
                path,
            }) => {
                assert_eq!(path, Path::new("cases/g.initcalls"));
                (line, message)
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn golden_malformed_lines() {
        let (line, message) = malformed("# c\n1 ok\nfoo bar baz\n");
        assert_eq!(line, 3);
        assert_eq!(
            message,
            "expected `<level> <function>`, found `foo bar baz`"
        );

        let (line, message) = malformed("lonely\n");
        assert_eq!(line, 1);
        assert!(message.contains("found `lonely`"), "{message}");

        let (line, message) = malformed("1 a\n\n# x\n9 foo\n");
        assert_eq!(line, 4);
        assert_eq!(
            message,
            "unknown level `9`; expected early, 0-7, 0s-7s or rootfs"
        );

        let (line, message) = malformed("1 a\n2 foo-bar\n");
        assert_eq!(line, 2);
        assert!(
            message.contains("`foo-bar` is not a C identifier"),
            "{message}"
        );

        let (_, message) = malformed("1 9lives\n");
        assert!(message.contains("`9lives`"), "{message}");
    }

    #[test]
    fn golden_error_display_names_file_and_line() {
        let err = Golden::parse(Path::new("g.txt"), "1 a\n9 b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "g.txt:2: unknown level `9`; expected early, 0-7, 0s-7s or rootfs"
        );
    }

    #[test]
    fn golden_unreadable_file() {
        let path = Path::new("/nonexistent/lto-harness/golden.initcalls");
        match Golden::load(path) {
            Err(err @ GoldenError::Io { .. }) => {
                assert!(err
                    .to_string()
                    .starts_with(&format!("{}: cannot read", path.display())));
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn golden_load_reads_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.initcalls");
        std::fs::write(&path, Golden::render("f", None, &sample())).unwrap();
        assert_eq!(Golden::load(&path).unwrap().entries, sample());
    }

    // ---- compare ----

    const GOLDEN_PATH: &str = "cases/golden/x86_64.initcalls";

    fn letters(n: usize) -> Vec<Initcall> {
        (0..n).map(|i| ic("1", &format!("f{i}"))).collect()
    }

    fn cmp(golden: &[Initcall], actual: &[Initcall]) -> Option<GoldenMismatch> {
        compare(golden, Path::new(GOLDEN_PATH), actual, "boot order")
    }

    #[test]
    fn compare_equal_is_none() {
        assert!(cmp(&letters(10), &letters(10)).is_none());
        assert!(cmp(&[], &[]).is_none());
    }

    #[test]
    fn compare_adjacent_swap() {
        let golden = letters(10);
        let mut actual = golden.clone();
        actual.swap(4, 5);
        let m = cmp(&golden, &actual).unwrap();
        assert_eq!(m.first, 4);
        assert_eq!(
            m.summary,
            "first difference at initcall #5: golden expects `1 f4`, the kernel has `1 f5`"
        );
        assert!(
            m.diff.contains(&format!("--- golden {GOLDEN_PATH}")),
            "{}",
            m.diff
        );
        assert!(m.diff.contains("+++ boot order"), "{}", m.diff);
        // Both swapped lines are in the diff; the moved one as - and +.
        let moved = ["-1 f4\n", "+1 f4\n"].iter().all(|l| m.diff.contains(l));
        let moved_other = ["-1 f5\n", "+1 f5\n"].iter().all(|l| m.diff.contains(l));
        assert!(moved || moved_other, "{}", m.diff);
        assert!(
            m.diff.contains("1 f4\n") && m.diff.contains("1 f5\n"),
            "{}",
            m.diff
        );
        assert_eq!((m.missing, m.extra), (1, 1));
    }

    #[test]
    fn compare_distant_swap_shows_both_lines() {
        let golden = letters(20);
        let mut actual = golden.clone();
        actual.swap(5, 15);
        let m = cmp(&golden, &actual).unwrap();
        assert_eq!(m.first, 5);
        assert!(
            m.summary
                .contains("golden expects `1 f5`, the kernel has `1 f15`"),
            "{}",
            m.summary
        );
        for line in ["-1 f5\n", "+1 f15\n", "-1 f15\n", "+1 f5\n"] {
            assert!(m.diff.contains(line), "{line:?} not in\n{}", m.diff);
        }
        // 3 lines of context: f2 shows, f1 is too far from the first change.
        assert!(m.diff.contains(" 1 f2\n"), "{}", m.diff);
        assert!(!m.diff.contains(" 1 f1\n"), "{}", m.diff);
        assert_eq!((m.missing, m.extra), (2, 2));
    }

    #[test]
    fn compare_level_change_counts() {
        let golden = order(&[("1", "a"), ("1s", "b"), ("2", "c")]);
        let actual = order(&[("1", "a"), ("1", "b"), ("2", "c")]);
        let m = cmp(&golden, &actual).unwrap();
        assert_eq!(m.first, 1);
        assert!(
            m.summary.contains("expects `1s b`, the kernel has `1 b`"),
            "{}",
            m.summary
        );
    }

    #[test]
    fn compare_truncated() {
        let golden = letters(10);
        let m = cmp(&golden, &golden[..7]).unwrap();
        assert_eq!(m.first, 7);
        assert_eq!(
            m.summary,
            "first difference at initcall #8: golden expects `1 f7`, the kernel has nothing more \
             (3 initcalls missing at the end)"
        );
        assert_eq!((m.missing, m.extra), (3, 0));
        assert!(m.diff.contains("-1 f9\n"), "{}", m.diff);
    }

    #[test]
    fn compare_extended() {
        let golden = letters(5);
        let mut actual = golden.clone();
        actual.push(ic("6", "foo"));
        let m = cmp(&golden, &actual).unwrap();
        assert_eq!(m.first, 5);
        assert_eq!(
            m.summary,
            "first difference at initcall #6: golden has nothing more; extra `6 foo` \
             (1 initcall extra at the end)"
        );
        assert_eq!((m.missing, m.extra), (0, 1));
        assert!(m.diff.contains("+6 foo\n"), "{}", m.diff);
    }
}
