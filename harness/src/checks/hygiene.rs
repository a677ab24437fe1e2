//! `hygiene.build`: warnings only an LTO kernel's build has. Every "disable
//! LTO for X" patch of the series exists because an LTO build warned (or
//! broke) where the same config without LTO did not: objtool on the LTO
//! vmlinux.o, modpost's `version generation failed` / `has no CRC`, lld
//! orphan sections, section mismatches. The warnings of an LTO kernel's
//! build.log are compared with those of the LTO-none kernel of the same
//! config in the same run, each normalised (the file before `warning:`,
//! addresses and ThinLTO suffixes dropped, since they differ between the
//! per-object and the whole-vmlinux.o passes); a warning only the LTO
//! kernel has fails the check, named with its line.

use crate::model::{CheckResult, Status};
use std::collections::BTreeMap;

pub const BUILD: &str = "hygiene.build";

/// LTO-only warnings known to be harmless, each with why: text the
/// warning line contains, and the reason the check names when it passes
/// with one. Nothing else is forgiven.
pub const HARMLESS: &[(&str, &str)] = &[(
    "Unable to reopen jobserver read-side pipe",
    "Linux 7.x's tools/lib/python/jobserver.py, which runs the LTO initcall \
     ordering script, cannot reopen a make 4.3 jobserver's descriptors (make \
     closes them for recipes that are not recursive): the script runs \
     without parallelism; the order it writes is checked by initcalls.script",
)];

/// Why warning `line` is harmless, if it is one of [`HARMLESS`].
fn harmless(line: &str) -> Option<&'static str> {
    HARMLESS
        .iter()
        .find(|(text, _)| line.contains(text))
        .map(|(_, why)| *why)
}

/// A build log's warnings: normalised text to the first original line.
pub fn warnings(log: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let lower = line.to_ascii_lowercase();
        let Some(at) = lower.find("warning:") else {
            continue;
        };
        let key = normalise(line.get(at..).unwrap_or(line));
        out.entry(key).or_insert_with(|| line.trim().to_owned());
    }
    out
}

/// `warning: objtool: foo+0x1c: call … .llvm.1234` → without offsets,
/// hex numbers and ThinLTO suffixes.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix(".llvm.") {
            let digits = r.trim_start_matches(|c: char| c.is_ascii_digit());
            if digits.len() < r.len() {
                rest = digits;
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix("0x") {
            let hex = r.trim_start_matches(|c: char| c.is_ascii_hexdigit());
            out.push_str("0x…");
            rest = hex;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The verdict for a kernel's log against its config's LTO-none log
/// (`None`: no such kernel in the run).
pub fn check(log: Option<&str>, baseline: Option<(&str, &str)>, is_lto: bool) -> CheckResult {
    let Some(log) = log else {
        return CheckResult::new(BUILD, Status::Skipped, "no build log to read");
    };
    let mine = warnings(log);
    if !is_lto {
        return CheckResult::new(
            BUILD,
            Status::Pass,
            format!(
                "the baseline for its LTO kernels: {} distinct warnings",
                mine.len()
            ),
        );
    }
    let Some((base_case, base_log)) = baseline else {
        return CheckResult::new(
            BUILD,
            Status::Skipped,
            "no LTO-none kernel of the same config in this run to compare warnings with",
        );
    };
    let base = warnings(base_log);
    let (known, only): (Vec<&String>, Vec<&String>) = mine
        .iter()
        .filter(|(k, _)| !base.contains_key(*k))
        .map(|(_, line)| line)
        .partition(|line| harmless(line).is_some());
    if only.is_empty() {
        let mut msg = format!(
            "{} distinct warnings, none that {base_case}'s build lacks",
            mine.len()
        );
        if let Some(first) = known.first() {
            msg = format!(
                "{} distinct warnings, none that {base_case}'s build lacks but {} known to be harmless: `{first}` ({})",
                mine.len(),
                known.len(),
                harmless(first).unwrap_or_default()
            );
        }
        return CheckResult::new(BUILD, Status::Pass, msg);
    }
    CheckResult::new(
        BUILD,
        Status::Fail,
        format!(
            "{} warnings only the LTO build has (not in {base_case}'s): {}",
            only.len(),
            only[0]
        ),
    )
    .with(only.into_iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &str =
        "  CC      kernel/a.o\nkernel/a.o: warning: objtool: foo+0x1c: unreachable instruction\n";
    const LTO: &str = "  LD      vmlinux.o\nvmlinux.o: warning: objtool: foo+0x20: unreachable instruction\n\
WARNING: modpost: EXPORT symbol \"kfree\" [vmlinux] version generation failed, symbol will not be versioned.\n";

    #[test]
    fn the_same_warning_from_another_pass_is_the_same_and_new_ones_are_named() {
        let r = check(Some(LTO), Some(("x86_64-lto-none", NONE)), true);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("1 warnings only the LTO build has"),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("version generation failed"),
            "{}",
            r.message
        );
        let r = check(Some(NONE), Some(("x86_64-lto-none", NONE)), true);
        assert_eq!(r.status, Status::Pass);
    }

    #[test]
    fn a_warning_known_to_be_harmless_passes_saying_why() {
        // 7.1's x86_64-lto-full-cfi build log, built with make 4.3.
        let lto = "  GEN     .tmp_initcalls.lds\nWARNING: Unable to reopen jobserver read-side pipe: FileNotFoundError(2, 'No such file or directory')\n";
        let r = check(Some(lto), Some(("x86_64-lto-none", NONE)), true);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.message.contains(
                "but 1 known to be harmless: `WARNING: Unable to reopen jobserver read-side pipe"
            ) && r.message.contains("jobserver.py"),
            "{}",
            r.message
        );
        // With another LTO-only warning beside it, that one fails the check.
        let r = check(
            Some(&format!("{lto}{LTO}")),
            Some(("x86_64-lto-none", NONE)),
            true,
        );
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("version generation failed"),
            "{}",
            r.message
        );
    }

    #[test]
    fn without_a_baseline_it_is_a_skip_and_the_baseline_itself_passes() {
        assert_eq!(check(Some(LTO), None, true).status, Status::Skipped);
        assert_eq!(check(Some(LTO), None, false).status, Status::Pass);
        assert_eq!(check(None, None, true).status, Status::Skipped);
    }

    #[test]
    fn normalising_drops_addresses_and_thin_suffixes() {
        assert_eq!(
            normalise("warning: call to foo.llvm.123456+0x1f at 0xffff"),
            "warning: call to foo+0x… at 0x…"
        );
        assert_eq!(normalise("é warning: x"), "é warning: x");
    }
}
