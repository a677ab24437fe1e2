//! The module checks. `modules.static`: each module the guest gets is a
//! real ELF relocatable for this kernel (right machine, not leftover LLVM
//! bitcode, the kernel's vermagic, no `.lto` in its name). `modules.runtime`:
//! each listed module loads, shows in /proc/modules, prints its init
//! message, unloads and prints its exit message; a module that fails to
//! load fails with the kernel's own error line.

use super::Judging;
use super::{describe, unobserved, Console, KernelFacts, Step};
use crate::case::{Case, ModuleSpec};
use crate::console::{message, EventKind};
use crate::elf::module::module_problems;
use crate::guest::protocol::ModuleStep;
use crate::model::{CheckResult, Status};

pub const STATIC: &str = "modules.static";
pub const RUNTIME: &str = "modules.runtime";

pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    let vermagic = match &facts.vermagic {
        Ok(v) => v,
        Err(e) => return super::not_read(STATIC, "the kernel's vermagic", e),
    };
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let mut good = Vec::new();
    for (name, f) in &facts.modules {
        match f {
            Err(e) => unread.push(format!("{name}: {e}")),
            Ok(f) => {
                let p = module_problems(f, name, case.arch.profile(), vermagic);
                if p.is_empty() {
                    good.push(name.as_str());
                }
                problems.extend(p.into_iter().map(|p| format!("{}: {p}", f.path.display())));
            }
        }
    }
    super::verdict(
        STATIC,
        problems,
        unread,
        format!(
            "{}: ELF relocatables for {}, vermagic `{vermagic}`",
            good.join(", "),
            case.arch.name()
        ),
    )
}

/// Each listed module must load, be listed in /proc/modules, print its init
/// message, unload, print its exit message, and be gone from /proc/modules.
pub fn runtime_check(case: &Case, console: Option<&Console>, boot: &CheckResult) -> CheckResult {
    let Some(console) = console else {
        return unobserved(RUNTIME, "the module steps", boot);
    };
    let mut failures = Vec::new();
    let mut missing = Vec::new();
    let mut seen = Vec::new();
    for m in &case.modules {
        match module_runtime(m, console) {
            Ok(evidence) => seen.extend(evidence),
            Err(Problem::Failed(line)) => failures.push(line),
            Err(Problem::Missing(step)) => missing.push(step),
        }
    }
    if !failures.is_empty() {
        return CheckResult::new(RUNTIME, Status::Fail, failures[0].clone()).with(failures);
    }
    if !missing.is_empty() {
        return unobserved(RUNTIME, &format!("step(s) {}", missing.join(", ")), boot);
    }
    CheckResult::new(
        RUNTIME,
        Status::Pass,
        format!(
            "{} loaded, listed, unloaded, with their messages",
            case.module_names().join(", ")
        ),
    )
    .with(seen)
}

enum Problem {
    Failed(String),
    Missing(String),
}

fn module_runtime(m: &ModuleSpec, console: &Console) -> Result<Vec<String>, Problem> {
    let mut evidence = Vec::new();
    for step in ModuleStep::ALL {
        let s = succeeded(m.name.as_str(), step, console)?;
        evidence.extend(step_message(m, step, console, &s)?);
        if step == ModuleStep::Insmod {
            evidence.extend(init_returned(m.name.as_str(), console, &s)?);
        }
    }
    Ok(evidence)
}

/// What it means when `step` fails.
fn failure(step: ModuleStep) -> &'static str {
    match step {
        ModuleStep::Insmod => "insmod failed",
        ModuleStep::Listed => "not listed in /proc/modules after insmod",
        ModuleStep::Rmmod => "rmmod failed",
        ModuleStep::Unlisted => "still listed in /proc/modules after rmmod",
    }
}

/// Module `name`'s `step`, when it finished with rc 0; a failure carries
/// the kernel's error lines about the module.
fn succeeded(name: &str, step: ModuleStep, console: &Console) -> Result<Step, Problem> {
    let step_name = step.name(name);
    let Some(s) = console.step(&step_name).filter(|s| s.finished) else {
        return Err(Problem::Missing(step_name));
    };
    let rc = s.rc.unwrap_or(-1);
    if rc == 0 {
        return Ok(s);
    }
    let mut line = format!("{name}: {} (rc={rc})", failure(step));
    let kernel_says = kernel_errors(name, console);
    if !kernel_says.is_empty() {
        line.push_str(&format!("; {}", kernel_says.join("; ")));
    }
    Err(Problem::Failed(line))
}

/// The kernel's module error lines about `name` (or about no module named).
fn kernel_errors(name: &str, console: &Console) -> Vec<String> {
    console
        .events()
        .iter()
        .filter(|e| match &e.kind {
            EventKind::ModuleError { module, .. } => module.as_deref().is_none_or(|x| x == name),
            _ => false,
        })
        .map(describe)
        .collect()
}

/// The init message inside insmod's window, the exit message inside
/// rmmod's, when the case gives one: the line that shows it.
fn step_message(
    m: &ModuleSpec,
    step: ModuleStep,
    console: &Console,
    s: &Step,
) -> Result<Option<String>, Problem> {
    let expected = match step {
        ModuleStep::Insmod => m.init_message.as_deref().map(|t| ("init", t)),
        ModuleStep::Rmmod => m.exit_message.as_deref().map(|t| ("exit", t)),
        _ => None,
    };
    let Some((which, text)) = expected else {
        return Ok(None);
    };
    match console.window(s).find(|(_, l)| message(l).contains(text)) {
        Some((n, l)) => Ok(Some(format!("console line {n}: {}", message(l)))),
        None => Err(Problem::Failed(format!(
            "{}: {} succeeded but its {which} message `{text}` never appeared",
            m.name,
            step.word()
        ))),
    }
}

/// What module `name`'s init returned, when initcall_debug (which reports
/// every module init) shows it inside insmod's window: the line if 0.
fn init_returned(name: &str, console: &Console, insmod: &Step) -> Result<Option<String>, Problem> {
    let init = console.events_in(insmod).find_map(|e| match &e.kind {
        EventKind::InitcallReturn {
            module: Some(mm),
            ret,
            ..
        } if mm == name => Some((e.line, *ret)),
        _ => None,
    });
    let Some((n, ret)) = init else {
        return Ok(None);
    };
    if ret != 0 {
        return Err(Problem::Failed(format!(
            "{name}: its init returned {ret} (console line {n})"
        )));
    }
    Ok(Some(format!(
        "console line {n}: {}",
        message(console.line(n))
    )))
}

/// The family's checks: `modules.static`, `modules.runtime`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f)),
        runtime_check(j.case, j.console, j.boot),
    ]
}
