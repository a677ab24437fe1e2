//! What capture tools do to a console on its way into a file, as
//! functions on its bytes: a prefix on every line (host timestamps,
//! syslog's, a lab's), CRLF line ends, userspace text glued before kernel
//! lines, and failures inserted after the banner. The judge's metamorphic
//! tests apply them to every console fixture and to every console the
//! suite boots: the first kind must never change a verdict or its first
//! cause, a failure inserted must turn a pass into a fail.

use crate::checks::boot::{probe_windows, ConsoleVerdict};
use crate::console::{parse_log, ConsoleStream, EventKind, Line};
use crate::model::CheckResult;

/// A prefix a capture tool puts before every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `2026-12-07T13:00:00.123456Z ` (ts, journalctl -o short-iso-precise).
    Iso,
    /// `Dec  7 13:00:00 host kernel: ` (syslog).
    Syslog,
    /// `[2026-12-07 13:00:00.123] ` (minicom, picocom's logs).
    BracketDate,
    /// `[0.123456 0.000012] ` (grabserial).
    Grabserial,
    /// `[1733576400.123456] `: a host clock that looks like printk's own.
    EpochStamp,
    /// `<6>`: a syslog priority without a space.
    Priority,
}

impl Prefix {
    pub const ALL: [Prefix; 6] = [
        Prefix::Iso,
        Prefix::Syslog,
        Prefix::BracketDate,
        Prefix::Grabserial,
        Prefix::EpochStamp,
        Prefix::Priority,
    ];

    /// The prefix of the `n`-th line.
    fn text(self, n: usize) -> String {
        let (s, us) = (n / 1000, (n % 1000) * 997);
        match self {
            Prefix::Iso => format!("2026-12-07T13:{:02}:{:02}.{us:06}Z ", s / 60 % 60, s % 60),
            Prefix::Syslog => format!("Dec  7 13:{:02}:{:02} host kernel: ", s / 60 % 60, s % 60),
            Prefix::BracketDate => format!(
                "[2026-12-07 13:{:02}:{:02}.{:03}] ",
                s / 60 % 60,
                s % 60,
                us / 1000
            ),
            Prefix::Grabserial => format!("[{s}.{us:06} 0.000{:03}] ", n % 1000),
            Prefix::EpochStamp => format!("[{}.{us:06}] ", 1_733_576_400 + s),
            Prefix::Priority => "<6>".to_string(),
        }
    }
}

/// The raw lines of `log`, each with its `\n` (the last may lack it).
fn raw_lines(log: &[u8]) -> Vec<&[u8]> {
    log.split_inclusive(|&b| b == b'\n').collect()
}

/// Every line with `prefix` before it.
pub fn prefix_lines(log: &[u8], prefix: Prefix) -> Vec<u8> {
    let mut out = Vec::with_capacity(log.len() * 2);
    for (n, l) in raw_lines(log).into_iter().enumerate() {
        out.extend_from_slice(prefix.text(n).as_bytes());
        out.extend_from_slice(l);
    }
    out
}

/// `\r\n` for every `\n` that lacks its `\r`.
pub fn crlf(log: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(log.len() + log.len() / 16);
    let mut prev = 0u8;
    for &b in log {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// `text` (userspace output without its newline) glued before every
/// `every`-th line that starts with a printk timestamp, beginning at the
/// `skip`-th such line.
pub fn glue_before_kernel_lines(log: &[u8], text: &str, every: usize, skip: usize) -> Vec<u8> {
    let every = every.max(1);
    let mut out = Vec::with_capacity(log.len() * 2);
    let mut k = 0usize;
    for l in raw_lines(log) {
        if l.first() == Some(&b'[') {
            if k >= skip && (k - skip).is_multiple_of(every) {
                out.extend_from_slice(text.as_bytes());
            }
            k += 1;
        }
        out.extend_from_slice(l);
    }
    out
}

/// `line` inserted after raw line `after` (1-based; 0: before the first),
/// as a line of its own or (`glued`) printed into the end of that line
/// before its newline, as the kernel prints into a userspace line.
pub fn insert_line(log: &[u8], after: usize, line: &str, glued: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(log.len() + line.len() + 1);
    let lines = raw_lines(log);
    for (i, l) in lines.iter().enumerate() {
        if glued && i + 1 == after {
            let nl = if l.ends_with(b"\r\n") {
                2
            } else {
                usize::from(l.ends_with(b"\n"))
            };
            let (body, end) = l.split_at(l.len() - nl);
            out.extend_from_slice(body);
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(if end.is_empty() { b"\n" } else { end });
            continue;
        }
        if !glued && i == after {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(l);
    }
    if !glued && after >= lines.len() {
        if out.last().is_some_and(|b| *b != b'\n') {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The raw lines (1-based) after which a failure line may go (or, `glued`,
/// into which it may be printed) and must fail the boot: from the banner
/// on, outside every probe's window (where an Oops is the probe's own).
pub fn failure_sites(log: &[u8], glued: bool) -> Vec<usize> {
    let events = parse_log(log);
    let Some(banner) = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Banner { .. }))
        .map(|e| e.line)
    else {
        return Vec::new();
    };
    let windows = probe_windows(&events);
    let n = raw_lines(log).len();
    // A line inserted after line `a` is line `a + 1`, one glued into it
    // is on line `a`; a window is `[first, end)`, `end` its RESULT line. A
    // line inserted right before the RESULT (after line `end - 1`) is
    // inside the probe too: the RESULT moves down one.
    let on = |a: usize| if glued { a } else { a + 1 };
    let last = |e: usize| if glued { e } else { e + 1 };
    (banner..=n)
        .filter(|a| {
            !windows
                .iter()
                .any(|(f, e)| *f <= on(*a) && on(*a) < last(*e))
        })
        .collect()
}

/// The verdict `judge` gives on `log` fed `chunk` bytes at a time.
pub fn judge(log: &[u8], chunk: usize) -> CheckResult {
    let mut stream = ConsoleStream::new();
    let mut verdict = ConsoleVerdict::new();
    let mut take = |_: &Line, events: &[crate::console::Event]| {
        events.iter().for_each(|e| verdict.push(e));
    };
    for c in log.chunks(chunk.max(1)) {
        stream.push(c, &mut take);
    }
    stream.finish(&mut take);
    verdict.finish_log()
}

/// The failures a kernel prints, as they look on the console.
pub const FAILURES: [&str; 5] = [
    "[    9.100000] WARNING: CPU: 0 PID: 1 at kernel/sched/core.c:100 foo+0x10/0x20",
    "[    9.100000] Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
    "[    9.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "[    9.100000] CFI failure at foo+0x16/0x20 (target: bar+0x0/0x8; expected type: 0x7e0c52a5)",
    "[    9.100000] Kernel panic - not syncing: Fatal exception",
];

/// The capture transformations that must not change a verdict, by name.
pub fn harmless_variants(log: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Prefix::ALL
        .iter()
        .map(|p| (format!("prefix {p:?}"), prefix_lines(log, *p)))
        .collect();
    out.push(("crlf".into(), crlf(log)));
    out.push((
        "userspace glued before every 7th kernel line".into(),
        glue_before_kernel_lines(log, "hello from userspace ", 7, 3),
    ));
    out.push((
        "prefix Syslog + crlf + glued".into(),
        crlf(&prefix_lines(
            &glue_before_kernel_lines(log, "x", 5, 0),
            Prefix::Syslog,
        )),
    ));
    out
}

/// The same verdict and first cause: what no capture may change.
pub fn same_verdict(a: &CheckResult, b: &CheckResult) -> bool {
    a.status == b.status && a.message == b.message && a.details == b.details
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// Every console fixture: the boots the harness saved, kunit_tool's
    /// logs and the KTAP ones.
    fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
        static ALL: std::sync::OnceLock<Vec<(PathBuf, Vec<u8>)>> = std::sync::OnceLock::new();
        ALL.get_or_init(read_fixtures).clone()
    }

    fn read_fixtures() -> Vec<(PathBuf, Vec<u8>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console");
        let mut out = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "log") {
                    let b = std::fs::read(&p).unwrap();
                    out.push((p, b));
                }
            }
        }
        out.sort();
        assert!(out.len() >= 15, "{} console fixtures", out.len());
        out
    }

    #[test]
    fn no_capture_changes_a_fixtures_verdict() {
        for (p, log) in fixtures() {
            let want = judge(&log, 1 << 16);
            for (name, v) in harmless_variants(&log) {
                for chunk in [4096, 1 << 16] {
                    let got = judge(&v, chunk);
                    assert!(
                        same_verdict(&want, &got),
                        "{}: {name}, {chunk}-byte writes:\n  was {want:?}\n  now {got:?}",
                        p.display()
                    );
                }
            }
        }
    }

    #[test]
    fn the_shipped_lkdtm_fixture_with_host_timestamps_still_fails() {
        let (_, log) = fixtures()
            .into_iter()
            .find(|(p, _)| p.ends_with("x86_64-tiny-full-cfi-lkdtm.log"))
            .unwrap();
        let v = judge(&prefix_lines(&log, Prefix::Iso), 4096);
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(
            v.message.contains("CFI failure at lkdtm_indirect_call"),
            "{v:?}"
        );
    }

    #[test]
    fn insert_line_places_the_line() {
        let log = b"a\nb\nc";
        assert_eq!(insert_line(log, 0, "X", false), b"X\na\nb\nc");
        assert_eq!(insert_line(log, 2, "X", false), b"a\nb\nX\nc");
        assert_eq!(insert_line(log, 3, "X", false), b"a\nb\nc\nX\n");
        assert_eq!(insert_line(log, 2, "X", true), b"a\nbX\nc");
        assert_eq!(insert_line(b"a\r\nb\r\n", 1, "X", true), b"aX\r\nb\r\n");
        assert_eq!(insert_line(log, 3, "X", true), b"a\nb\ncX\n");
    }

    fn passing_fixtures() -> Vec<(PathBuf, Vec<u8>)> {
        let f: Vec<_> = fixtures()
            .into_iter()
            .filter(|(_, l)| judge(l, 1 << 16).status == Status::Pass)
            .collect();
        assert!(f.len() >= 3, "passing fixtures: {}", f.len());
        f
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any capture transformation, any cut of the writes: the same
        /// verdict and first cause on every fixture.
        #[test]
        fn captures_never_change_a_verdict(
            fixture in 0usize..64,
            prefix in 0usize..Prefix::ALL.len(),
            every in 1usize..12,
            skip in 0usize..12,
            glue in "[ -~]{1,12}",
            chunk in 1usize..9000,
            with_crlf: bool,
        ) {
            let all = fixtures();
            let (p, log) = &all[fixture % all.len()];
            let want = judge(log, 1 << 16);
            // Glued text never ends in a printk timestamp's own opening.
            let glue = glue.trim_end_matches('[');
            let mut v = glue_before_kernel_lines(log, glue, every, skip);
            v = prefix_lines(&v, Prefix::ALL[prefix]);
            if with_crlf {
                v = crlf(&v);
            }
            let got = judge(&v, chunk);
            prop_assert!(same_verdict(&want, &got), "{}:\n  was {:?}\n  now {:?}", p.display(), want, got);
        }

        /// A failure inserted anywhere after the banner (outside a probe,
        /// where an Oops is the probe's own), as a line of its own or
        /// printed into another line, turns a passing boot into a fail that
        /// names it first; a panic does so inside a probe too.
        #[test]
        fn an_inserted_failure_always_fails(
            fixture in 0usize..64,
            which in 0usize..FAILURES.len(),
            site in 0usize..100_000,
            glued: bool,
            prefix in proptest::option::of(0usize..Prefix::ALL.len()),
        ) {
            let all = passing_fixtures();
            let (p, log) = &all[fixture % all.len()];
            let failure = FAILURES[which];
            let sites = failure_sites(log, glued);
            prop_assert!(!sites.is_empty());
            let panic = failure.contains("Kernel panic");
            let after = if panic {
                let n = raw_lines(log).len();
                let banner = sites[0];
                banner + site % (n - banner + 1)
            } else {
                sites[site % sites.len()]
            };
            let mut v = insert_line(log, after, failure, glued);
            if let Some(i) = prefix {
                v = prefix_lines(&v, Prefix::ALL[i]);
            }
            let got = judge(&v, 4096);
            let text = &failure["[    9.100000] ".len()..];
            prop_assert_eq!(got.status, Status::Fail, "{} after line {} (glued {}): {:?}", p.display(), after, glued, got);
            prop_assert!(got.message.contains(text), "{} after line {}: {:?}", p.display(), after, got);
        }
    }
}
