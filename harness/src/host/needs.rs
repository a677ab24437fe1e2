//! What a test needs from the host: a tool on PATH, a file a package
//! installs, a Python module. `ci/setup` installs all of them. In the fast
//! tier (`cargo test-fast`: unit tests, no kernel build, built with the
//! `skip-missing-tools` feature) a test whose need is missing is skipped
//! and says which package to install; everywhere else (the full suite,
//! `.ci/run`) a missing need fails the test, so a machine that lost a
//! package is never green by accident.

use std::io::Write;

/// One thing a test needs, and the package that provides it.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// An executable on PATH, from a Debian package.
    Tool {
        tool: &'static str,
        package: &'static str,
    },
    /// A file a Debian package installs.
    File {
        path: &'static str,
        package: &'static str,
    },
    /// A Python module, from PyPI.
    Python {
        module: &'static str,
        pip: &'static str,
    },
}

impl Need {
    /// Whether the host has it.
    pub fn met(&self) -> bool {
        match self {
            Need::Tool { tool, .. } => crate::host::toolchain::find_in_path(tool).is_some(),
            Need::File { path, .. } => std::path::Path::new(path).exists(),
            Need::Python { module, .. } => std::process::Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success()),
        }
    }

    /// What is missing and how to get it.
    pub fn hint(&self) -> String {
        match self {
            Need::Tool { tool, package } => {
                format!("`{tool}` is not on PATH: install the Debian package `{package}`")
            }
            Need::File { path, package } => {
                format!("{path} is missing: install the Debian package `{package}`")
            }
            Need::Python { module, pip } => {
                format!("python3 cannot import {module}: `pip install {pip}`")
            }
        }
    }
}

/// Whether a missing need skips (the fast tier) or fails the test.
pub const SKIP_MISSING: bool = cfg!(feature = "skip-missing-tools");

/// True when every need is met. Otherwise, in the fast tier, says on the
/// terminal (past the test harness's capture) that `test` is skipped and
/// why, and returns false; outside it, panics naming the package.
pub fn met(test: &str, needs: &[Need]) -> bool {
    let missing: Vec<String> = needs.iter().filter(|n| !n.met()).map(Need::hint).collect();
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    if !SKIP_MISSING {
        panic!("{test} needs what this machine lacks: {why} (ci/setup installs everything)");
    }
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
    false
}

/// Returns from the enclosing test when a need is missing (fast tier only).
#[macro_export]
macro_rules! skip_unless {
    ($test:expr, $($need:expr),+ $(,)?) => {
        if !$crate::host::needs::met($test, &[$($need),+]) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_need_names_its_package() {
        let n = Need::Tool {
            tool: "surely-not-a-tool-lto-harness",
            package: "some-pkg",
        };
        assert!(!n.met());
        assert!(n.hint().contains("`some-pkg`"), "{}", n.hint());
        let root = Need::File {
            path: "/",
            package: "base-files",
        };
        assert!(root.met());
        let r = std::panic::catch_unwind(|| met("t", &[n]));
        match (r, SKIP_MISSING) {
            // The fast tier skips...
            (Ok(false), true) => {}
            // ...everything else fails, naming the package.
            (Err(p), false) => {
                let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(msg.contains("some-pkg"), "{msg}");
            }
            (r, skip) => panic!("skip={skip}: a missing tool gave {:?}", r.is_ok()),
        }
    }
}
