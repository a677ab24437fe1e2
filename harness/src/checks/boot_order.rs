//! The boot-time initcall order: the built-in initcalls PID 1 ran before
//! `Run /init`, read from the console's `initcall_debug` lines, and the
//! levels they ran at (from LTO stub names, else borrowed from the same
//! kernel's tables by [`attach_levels`]).

use serde::Serialize;

use crate::console::{Event, EventKind};
use crate::elf::initcalls::{normalise, Initcall};

/// One built-in initcall seen at boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootInitcall {
    pub func: String,
    pub level: Option<String>,
    /// Console line it was seen on.
    pub line: usize,
}

/// The level given to boot initcalls that match nothing in the static order.
pub const UNKNOWN_LEVEL: &str = "?";

/// The built-in initcalls a boot ran, in order: `calling` lines of PID 1
/// before `Run /init`, names normalised (LTO stubs give their level).
/// `None` when the boot never reached `Run /init`.
pub fn from_console(events: &[Event]) -> Option<Vec<BootInitcall>> {
    let run_init = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::RunInit { .. }))?
        .line;
    Some(
        events
            .iter()
            .take_while(|e| e.line < run_init)
            .filter_map(|e| match &e.kind {
                EventKind::InitcallStart {
                    func,
                    module: None,
                    pid,
                } if pid.is_none_or(|p| p == 1) => {
                    let (func, level) = normalise(func);
                    Some(BootInitcall {
                        func,
                        level,
                        line: e.line,
                    })
                }
                _ => None,
            })
            .collect(),
    )
}

/// Give boot initcalls without a level (non-LTO consoles) the level of the
/// matching entry of the same kernel's static order.
///
/// If the names of boot and static are the same sequence, levels are copied
/// by index. Otherwise each boot entry without a level takes the level of
/// the first not-yet-used static entry with the same func, scanning forward
/// from just after the last match and then wrapping around to the start;
/// if there is none, [`UNKNOWN_LEVEL`]. Entries that already have a level
/// keep it (and use up no static entry).
pub fn attach_levels(boot: &[BootInitcall], statics: &[Initcall]) -> Vec<Initcall> {
    let same_names =
        boot.len() == statics.len() && boot.iter().zip(statics).all(|(b, s)| b.func == s.func);
    if same_names {
        return boot
            .iter()
            .zip(statics)
            .map(|(b, s)| Initcall::new(b.level.as_deref().unwrap_or(&s.level), &*b.func))
            .collect();
    }
    let mut matcher = StaticMatcher::new(statics);
    boot.iter()
        .map(|b| {
            let level = match &b.level {
                Some(level) => level.as_str(),
                None => matcher.level_of(&b.func).unwrap_or(UNKNOWN_LEVEL),
            };
            Initcall::new(level, &*b.func)
        })
        .collect()
}

/// Hands out static entries by function name, each at most once.
struct StaticMatcher<'s> {
    statics: &'s [Initcall],
    used: Vec<bool>,
    /// Where the next search starts: just after the last match.
    cursor: usize,
}

impl<'s> StaticMatcher<'s> {
    fn new(statics: &'s [Initcall]) -> Self {
        StaticMatcher {
            statics,
            used: vec![false; statics.len()],
            cursor: 0,
        }
    }

    fn level_of(&mut self, func: &str) -> Option<&'s str> {
        let n = self.statics.len();
        let found = (self.cursor..n)
            .chain(0..self.cursor)
            .find(|&i| !self.used[i] && self.statics[i].func == func)?;
        self.used[found] = true;
        self.cursor = found + 1;
        let statics = self.statics;
        Some(&statics[found].level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::elf::initcalls::test_support::order;

    // ---- attach_levels ----

    fn boot(funcs: &[(&str, Option<&str>)]) -> Vec<BootInitcall> {
        funcs
            .iter()
            .enumerate()
            .map(|(i, &(func, level))| BootInitcall {
                func: func.to_owned(),
                level: level.map(str::to_owned),
                line: 100 + i,
            })
            .collect()
    }

    #[test]
    fn attach_levels_same_sequence_copies_by_index() {
        // `dup` appears twice with different levels: copied by position.
        let statics = order(&[("early", "dup"), ("1", "a"), ("6", "dup")]);
        let booted = boot(&[("dup", None), ("a", Some("1s")), ("dup", None)]);
        assert_eq!(
            attach_levels(&booted, &statics),
            order(&[("early", "dup"), ("1s", "a"), ("6", "dup")])
        );
    }

    #[test]
    fn attach_levels_matches_by_name() {
        let statics = order(&[
            ("early", "dup"),
            ("1", "a"),
            ("2", "b"),
            ("6", "dup"),
            ("7", "c"),
        ]);
        // b ran before a, c is missing, x is unknown, dup ran twice.
        let booted = boot(&[
            ("dup", None),
            ("b", None),
            ("a", None),
            ("x", None),
            ("dup", None),
            ("dup", None),
            ("c", Some("7s")),
        ]);
        assert_eq!(
            attach_levels(&booted, &statics),
            order(&[
                ("early", "dup"),
                ("2", "b"),
                ("1", "a"),
                ("?", "x"),
                ("6", "dup"),
                ("?", "dup"),
                ("7s", "c"),
            ])
        );
    }

    #[test]
    fn from_console_takes_pid_1_builtins_before_run_init() {
        let log = b"[    0.1] calling  init_hw_perf_events+0x0/0x720 @ 1\n\
            [    0.2] calling  __initstub__kmod_sock__904_3991_net_inuse_init1.llvm.88+0x0/0x20 @ 1\n\
            [    0.3] calling  not_pid_one+0x0/0x20 @ 7\n\
            [    0.4] Run /init as init process\n\
            [    0.5] calling  after_init+0x0/0x10 @ 1\n";
        let seen = from_console(&crate::console::parse_log(log)).unwrap();
        let seen: Vec<(&str, Option<&str>, usize)> = seen
            .iter()
            .map(|b| (b.func.as_str(), b.level.as_deref(), b.line))
            .collect();
        assert_eq!(
            seen,
            [
                ("init_hw_perf_events", None, 1),
                ("net_inuse_init", Some("1"), 2)
            ]
        );
        let no_init = b"[    0.1] calling  init_hw_perf_events+0x0/0x720 @ 1\n";
        assert_eq!(from_console(&crate::console::parse_log(no_init)), None);
    }
}
