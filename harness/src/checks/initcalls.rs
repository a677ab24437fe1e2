//! The initcall checks: the order of vmlinux's initcall tables
//! (`initcalls.static`) and the order the boot ran them (`initcalls.boot`),
//! each compared with the case's golden file. LTO may reorder initcalls;
//! none, thin and full kernels of one config must all match one golden.

use super::boot_order::{self, attach_levels, BootInitcall};
use super::golden::{compare, Golden, GoldenMismatch};
use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::elf::initcalls::Initcall;
use crate::model::{CheckResult, Status};

pub const STATIC: &str = "initcalls.static";
pub const BOOT: &str = "initcalls.boot";

fn no_golden(
    name: &str,
    golden: Option<&Golden>,
    absent: Option<&str>,
    case_golden: &str,
) -> Option<CheckResult> {
    match (golden, absent) {
        (Some(_), _) => None,
        // A kernel of another series than the family's golden: nothing to
        // compare with, said plainly.
        (None, Some(why)) => Some(CheckResult::new(name, Status::Skipped, why)),
        (None, None) => Some(CheckResult::new(
            name,
            Status::Incomplete,
            format!("no golden {case_golden} to compare with; create it with `lto-harness bless <case>`"),
        )),
    }
}

fn golden_label(case: &crate::case::Case) -> String {
    case.golden.as_ref().map_or("(none)".into(), |g| {
        format!("{} ({})", g.family, g.path.display())
    })
}

fn mismatch_result(name: &str, what: &str, m: &GoldenMismatch) -> CheckResult {
    CheckResult::new(
        name,
        Status::Fail,
        format!(
            "{what} differs from the golden: {} ({} missing, {} extra)",
            m.summary, m.missing, m.extra
        ),
    )
    .with(m.diff.lines().map(str::to_owned).collect())
}

/// vmlinux's tables against the golden.
pub fn static_check(
    case: &crate::case::Case,
    facts: &KernelFacts,
    golden: Option<&Golden>,
    absent: Option<&str>,
) -> CheckResult {
    if let Some(r) = no_golden(STATIC, golden, absent, &golden_label(case)) {
        return r;
    }
    let golden = golden.expect("checked above");
    let statics = match &facts.initcalls {
        Ok(s) => s,
        Err(e) => return super::not_read(STATIC, "vmlinux's initcall tables", e),
    };
    match compare(
        &golden.entries,
        &golden.path,
        statics,
        "vmlinux initcall tables",
    ) {
        None => CheckResult::new(
            STATIC,
            Status::Pass,
            format!(
                "{} initcalls in vmlinux's tables, in golden {}'s order",
                statics.len(),
                golden_name(golden)
            ),
        ),
        Some(m) => mismatch_result(STATIC, "vmlinux's initcall order", &m),
    }
}

fn golden_name(g: &Golden) -> String {
    g.path.file_stem().map_or_else(
        || g.path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// The order the kernel ran, with levels (from LTO stub names, else from
/// the same kernel's tables), and whether it is the tables' order.
pub struct BootView {
    pub order: Vec<Initcall>,
    /// `Some(diff summary)` when the boot and the tables disagree.
    pub disagreement: Option<GoldenMismatch>,
}

pub fn boot_view(facts: &KernelFacts, boot: &[BootInitcall]) -> BootView {
    let statics: &[Initcall] = facts.initcalls.as_deref().unwrap_or(&[]);
    let with_levels = attach_levels(boot, statics);
    let disagreement = facts.initcalls.as_ref().ok().and_then(|s| {
        compare(
            s,
            std::path::Path::new("vmlinux initcall tables"),
            &with_levels,
            "boot order",
        )
    });
    BootView {
        order: with_levels,
        disagreement,
    }
}

/// The boot's order against the golden (and against the tables).
pub fn boot_check(
    case: &crate::case::Case,
    facts: &KernelFacts,
    golden: Option<&Golden>,
    absent: Option<&str>,
    console: Option<&Console>,
    boot: &CheckResult,
) -> CheckResult {
    let Some(console) = console else {
        return unobserved(BOOT, "the initcall order at boot", boot);
    };
    let Some(seen) = boot_order::from_console(console.events()) else {
        return unobserved(BOOT, "`Run /init` (so the built-in initcall order)", boot);
    };
    if seen.is_empty() {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            "the console shows no initcalls before `Run /init`: is `initcall_debug` on the command line?",
        );
    }
    if let Some(r) = no_golden(BOOT, golden, absent, &golden_label(case)) {
        return r;
    }
    let golden = golden.expect("checked above");
    let view = boot_view(facts, &seen);
    let agree = match &view.disagreement {
        None if facts.initcalls.is_ok() => "; the same order as vmlinux's tables".to_string(),
        None => String::new(),
        Some(d) => format!("; it differs from vmlinux's own tables: {}", d.summary),
    };
    match compare(&golden.entries, &golden.path, &view.order, "boot order") {
        None if view.disagreement.is_none() => CheckResult::new(
            BOOT,
            Status::Pass,
            format!(
                "{} built-in initcalls ran in golden {}'s order{agree}",
                view.order.len(),
                golden_name(golden)
            ),
        ),
        None => CheckResult::new(
            BOOT,
            Status::Fail,
            format!("the boot ran golden {}'s order{agree}", golden_name(golden)),
        ),
        Some(m) => {
            let mut r = mismatch_result(BOOT, "the boot's initcall order", &m);
            if !agree.is_empty() {
                r.message.push_str(&agree);
            }
            r
        }
    }
}

/// What `bless` writes: the order the kernel ran, provided it is also the
/// order of its tables.
pub fn blessable(facts: &KernelFacts, console: Option<&Console>) -> Result<Vec<Initcall>, String> {
    let statics = facts.initcalls.as_ref().map_err(|e| e.to_string())?;
    let console = console.ok_or("the kernel did not boot")?;
    let seen =
        boot_order::from_console(console.events()).ok_or("the boot never reached `Run /init`")?;
    let view = boot_view(facts, &seen);
    match view.disagreement {
        None => Ok(statics.clone()),
        Some(d) => Err(format!(
            "the boot order and vmlinux's tables disagree ({}); not blessing either",
            d.summary
        )),
    }
}

/// The family's checks: `initcalls.static`, `initcalls.script`,
/// `initcalls.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    let e = j.expect;
    vec![
        j.static_half(STATIC, |f| {
            static_check(j.case, f, e.golden, e.golden_absent)
        }),
        j.static_half(
            super::initcall_script::SCRIPT,
            super::initcall_script::script_check,
        ),
        j.with_facts(BOOT, |f| {
            boot_check(j.case, f, e.golden, e.golden_absent, j.console, j.boot)
        }),
    ]
}
