//! The report of a mutate run: one table (markdown, printed and written
//! as `mutate.md`) with a row per unmutated kernel and per mutant and
//! case: mutant | case | verdict | killed by (`check: first message
//! line`) | build seconds (what make took when the kernel was built; a
//! kernel the cache had says so).

use super::verdict::{Failure, Kernel};
use super::{BuildCost, MutateResults};
use crate::model::mutation::Role;
use std::fmt::Write as _;

/// The longest message kept in a table cell.
const CELL: usize = 160;

/// A markdown table cell: one line, pipes escaped, cut at [`CELL`] characters.
fn cell(s: &str) -> String {
    let one: String = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    if one.chars().count() > CELL {
        format!("{}…", one.chars().take(CELL).collect::<String>())
    } else {
        one
    }
}

/// `check: message; check: message`; on a mutant's row, prefixed `base: `
/// when they are the unmutated kernel's.
fn failures(f: &[Failure], prefix: &str) -> String {
    let list: Vec<String> = f.iter().map(|x| cell(&x.to_string())).collect();
    if list.is_empty() {
        String::new()
    } else {
        format!("{prefix}{}", list.join("; "))
    }
}

fn seconds(b: &BuildCost) -> String {
    match (b.seconds, b.reused) {
        (None, _) => "-".into(),
        (Some(s), false) => format!("{s:.1}"),
        (Some(s), true) => format!("{s:.1} (cached)"),
    }
}

impl MutateResults {
    /// The table, in markdown.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| mutant | case | verdict | killed by | build s |\n| --- | --- | --- | --- | --- |\n",
        );
        for b in &self.base_point.cases {
            let _ = writeln!(
                out,
                "| (base) | {} | {} | {} | {} |",
                b.case,
                b.status,
                failures(&b.failures, ""),
                seconds(&b.build)
            );
        }
        for m in &self.mutants {
            for c in &m.cases {
                let case = match c.role {
                    Role::Case => c.case.clone(),
                    Role::Control => format!("{} (control)", c.case),
                };
                let _ = writeln!(
                    out,
                    "| {} | {case} | {} | {} | {} |",
                    m.name,
                    c.verdict,
                    failures(
                        &c.failures,
                        match c.failures_of {
                            Kernel::Base => "base: ",
                            Kernel::Mutant => "",
                        }
                    ),
                    seconds(&c.build)
                );
            }
        }
        out
    }

    /// `mutate.md`: a title line, the table, and where the results are.
    pub fn markdown(&self) -> String {
        format!(
            "# lto-harness mutate: {} at {}{}\n\n{}\nBase commit {}; each point's results are in its own directory beside this file.\n",
            self.tree.display(),
            self.base,
            self.kernel_version
                .as_deref()
                .map(|v| format!(" (Linux {v})"))
                .unwrap_or_default(),
            self.table(),
            self.base_commit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::sample;

    #[test]
    fn the_table_has_a_row_per_base_kernel_and_per_mutant_and_case() {
        let t = sample().table();
        assert_eq!(
            t,
            "| mutant | case | verdict | killed by | build s |\n\
             | --- | --- | --- | --- | --- |\n\
             | (base) | x86_64-lto-full-cfi | pass |  | 391.2 (cached) |\n\
             | (base) | x86_64-lto-none | pass |  | 301.0 |\n\
             | initcall-order-reversed | x86_64-lto-full-cfi | killed | initcalls.static: level 6: a out of place; initcalls.boot: level 6: a \\| b | 95.4 |\n\
             | initcall-order-reversed | x86_64-lto-none (control) | control_ok |  | - |\n\
             | other | x86_64-lto-full-cfi | base_failed | base: boot: init never ran | 391.2 (cached) |\n"
        );
        let md = sample().markdown();
        assert!(
            md.starts_with("# lto-harness mutate: /t at master (Linux 6.12.118)\n\n| mutant |"),
            "{md}"
        );
    }

    #[test]
    fn a_base_row_shows_what_failed_without_a_prefix() {
        let mut r = sample();
        r.base_point.cases[1].status = crate::model::Status::Fail;
        r.base_point.cases[1].failures = vec![super::Failure {
            check: "boot".into(),
            status: crate::model::Status::Fail,
            message: "init never ran".into(),
        }];
        assert!(r
            .table()
            .contains("| (base) | x86_64-lto-none | fail | boot: init never ran | 301.0 |\n"));
    }

    #[test]
    fn long_messages_are_cut() {
        assert_eq!(
            super::cell(&"x".repeat(200)).chars().count(),
            super::CELL + 1
        );
        assert_eq!(super::cell("a\nb|c"), "a b\\|c");
    }
}
