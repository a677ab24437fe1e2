//! Performance vocabulary shared by `run`, `bench`, the history and the
//! dashboard: how a figure was obtained, which way is better, and a
//! figure that got worse.

use serde::{Deserialize, Serialize};

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Guest instructions under -icount (deterministic).
    Icount,
    /// Host-ish time from plain TCG (noisy).
    Wall,
    /// Exact from the artefacts (sizes).
    Exact,
    /// One build of each kernel: no interval.
    BuildOnce,
}

/// Which direction is good for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// A metric that got worse beyond its noise band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub case: String,
    pub metric: String,
    pub previous: f64,
    pub current: f64,
    pub delta_pct: f64,
    pub band_pct: f64,
    pub previous_date: String,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} -> {} ({:+.2}%, noise band ±{:.2}%, previous {})",
            self.case,
            self.metric,
            self.previous,
            self.current,
            self.delta_pct,
            self.band_pct,
            self.previous_date
        )
    }
}

/// How one build's make used the machine over time: its process group's
/// CPU seconds sampled as it ran, and where its output said a phase
/// began. `plan --simulate` replays it on another number of cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildProfile {
    /// The jobs the make could run at once (`-jN`, or the pool's tokens).
    pub jobs: usize,
    /// Built in a job pool beside other builds: the profile shows the
    /// build's share of the machine, not what it would do alone.
    pub shared: bool,
    /// `[seconds since make started, CPU seconds its processes used so far]`.
    pub samples: Vec<[f64; 2]>,
    /// Phases the make's output announced, first occurrence of each.
    pub marks: Vec<Mark>,
    /// How many kbuild steps (`  CC      kernel/fork.o` lines) it printed:
    /// how far the next build of the same config is, as it goes.
    #[serde(default)]
    pub steps: usize,
    /// How long the make waited for a job token before it started (pool
    /// only; not part of the build's wall time nor of its samples).
    #[serde(default)]
    pub queued_seconds: f64,
}

/// Whether a make output line is a kbuild step: two spaces, a tag in
/// capitals (`CC`, `LD [M]`, `OBJTOOL`), spaces, a target.
pub fn is_kbuild_step(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let mut w = rest.split_whitespace();
    let (Some(tag), Some(_)) = (w.next(), w.next()) else {
        return false;
    };
    !rest.starts_with(' ')
        && tag.len() <= 8
        && tag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A phase of a build, from the first output line that announced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Seconds since make started.
    pub at: f64,
    /// `link vmlinux.o`, `link vmlinux`, `link modules`.
    pub what: String,
}

impl Mark {
    /// The phase a kbuild output line announces, if any: the LTO (or
    /// plain) link of `vmlinux.o`, the final link of `vmlinux`, the first
    /// module link.
    pub fn of_line(line: &str) -> Option<&'static str> {
        let mut w = line.split_whitespace();
        match (w.next()?, w.next()?, w.next()) {
            ("LD", "vmlinux.o", None) => Some("link vmlinux.o"),
            ("LD", "vmlinux", None) => Some("link vmlinux"),
            ("LD", "[M]", Some(_)) => Some("link modules"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod profile_tests {
    use super::Mark;

    #[test]
    fn kbuild_lines_announce_link_phases() {
        assert_eq!(Mark::of_line("  LD      vmlinux.o"), Some("link vmlinux.o"));
        assert_eq!(Mark::of_line("  LD      vmlinux"), Some("link vmlinux"));
        assert_eq!(
            Mark::of_line("  LD [M]  drivers/misc/lkdtm/lkdtm.ko"),
            Some("link modules")
        );
        assert_eq!(Mark::of_line("  LD      arch/x86/boot/setup.elf"), None);
        assert_eq!(Mark::of_line("  CC      kernel/fork.o"), None);
        assert_eq!(Mark::of_line(""), None);
    }

    #[test]
    fn kbuild_steps_are_told_from_other_output() {
        use super::is_kbuild_step;
        for l in [
            "  CC      kernel/fork.o",
            "  LD [M]  drivers/misc/lkdtm/lkdtm.ko",
            "  OBJTOOL vmlinux.o",
            "  GEN     Makefile",
        ] {
            assert!(is_kbuild_step(l), "{l}");
        }
        for l in [
            "make[1]: Entering directory '/x'",
            "kernel/fork.c:12:3: warning: unused",
            "  CC",
            "   CC      indented.o",
            "  Cc      mixed.o",
            "",
        ] {
            assert!(!is_kbuild_step(l), "{l}");
        }
    }
}
