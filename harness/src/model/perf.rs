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
    /// Seconds since make started at its [`STEP_TIME_EVERY`]th, 2×…th
    /// kbuild step: where the next build of the same config should be
    /// when, so its estimate knows the LTO link comes after the last step.
    #[serde(default)]
    pub step_times: Vec<f64>,
}

/// Every how many kbuild steps a build records when it got there.
pub const STEP_TIME_EVERY: usize = 50;

/// How an earlier build of the same config went: what the next one is
/// measured against as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    /// Its kbuild steps, in all.
    pub steps: usize,
    /// Its make's wall seconds.
    pub wall: f64,
    /// [`BuildProfile::step_times`].
    pub step_times: Vec<f64>,
}

impl Pace {
    /// Seconds the earlier build was in when it printed its `done`-th
    /// step: interpolated between its step times, else as if its steps
    /// had been evenly spread over its wall time.
    pub fn seconds_at(&self, done: usize) -> f64 {
        let done = done.min(self.steps);
        let i = done / STEP_TIME_EVERY;
        let known = |k: usize| match k {
            0 => Some(0.0),
            k => self.step_times.get(k - 1).copied(),
        };
        match (known(i), known(i + 1)) {
            (Some(a), Some(b)) => {
                a + (b - a) * (done % STEP_TIME_EVERY) as f64 / STEP_TIME_EVERY as f64
            }
            (Some(a), None) if i > 0 => {
                // Past the last recorded point: spread what is left evenly
                // up to the last step's time.
                let last = self.step_times.last().copied().unwrap_or(a);
                let left = self.steps.saturating_sub(i * STEP_TIME_EVERY).max(1);
                let end = last.max(a);
                a + (end - a) * (done - i * STEP_TIME_EVERY) as f64 / left as f64
            }
            _ => self.wall * done as f64 / self.steps.max(1) as f64,
        }
    }

    /// Seconds left for a build that printed its `done`-th step `at_step`
    /// seconds in and is `elapsed` seconds in now: the earlier build's
    /// wall scaled by how much slower (or faster) this one was at that
    /// step, less what has gone. None before the first
    /// [`STEP_TIME_EVERY`] steps (too few to tell a pace).
    pub fn eta(&self, done: usize, at_step: f64, elapsed: f64) -> Option<f64> {
        let then = self.seconds_at(done);
        if done < STEP_TIME_EVERY || then <= 0.0 || self.wall <= 0.0 {
            return None;
        }
        Some((self.wall * at_step / then - elapsed).max(0.0))
    }
}

/// How far a running build is, for progress lines and spinners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HowFar<'a> {
    /// Kbuild steps printed so far.
    pub done: usize,
    /// The last build of this config's steps, if there was one.
    pub total: Option<usize>,
    /// `compile`, `link vmlinux.o` (the LTO link with LTO), `link vmlinux`,
    /// `link modules`: the last phase the output announced.
    pub phase: &'a str,
    /// Seconds since make started.
    pub elapsed: f64,
    /// Seconds left, from the last build of this config.
    pub eta: Option<f64>,
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
    use super::{Mark, Pace, STEP_TIME_EVERY};

    #[test]
    fn the_estimate_knows_the_link_comes_after_the_last_step() {
        // 200 steps in 100 s, then a 100 s link: 200 s in all.
        let last = Pace {
            steps: 200,
            wall: 200.0,
            step_times: vec![25.0, 50.0, 75.0, 100.0],
        };
        assert_eq!(STEP_TIME_EVERY, 50);
        assert_eq!(last.seconds_at(0), 0.0);
        assert_eq!(last.seconds_at(75), 37.5);
        assert_eq!(last.seconds_at(200), 100.0);
        // Half the steps at the same pace: 150 s left, not 100.
        assert_eq!(last.eta(100, 50.0, 50.0), Some(150.0));
        // Twice as slow: twice the time.
        assert_eq!(last.eta(100, 100.0, 100.0), Some(300.0));
        // In the link, silent: the estimate falls as time goes.
        assert_eq!(last.eta(200, 100.0, 160.0), Some(40.0));
        assert_eq!(last.eta(200, 100.0, 260.0), Some(0.0));
        assert_eq!(last.eta(0, 0.0, 5.0), None);
        assert_eq!(last.eta(49, 24.0, 24.0), None);
        // Without step times: steps spread evenly over the wall.
        let flat = Pace {
            steps: 200,
            wall: 200.0,
            step_times: vec![],
        };
        assert_eq!(flat.eta(100, 100.0, 100.0), Some(100.0));
        // Past the last recorded point.
        let short = Pace {
            steps: 120,
            wall: 100.0,
            step_times: vec![20.0, 40.0],
        };
        assert_eq!(short.seconds_at(110), 40.0);
    }

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
