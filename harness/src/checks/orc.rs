//! `orc.static` and `orc.boot` (x86): objtool runs late under LTO (once on
//! vmlinux.o with `--link`, once per module), and with `UNWINDER_ORC` it
//! writes the ORC tables there. Statically: `.orc_unwind_ip` and
//! `.orc_unwind` are non-empty with matching counts in vmlinux and every
//! module, and under LTO `.vmlinux.o.cmd` ran objtool `--link`. At boot:
//! no `Bad or missing .orc_unwind table`, and the trace of an lkdtm
//! EXCEPTION (an Oops: tinyconfig has no CONFIG_BUG for a WARNING) has no
//! `? ` (unreliable) frames.

use super::cfi::LkdtmExpectations;
use super::lkdtm;
use super::Judging;
use super::{Console, KernelFacts};
use crate::arch::ArchProfile;
use crate::case::Case;
use crate::console::message;
use crate::elf::orc::OrcFacts;
use crate::guest::protocol::EXCEPTION;
use crate::model::{CheckResult, Lto, Status};

pub const STATIC: &str = "orc.static";
pub const BOOT: &str = "orc.boot";

fn not_set(facts: &KernelFacts, name: &str) -> Option<CheckResult> {
    if let Err(e) = &facts.config {
        return Some(super::not_read(name, ".config", e));
    }
    (facts.config_is_y("CONFIG_UNWINDER_ORC") != Some(true)).then(|| {
        CheckResult::new(
            name,
            Status::Skipped,
            "CONFIG_UNWINDER_ORC is not set (x86 only): no ORC tables",
        )
    })
}

fn judge_tables(what: &str, o: &OrcFacts) -> Result<String, String> {
    let (ip, unwind) = (o.ip_entries(), o.unwind_entries());
    if o.unwind_ip.is_none() || o.unwind.is_none() || ip == 0 {
        return Err(format!(
            "{what} has no ORC tables (.orc_unwind_ip, .orc_unwind)"
        ));
    }
    if ip != unwind {
        return Err(format!(
            "{what} has {ip} .orc_unwind_ip entries but {unwind} .orc_unwind entries"
        ));
    }
    Ok(format!("{what}: {ip}"))
}

pub fn static_check(case: &Case, facts: &KernelFacts) -> CheckResult {
    if let Some(r) = not_set(facts, STATIC) {
        return r;
    }
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let mut seen = Vec::new();
    match &facts.mech.vmlinux.orc {
        Ok(o) => match judge_tables("vmlinux", o) {
            Ok(s) => seen.push(s),
            Err(p) => problems.push(p),
        },
        Err(e) => unread.push(format!("vmlinux's sections: {e}")),
    }
    for (name, m) in &facts.mech.modules {
        match m.as_ref().map(|m| &m.orc) {
            Ok(Ok(o)) => match judge_tables(&format!("{name}.ko"), o) {
                Ok(s) => seen.push(s),
                Err(p) => problems.push(p),
            },
            Ok(Err(e)) | Err(e) => unread.push(format!("{name}: {e}")),
        }
    }
    if case.lto != Lto::None {
        match &facts.mech.vmlinux_o_cmd {
            Some(Ok(cmd)) if cmd.contains("objtool") && cmd.contains("--link") => {
                seen.push("objtool ran on vmlinux.o with --link".into())
            }
            Some(Ok(_)) => problems.push(
                "the LTO link of vmlinux.o did not run objtool --link (.vmlinux.o.cmd)".into(),
            ),
            Some(Err(e)) => unread.push(e.to_string()),
            None => seen.push("no .vmlinux.o.cmd to read".into()),
        }
    }
    super::verdict(
        STATIC,
        problems,
        unread,
        format!("ORC entries: {}", seen.join(", ")),
    )
}

/// What the kernel prints when a module or vmlinux lacks usable ORC data.
const BAD: [&str; 2] = ["Bad or missing .orc_unwind table", "WARNING: bad unwind"];

pub fn boot_check(
    arch: &ArchProfile,
    facts: Option<&KernelFacts>,
    console: Option<&Console>,
    boot: &CheckResult,
    lkdtm: &LkdtmExpectations,
) -> CheckResult {
    if let Some(r) = facts.and_then(|f| not_set(f, BOOT)) {
        return r;
    }
    if let Some(c) = console {
        for n in 1..=c.lines.len() {
            let msg = message(c.line(n));
            if BAD.iter().any(|b| msg.contains(b)) {
                return CheckResult::new(BOOT, Status::Fail, format!("console line {n}: {msg}"));
            }
        }
    }
    let judged = lkdtm::judge(BOOT, EXCEPTION, arch, console, boot, lkdtm);
    if judged.result.status != Status::Pass {
        return judged.result;
    }
    let (Some(step), Some(c)) = (judged.step, judged.console) else {
        return judged.result;
    };
    let mut frames = 0;
    let mut unreliable = Vec::new();
    let mut in_trace = false;
    for (n, line) in c.window(&step) {
        let msg = message(line).trim_start();
        if msg.starts_with("Call Trace:") {
            in_trace = true;
            continue;
        }
        if !in_trace {
            continue;
        }
        if msg.starts_with("---[ end trace") {
            break;
        }
        if msg.starts_with("? ") {
            unreliable.push(format!("console line {n}: {msg}"));
        } else if msg.contains("+0x") {
            frames += 1;
        }
    }
    // x86's dumper also prints stale text addresses it finds on the stack
    // as `? ` lines even with right ORC data (seen here: `? __switch_to`
    // in an LTO-none kernel); without usable ORC every frame is one.
    if frames == 0 {
        return CheckResult::new(
            BOOT,
            Status::Fail,
            format!(
                "the Oops's trace has no reliable frame ({} unreliable `? ` lines)",
                unreliable.len()
            ),
        )
        .with(unreliable);
    }
    CheckResult::new(
        BOOT,
        Status::Pass,
        format!(
            "no ORC complaint; the lkdtm EXCEPTION Oops's trace has {frames} reliable frames ({} `? ` lines)",
            unreliable.len()
        ),
    )
}

/// The family's checks: `orc.static`, `orc.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f)),
        boot_check(
            j.case.arch.profile(),
            j.facts,
            j.console,
            j.boot,
            j.expect.lkdtm,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::table::EntryCount;
    use std::path::Path;

    fn case(lto: &str) -> Case {
        Case::parse(
            Path::new("/x/c.yaml"),
            &format!("arch: x86_64\nlto: {lto}\ncfi: off\nchecks: [orc]\n"),
        )
        .unwrap()
    }

    fn facts(ip: u64, unwind: u64, cmd: &str) -> KernelFacts {
        let mut f = KernelFacts::empty();
        f.config = Ok([("CONFIG_UNWINDER_ORC".to_string(), "y".to_string())].into());
        f.mech.vmlinux.orc = Ok(OrcFacts {
            unwind_ip: Some(EntryCount::of(ip * 4, 4)),
            unwind: Some(EntryCount::of(unwind * 6, 6)),
        });
        f.mech.vmlinux_o_cmd = Some(Ok(cmd.into()));
        f
    }

    const LINKED: &str =
        "ld.lld -r -o vmlinux.o ... ; ./tools/objtool/objtool --orc --mcount --link vmlinux.o";

    #[test]
    fn matching_tables_and_a_late_objtool_pass() {
        let r = static_check(&case("full"), &facts(5000, 5000, LINKED));
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn missing_or_mismatched_tables_and_no_late_objtool_fail() {
        let r = static_check(&case("full"), &facts(0, 0, LINKED));
        assert!(
            r.message.contains("vmlinux has no ORC tables"),
            "{}",
            r.message
        );
        let r = static_check(&case("full"), &facts(5000, 4999, LINKED));
        assert!(
            r.message.contains("5000 .orc_unwind_ip entries but 4999"),
            "{}",
            r.message
        );
        let r = static_check(&case("thin"), &facts(5000, 5000, "ld.lld -r -o vmlinux.o"));
        assert!(
            r.message.contains("did not run objtool --link"),
            "{}",
            r.message
        );
        // Without LTO objtool runs per object: vmlinux.o's command is not judged.
        let r = static_check(&case("none"), &facts(5000, 5000, "ld.lld -r -o vmlinux.o"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }
}
