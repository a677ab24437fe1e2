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
use crate::events::{Event, Reporter, Step};
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
    reporter: &dyn Reporter,
) -> Vec<Blessing> {
    let mut goldens = prepared.goldens.by_path.clone();
    let series = prepared.goldens.series.as_deref();
    let mut out = Vec::new();
    for (path, (family, orders)) in orders_by_golden(cases, judged, prepared) {
        let names = orders.iter().map(|(i, _)| cases[*i].name.clone()).collect();
        let mut blessing = Blessing {
            family: family.clone(),
            path: path.clone(),
            cases: names,
            status: BlessStatus::Refused,
            message: String::new(),
            added: 0,
            removed: 0,
            diff: vec![],
        };
        match agreed_order(cases, &path, &orders) {
            Err(why) => blessing.message = why,
            Ok(order) => {
                if let Some(g) = write_golden(&mut blessing, &goldens, order, series) {
                    goldens.insert(path.clone(), g);
                }
            }
        }
        out.push(blessing);
    }
    // Re-judge against the goldens as they now are, and say what changed.
    for (i, case) in cases.iter().enumerate() {
        if let (Some(j), Some(r)) = (&judged[i], results.get_mut(i)) {
            if case.wants(CheckKind::Initcalls) {
                let checks = judge(case, j, prepared, &goldens);
                for c in checks.iter().filter(|c| !r.checks.contains(c)) {
                    reporter.report(&Event::StepFinished {
                        case: &case.name,
                        step: Step::Check(&c.name),
                        status: c.status,
                        seconds: 0.0,
                        message: &format!("re-judged after bless: {}", c.message),
                    });
                }
                r.checks = checks;
                r.compute_status();
            }
        }
    }
    out
}

/// Golden path (for the kernels' series) -> (family, [(case, order or why
/// not)]), for the cases that check their initcalls against a golden.
fn orders_by_golden(
    cases: &[&Case],
    judged: &[Option<Judged>],
    prepared: &Prepared,
) -> BTreeMap<PathBuf, (String, KernelOrders)> {
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
        let path = prepared
            .goldens
            .for_case
            .get(&case.name)
            .map_or(&g.path, |r| &r.path);
        by_golden
            .entry(path.clone())
            .or_insert_with(|| (g.family.clone(), vec![]))
            .1
            .push((i, order));
    }
    by_golden
}

/// The order every kernel that shares the golden agrees on, or why not
/// (a kernel without an order, or two that differ).
fn agreed_order<'o>(
    cases: &[&Case],
    path: &std::path::Path,
    orders: &'o KernelOrders,
) -> Result<&'o [Initcall], String> {
    let failed: Vec<String> = orders
        .iter()
        .filter_map(|(i, o)| o.as_ref().err().map(|e| format!("{}: {e}", cases[*i].name)))
        .collect();
    if !failed.is_empty() {
        return Err(format!("not blessed: {}", failed.join("; ")));
    }
    let ok = |o: &'o Result<Vec<Initcall>, String>| o.as_deref().unwrap_or(&[]);
    let first = ok(&orders[0].1);
    let disagree: Vec<String> = orders[1..]
        .iter()
        .filter_map(|(i, o)| {
            golden::compare(first, path, ok(o), &cases[*i].name).map(|m| {
                format!(
                    "{} differs from {}: {}",
                    cases[*i].name, cases[orders[0].0].name, m.summary
                )
            })
        })
        .collect();
    if !disagree.is_empty() {
        return Err(format!(
            "not blessed: the kernels that share this golden disagree: {}",
            disagree.join("; ")
        ));
    }
    Ok(first)
}

/// Writes `order` as the golden (atomically) unless it already is, and
/// records what happened in `blessing`; the new golden when written.
fn write_golden(
    blessing: &mut Blessing,
    goldens: &BTreeMap<PathBuf, Golden>,
    order: &[Initcall],
    series: Option<&str>,
) -> Option<Golden> {
    let path = blessing.path.clone();
    let old = goldens
        .get(&path)
        .map(|g| g.entries.clone())
        .unwrap_or_default();
    let Some(m) = golden::compare(&old, &path, order, "blessed") else {
        blessing.status = BlessStatus::Unchanged;
        blessing.message = format!("{} initcalls, as before", order.len());
        return None;
    };
    let text = Golden::render(&blessing.family, series, order);
    if let Err(e) = crate::host::cache::write_atomic(&path, text.as_bytes()) {
        blessing.message = format!("cannot write {}: {e:#}", path.display());
        return None;
    }
    blessing.status = BlessStatus::Written;
    blessing.added = m.extra;
    blessing.removed = m.missing;
    blessing.message = if old.is_empty() {
        format!("created with {} initcalls", order.len())
    } else {
        blessing.diff = m.diff.lines().map(str::to_owned).collect();
        format!(
            "rewritten: {} initcalls, {} added, {} removed; was: {}",
            order.len(),
            m.extra,
            m.missing,
            m.summary
        )
    };
    Some(Golden {
        path,
        entries: order.to_vec(),
        kernel: series.map(str::to_owned),
    })
}
