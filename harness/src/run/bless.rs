//! Blessing: rewrites each initcall golden the cases share from what
//! their kernels did, when they all agree, atomically; then re-judges
//! those cases' checks against the new goldens. It never writes a golden
//! the kernels disagree about, nor one a kernel's own boot and tables
//! disagree on.

use super::{judge, Judged, Prepared};
use crate::case::{Case, CheckKind};
use crate::checks::{
    self,
    golden::{self, Golden},
};
use crate::elf::initcalls::Initcall;
use crate::model::results::{BlessStatus, Blessing, CaseResult};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Per case (by index), the initcall order its kernel would bless, or why not.
type KernelOrders = Vec<(usize, Result<Vec<Initcall>, String>)>;

/// Rewrites each golden the cases share from what their kernels did, when
/// they all agree, atomically; then re-judges those cases' checks against
/// the new goldens. Never writes a golden the kernels disagree about.
pub(crate) fn bless(
    cases: &[&Case],
    judged: &[Option<Judged>],
    results: &mut [CaseResult],
    prepared: &Prepared,
) -> Vec<Blessing> {
    // Golden path -> (family, [(case, order or why not)]).
    let mut by_golden: BTreeMap<PathBuf, (String, KernelOrders)> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let (Some(g), Some(j)) = (&case.golden, &judged[i]) else {
            continue;
        };
        if !case.wants(CheckKind::Initcalls) {
            continue;
        }
        let console = j.outcome.as_ref().map(checks::Console::read);
        let order = match &j.facts {
            Some(f) => checks::initcalls::blessable(f, console.as_ref()),
            None => Err("no kernel was built".into()),
        };
        by_golden
            .entry(g.path.clone())
            .or_insert_with(|| (g.family.clone(), vec![]))
            .1
            .push((i, order));
    }
    let mut goldens = prepared.goldens.clone();
    let mut out = Vec::new();
    for (path, (family, orders)) in by_golden {
        let names =
            |idx: &[usize]| -> Vec<String> { idx.iter().map(|i| cases[*i].name.clone()).collect() };
        let all: Vec<usize> = orders.iter().map(|(i, _)| *i).collect();
        let mut blessing = Blessing {
            family: family.clone(),
            path: path.clone(),
            cases: names(&all),
            status: BlessStatus::Refused,
            message: String::new(),
            added: 0,
            removed: 0,
            diff: vec![],
        };
        let failed: Vec<String> = orders
            .iter()
            .filter_map(|(i, o)| o.as_ref().err().map(|e| format!("{}: {e}", cases[*i].name)))
            .collect();
        if !failed.is_empty() {
            blessing.message = format!("not blessed: {}", failed.join("; "));
            out.push(blessing);
            continue;
        }
        let first = orders[0].1.as_ref().expect("checked").clone();
        let disagree: Vec<String> = orders[1..]
            .iter()
            .filter_map(|(i, o)| {
                let o = o.as_ref().expect("checked");
                golden::compare(&first, &path, o, &cases[*i].name).map(|m| {
                    format!(
                        "{} differs from {}: {}",
                        cases[*i].name, cases[orders[0].0].name, m.summary
                    )
                })
            })
            .collect();
        if !disagree.is_empty() {
            blessing.message = format!(
                "not blessed: the kernels that share this golden disagree: {}",
                disagree.join("; ")
            );
            out.push(blessing);
            continue;
        }
        let old = goldens
            .get(&path)
            .map(|g| g.entries.clone())
            .unwrap_or_default();
        match golden::compare(&old, &path, &first, "blessed") {
            None => {
                blessing.status = BlessStatus::Unchanged;
                blessing.message = format!("{} initcalls, as before", first.len());
            }
            Some(m) => {
                let text = Golden::render(&family, &first);
                match crate::host::cache::write_atomic(&path, text.as_bytes()) {
                    Ok(()) => {
                        blessing.status = BlessStatus::Written;
                        blessing.added = m.extra;
                        blessing.removed = m.missing;
                        blessing.message = if old.is_empty() {
                            format!("created with {} initcalls", first.len())
                        } else {
                            format!(
                                "rewritten: {} initcalls, {} added, {} removed; was: {}",
                                first.len(),
                                m.extra,
                                m.missing,
                                m.summary
                            )
                        };
                        if !old.is_empty() {
                            blessing.diff = m.diff.lines().map(str::to_owned).collect();
                        }
                        goldens.insert(
                            path.clone(),
                            Golden {
                                path: path.clone(),
                                entries: first.clone(),
                            },
                        );
                    }
                    Err(e) => blessing.message = format!("cannot write {}: {e:#}", path.display()),
                }
            }
        }
        out.push(blessing);
    }
    // Re-judge against the goldens as they now are.
    for (i, case) in cases.iter().enumerate() {
        if let (Some(j), Some(r)) = (&judged[i], results.get_mut(i)) {
            if case.wants(CheckKind::Initcalls) {
                r.checks = judge(case, j, prepared, &goldens);
                r.compute_status();
            }
        }
    }
    out
}
