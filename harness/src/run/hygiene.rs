//! `hygiene.build` across a run: each case asking for it is judged once
//! every kernel is built, against the LTO-none case of the same config
//! (same arch, base and fragments) in the run (see
//! [`crate::checks::hygiene`]).

use crate::case::{Case, CheckKind};
use crate::checks::hygiene;
use crate::events::{Event, Reporter, Step};
use crate::model::results::CaseResult;
use crate::model::Lto;
use std::path::PathBuf;

/// What makes two cases "the same config" for comparing warnings.
fn family(c: &Case) -> (&'static str, &str, Vec<PathBuf>) {
    let fragments = c
        .fragments
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    (c.arch.name(), c.base.as_str(), fragments)
}

/// Adds `hygiene.build` to every result whose case asks for it.
pub(crate) fn judge(cases: &[&Case], results: &mut [CaseResult], reporter: &dyn Reporter) {
    let log_of = |name: &str, results: &[CaseResult]| -> Option<String> {
        let r = results.iter().find(|r| r.name == name)?;
        std::fs::read_to_string(r.build.log.as_ref()?).ok()
    };
    let mut add = Vec::new();
    // A case not run (`--fail-fast`, an unsupported case) is not judged.
    let ran = |c: &Case| {
        results
            .iter()
            .any(|r| r.name == c.name && r.status != crate::model::Status::Skipped)
    };
    for case in cases
        .iter()
        .filter(|c| c.wants(CheckKind::Hygiene) && ran(c))
    {
        let baseline = cases
            .iter()
            .filter(|o| o.lto == Lto::None && family(o) == family(case))
            .find_map(|o| log_of(&o.name, results).map(|l| (o.name.clone(), l)));
        let log = log_of(&case.name, results);
        let r = hygiene::check(
            log.as_deref(),
            baseline.as_ref().map(|(n, l)| (n.as_str(), l.as_str())),
            case.lto != Lto::None,
        )
        .from_static();
        add.push((case.name.clone(), r));
    }
    for (name, r) in add {
        reporter.report(&Event::StepFinished {
            case: &name,
            step: Step::Check(&r.name),
            status: r.status,
            seconds: 0.0,
            message: &r.message,
        });
        if let Some(res) = results.iter_mut().find(|x| x.name == name) {
            res.checks.push(r);
            res.compute_status();
        }
    }
}
