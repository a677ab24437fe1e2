//! CI plumbing: splitting one run over several machines and joining the
//! pieces again. [`plan`] prints the matrix a CI system fans out over,
//! [`shard`] picks one machine's share of the cases (`run --shard K/N`), and
//! [`merge`] joins the machines' `results.json` files into one run.
//!
//! Sharding works on kernels, not cases: cases that build the same kernel
//! (same arch, LTO, CFI, base, fragments and inline config; e.g. the test
//! fixtures that reuse `x86_64-lto-none`'s kernel) always go to the same
//! shard, so no kernel is built on two machines.
//!
//! [`simulate`] replays a run's recorded build profiles on another number
//! of cores (`plan --simulate`), sequentially and in the job pool.

pub mod simulate;

use crate::case::Case;
use crate::model::results::RunResults;
use crate::model::untrusted::visible;
use crate::model::validate::{self, InputError, RESULTS_MAX_BYTES};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// `K/N`: the K-th (1-based) of N shards, as given to `run --shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected K/N with 1 <= K <= N (e.g. `2/3`), found `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// What decides which kernel a case builds, as far as the case file and
/// its toolchain variant say: cases with equal keys share one build (the
/// cache key also hashes the source, the same for every case of a run).
fn kernel_key(c: &Case) -> String {
    let fragments: Vec<String> = c
        .fragments
        .iter()
        // One fragment reached by two paths is one fragment.
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    // JSON keeps the parts apart unambiguously.
    json!([
        c.arch.name(),
        c.lto.name(),
        c.cfi.name(),
        c.base,
        fragments,
        c.config,
        c.variant.as_ref().map(|v| &v.llvm)
    ])
    .to_string()
}

/// The selected cases grouped by kernel: groups ordered by their first case
/// name, cases within a group in selection order.
fn kernel_groups<'a>(cases: &[&'a Case]) -> Vec<Vec<&'a Case>> {
    let mut by_key: BTreeMap<String, Vec<&'a Case>> = BTreeMap::new();
    for c in cases {
        by_key.entry(kernel_key(c)).or_default().push(c);
    }
    let mut groups: Vec<Vec<&'a Case>> = by_key.into_values().collect();
    groups.sort_by(|a, b| first_name(a).cmp(first_name(b)));
    groups
}

fn first_name<'a>(group: &[&'a Case]) -> &'a str {
    group
        .iter()
        .map(|c| c.name.as_str())
        .min()
        .unwrap_or_default()
}

/// Which shard (0-based) each kernel group goes to.
///
/// Greedy: groups are taken largest first (most cases; ties by first case
/// name) and each goes to the shard with the fewest kernels so far, ties
/// broken by fewest cases, then lowest index. Kernel counts therefore
/// differ by at most one between shards. Every kernel counts the same: a
/// defconfig kernel, which takes several times longer than a tinyconfig
/// one, is not weighted. The result depends only on the set of cases, not
/// on the order they were named in, so every machine of a CI matrix
/// computes the same partition.
fn assign(groups: &[Vec<&Case>], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        groups[b]
            .len()
            .cmp(&groups[a].len())
            .then_with(|| first_name(&groups[a]).cmp(first_name(&groups[b])))
    });
    let mut kernels = vec![0usize; n];
    let mut cases = vec![0usize; n];
    let mut out = vec![0usize; groups.len()];
    for g in order {
        let s = (0..n)
            .min_by_key(|&s| (kernels[s], cases[s], s))
            .expect("n > 0");
        kernels[s] += 1;
        cases[s] += groups[g].len();
        out[g] = s;
    }
    out
}

fn check_shard(k: usize, n: usize) -> Result<()> {
    if n == 0 {
        bail!("shard {k}/{n}: the number of shards must be at least 1");
    }
    if k == 0 || k > n {
        bail!("shard {k}/{n}: K must be between 1 and {n} (shards are numbered from 1)");
    }
    Ok(())
}

/// The cases of shard `k` (1-based) of `n`, in their selection order.
/// Every case is in exactly one shard; cases sharing a kernel share a
/// shard; shards get kernel counts within one of each other (see the
/// greedy above). A shard may be empty when there are fewer kernels than
/// shards.
pub fn shard<'a>(cases: &[&'a Case], k: usize, n: usize) -> Result<Vec<&'a Case>> {
    check_shard(k, n)?;
    let groups = kernel_groups(cases);
    let to = assign(&groups, n);
    let mine: Vec<&str> = groups
        .iter()
        .zip(&to)
        .filter(|(_, &s)| s == k - 1)
        .flat_map(|(g, _)| g.iter().map(|c| c.name.as_str()))
        .collect();
    Ok(cases
        .iter()
        .filter(|c| mine.contains(&c.name.as_str()))
        .copied()
        .collect())
}

/// The matrix for a CI system, as JSON a GitHub Actions workflow reads with
/// `fromJSON(...)`: `{"include": [...]}`. Without `shards`, one entry per
/// case (`name`, `arch`, `lto`, `cfi`, `base`, `tags`); with `Some(n)`, one
/// entry per non-empty shard (`shard: "k/n"`, `cases: [names]`, `kernels`;
/// `Some(0)` counts as one shard).
/// Empty shards are left out so no job runs nothing; `run --shard` with the
/// same selection picks exactly the listed cases.
pub fn plan(cases: &[&Case], shards: Option<usize>) -> Value {
    let include: Vec<Value> = match shards {
        None => cases
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    // What a job of the matrix runs: `run --llvm LLVM CASE`.
                    "case": c.case_name(),
                    "llvm": c.variant.as_ref().map(|v| &v.llvm),
                    "toolchain": c.variant.as_ref().map(|v| &v.label),
                    "arch": c.arch.name(),
                    "lto": c.lto.name(),
                    "cfi": c.cfi.name(),
                    "base": c.base,
                    "tags": c.tags,
                })
            })
            .collect(),
        Some(n) => {
            let n = n.max(1);
            let groups = kernel_groups(cases);
            let to = assign(&groups, n);
            (0..n)
                .filter_map(|s| {
                    let mine: Vec<&str> = groups
                        .iter()
                        .zip(&to)
                        .filter(|(_, &t)| t == s)
                        .flat_map(|(g, _)| g.iter().map(|c| c.name.as_str()))
                        .collect();
                    let kernels = to.iter().filter(|&&t| t == s).count();
                    // In selection order, as `run --shard` lists them.
                    let names: Vec<&str> = cases
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|name| mine.contains(name))
                        .collect();
                    (!names.is_empty()).then(|| {
                        json!({
                            "shard": format!("{}/{}", s + 1, n),
                            "cases": names,
                            "kernels": kernels,
                        })
                    })
                })
                .collect()
        }
    };
    json!({ "include": include })
}

/// Reads a results directory or a `results.json`, for [`merge`],
/// `compare`, `gate`, `plan --from` and `bisect`: at most
/// [`RESULTS_MAX_BYTES`](crate::model::validate::RESULTS_MAX_BYTES), and
/// refused unless consistent ([`crate::model::validate`]). Every error is
/// an [`InputError`] naming the file.
pub fn load_results(path: &Path) -> Result<RunResults, InputError> {
    let file: PathBuf = if path.is_dir() {
        path.join("results.json")
    } else {
        path.to_owned()
    };
    let bytes = crate::host::input::read_bounded(&file, RESULTS_MAX_BYTES, "a results file")?;
    validate::parse_results(&file, &bytes)
}

/// Joins the results of shards run in parallel into one run: cases sorted
/// by name, summary recomputed, `blessed` concatenated, `started_at` the
/// earliest, `seconds` the largest. Source, kernel version and toolchain
/// must agree; a case in two parts is an error. Parts are named `part 1`,
/// `part 2`, ... in errors; see [`merge_named`].
pub fn merge(parts: Vec<RunResults>) -> Result<RunResults> {
    merge_named(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, r)| (format!("part {}", i + 1), r))
            .collect(),
    )
}

/// [`merge`], with each part's name (e.g. its path) for error messages.
pub fn merge_named(parts: Vec<(String, RunResults)>) -> Result<RunResults> {
    // The checks every results file read back passes (a part read by
    // `load_results` has passed them already; one made in memory has not).
    for (name, part) in &parts {
        validate::check(Path::new(name), part)?;
    }
    let mut parts = parts.into_iter();
    let Some((first_name, mut out)) = parts.next() else {
        bail!("merge: no results to merge");
    };
    let mut seen: BTreeMap<String, String> = out
        .cases
        .iter()
        .map(|c| (c.name.clone(), first_name.clone()))
        .collect();
    for (name, part) in parts {
        agree(
            "source",
            &first_name,
            &name,
            out.source.as_ref().map(|s| s.key()),
            part.source.as_ref().map(|s| s.key()),
            || out.source.as_ref().map(|s| s.describe()),
            || part.source.as_ref().map(|s| s.describe()),
        )?;
        agree(
            "kernel_version",
            &first_name,
            &name,
            out.kernel_version.clone(),
            part.kernel_version.clone(),
            || out.kernel_version.clone(),
            || part.kernel_version.clone(),
        )?;
        agree(
            "toolchain",
            &first_name,
            &name,
            out.toolchain.clone(),
            part.toolchain.clone(),
            || out.toolchain.clone(),
            || part.toolchain.clone(),
        )?;
        for c in &part.cases {
            if let Some(other) = seen.insert(c.name.clone(), name.clone()) {
                bail!(
                    "merge: case `{}` is in both {other} and {name}",
                    visible(&c.name)
                );
            }
        }
        if earlier(&part.started_at, &out.started_at) {
            out.started_at = part.started_at;
        }
        out.seconds = out.seconds.max(part.seconds);
        out.cases.extend(part.cases);
        out.blessed.extend(part.blessed);
    }
    out.cases.sort_by(|a, b| a.name.cmp(&b.name));
    out.summarise();
    Ok(out)
}

/// Errors when two parts differ in `what` (compared by `key`; `shown` for
/// the message).
fn agree(
    what: &str,
    a_name: &str,
    b_name: &str,
    a: Option<String>,
    b: Option<String>,
    a_shown: impl FnOnce() -> Option<String>,
    b_shown: impl FnOnce() -> Option<String>,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let show = |v: Option<String>| v.map_or_else(|| "(none)".into(), |v| visible(&v));
    bail!(
        "merge: the parts were not run on the same inputs: {what} is `{}` in {a_name} but `{}` in {b_name}",
        show(a_shown()),
        show(b_shown())
    )
}

/// RFC 3339 times compared as times (text comparison gets fractional
/// seconds wrong); text comparison when either does not parse.
fn earlier(a: &str, b: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    match (
        time::OffsetDateTime::parse(a, &Rfc3339),
        time::OffsetDateTime::parse(b, &Rfc3339),
    ) {
        (Ok(x), Ok(y)) => x < y,
        _ => a < b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::results::{Blessing, BootStep, BuildStep, CaseResult, Summary};
    use crate::model::source::SourceIdentity;
    use crate::model::{CheckResult, Status};

    fn case(name: &str, yaml: &str) -> Case {
        let mut c = Case::parse(Path::new("/nonexistent/cases/x.yaml"), yaml).unwrap();
        c.name = name.into();
        c
    }

    /// The shipped cases plus the test fixtures (which share
    /// x86_64-lto-none's kernel) plus one more of each kind.
    fn cases() -> Vec<Case> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = crate::case::load_dir(&root.join("../cases")).unwrap();
        all.extend(crate::case::load_dir(&root.join("tests/fixtures/cases")).unwrap());
        all.push(case(
            "x86_64-lto-none-inline",
            "arch: x86_64\nlto: none\ncfi: off\nconfig:\n  CONFIG_FOO: y\n",
        ));
        // The same kernel as x86_64-lto-none: its fragments, another timeout.
        let mut again = Case::parse(
            &root.join("../cases/x86_64-lto-none-again.yaml"),
            "arch: x86_64\nlto: none\ncfi: off\ntimeout: 30\nfragments: [fragments/mechanisms.config, fragments/mechanisms-x86_64.config]\n",
        )
        .unwrap();
        again.name = "x86_64-lto-none-again".into();
        all.push(again);
        all
    }

    fn names(v: &[&Case]) -> Vec<String> {
        v.iter().map(|c| c.name.clone()).collect()
    }

    #[test]
    fn shard_parses_k_of_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { k: 2, n: 3 }));
        assert_eq!(Shard { k: 1, n: 4 }.to_string(), "1/4");
        for bad in ["", "3", "0/3", "4/3", "1/0", "a/b", "1/2/3", "-1/2"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/N") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn every_case_lands_in_exactly_one_shard() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().collect();
        for n in 1..=sel.len() + 2 {
            let mut got: Vec<String> = Vec::new();
            for k in 1..=n {
                got.extend(names(&shard(&sel, k, n).unwrap()));
            }
            got.sort();
            let mut want = names(&sel);
            want.sort();
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn cases_sharing_a_kernel_share_a_shard_and_kernels_are_spread() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().collect();
        let kernels = kernel_groups(&sel).len();
        // The fixtures and x86_64-lto-none-again build x86_64-lto-none's
        // kernel; the inline-config one does not.
        let same = [
            "x86_64-lto-none",
            "x86_64-init-panic",
            "x86_64-hang",
            "x86_64-expect-trap",
            "x86_64-lto-none-again",
        ];
        assert_eq!(kernels, sel.len() - (same.len() - 1));
        for n in 1..=4 {
            let shards: Vec<Vec<&Case>> = (1..=n).map(|k| shard(&sel, k, n).unwrap()).collect();
            let holder: Vec<usize> = same
                .iter()
                .map(|name| {
                    shards
                        .iter()
                        .position(|s| s.iter().any(|c| c.name == *name))
                        .unwrap()
                })
                .collect();
            assert!(holder.iter().all(|&h| h == holder[0]), "n={n}: {holder:?}");
            let per: Vec<usize> = shards.iter().map(|s| kernel_groups(s).len()).collect();
            let (lo, hi) = (per.iter().min().unwrap(), per.iter().max().unwrap());
            assert!(hi - lo <= 1, "n={n}: kernels per shard {per:?}");
            assert_eq!(per.iter().sum::<usize>(), kernels);
        }
    }

    #[test]
    fn shards_do_not_depend_on_selection_order() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().collect();
        let rev: Vec<&Case> = all.iter().rev().collect();
        for k in 1..=3 {
            let mut a = names(&shard(&sel, k, 3).unwrap());
            let mut b = names(&shard(&rev, k, 3).unwrap());
            a.sort();
            b.sort();
            assert_eq!(a, b);
            // Within a shard, the selection order is kept.
            let mut r = names(&shard(&rev, k, 3).unwrap());
            r.reverse();
            assert_eq!(names(&shard(&sel, k, 3).unwrap()), r);
        }
    }

    #[test]
    fn bad_shards_are_errors() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().collect();
        for (k, n) in [(0, 2), (3, 2), (0, 0), (1, 0)] {
            let e = shard(&sel, k, n).unwrap_err().to_string();
            assert!(e.contains(&format!("{k}/{n}")), "{e}");
        }
        // More shards than kernels: the extra ones are empty.
        let two: Vec<&Case> = sel.iter().take(2).copied().collect();
        let sizes: Vec<usize> = (1..=5).map(|k| shard(&two, k, 5).unwrap().len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 2);
    }

    #[test]
    fn plan_is_a_matrix() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().collect();
        let p = plan(&sel, None);
        let inc = p["include"].as_array().unwrap();
        assert_eq!(inc.len(), sel.len());
        let e = inc
            .iter()
            .find(|e| e["name"] == "x86_64-defconfig-lto-full-cfi")
            .unwrap();
        assert_eq!(e["arch"], "x86_64");
        assert_eq!(e["lto"], "full");
        assert_eq!(e["cfi"], "on");
        assert_eq!(e["base"], "defconfig");
        assert_eq!(e["tags"], json!(["slow"]));

        let p = plan(&sel, Some(3));
        let inc = p["include"].as_array().unwrap();
        assert_eq!(inc.len(), 3);
        let mut listed = Vec::new();
        for (i, e) in inc.iter().enumerate() {
            let shard_s = e["shard"].as_str().unwrap();
            assert_eq!(shard_s, format!("{}/3", i + 1));
            let s: Shard = shard_s.parse().unwrap();
            let cases: Vec<String> = e["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            // What `run --shard` picks is exactly what the plan lists.
            assert_eq!(cases, names(&shard(&sel, s.k, s.n).unwrap()));
            assert!(e["kernels"].as_u64().unwrap() >= 1);
            listed.extend(cases);
        }
        assert_eq!(listed.len(), sel.len());
        // Empty shards are left out of the matrix.
        let one: Vec<&Case> = sel.iter().take(1).copied().collect();
        let p = plan(&one, Some(3));
        assert_eq!(p["include"].as_array().unwrap().len(), 1);
        assert_eq!(p["include"][0]["shard"], "1/3");
    }

    #[test]
    fn a_toolchain_matrix_plans_and_shards_each_variant_as_its_own_kernel() {
        let all = cases();
        let sel: Vec<&Case> = all.iter().take(2).collect();
        let tcs = [
            ("-16".to_owned(), "clang-16".to_owned()),
            ("-22".to_owned(), "clang-22".to_owned()),
        ];
        let m = crate::case::matrix(&sel, &tcs);
        let msel: Vec<&Case> = m.iter().collect();
        let p = plan(&msel, None);
        let inc = p["include"].as_array().unwrap();
        assert_eq!(inc.len(), 4);
        assert_eq!(inc[1]["name"], format!("{}+clang-22", sel[0].name));
        assert_eq!(inc[1]["case"], sel[0].name.as_str());
        assert_eq!(inc[1]["llvm"], "-22");
        assert_eq!(inc[1]["toolchain"], "clang-22");
        // Two toolchains are two kernels, so four shards get one each.
        let sizes: Vec<usize> = (1..=4).map(|k| shard(&msel, k, 4).unwrap().len()).collect();
        assert_eq!(sizes, [1, 1, 1, 1]);
        assert_eq!(plan(&msel, Some(4))["include"][0]["kernels"], 1);
        // Without a matrix, a plan entry has no toolchain.
        assert!(plan(&sel, None)["include"][0]["llvm"].is_null());
    }

    fn result(name: &str, status: Status) -> CaseResult {
        let mut c = CaseResult {
            name: name.into(),
            arch: crate::model::Arch::X86_64,
            lto: crate::model::Lto::None,
            cfi: crate::model::Switch::Off,
            status: Status::Skipped,
            build: BuildStep {
                status: Status::Pass,
                message: "built".into(),
                seconds: 1.0,
                reused: true,
                key: None,
                artifacts: None,
                log: None,
                metadata: None,
                error_lines: vec![],
            },
            boot: BootStep {
                status,
                message: "m".into(),
                seconds: 2.0,
                console_log: None,
                qemu_command: None,
                end: None,
                attempts: vec![],
                accel: None,
                qemu_version: None,
            },
            checks: vec![CheckResult::new("boot", status, "m")],
            regressions: vec![],
            toolchain: None,
            variant: None,
            timeline: None,
            recipe: None,
        };
        c.compute_status();
        c
    }

    fn part(started_at: &str, seconds: f64, cases: Vec<CaseResult>) -> RunResults {
        let mut r = RunResults {
            harness_version: "0.1.0".into(),
            started_at: started_at.into(),
            seconds,
            source: Some(SourceIdentity::Tarball {
                path: "/usr/src/linux-source-6.12.tar.xz".into(),
                sha256: "ab".repeat(32),
            }),
            kernel_version: Some("6.12.117".into()),
            toolchain: Some("clang 19.1.7".into()),
            cases,
            blessed: vec![],
            bisected: None,
            summary: Summary::default(),
        };
        r.summarise();
        r
    }

    fn blessing(family: &str) -> Blessing {
        Blessing {
            family: family.into(),
            path: format!("/c/golden/{family}.initcalls").into(),
            cases: vec![],
            status: crate::model::results::BlessStatus::Unchanged,
            message: "same".into(),
            added: 0,
            removed: 0,
            diff: vec![],
        }
    }

    #[test]
    fn merge_joins_parts_in_name_order() {
        let mut a = part(
            "2025-01-01T10:00:00.5Z",
            30.0,
            vec![
                result("x86_64-lto-none", Status::Pass),
                result("arm64-lto-thin-cfi", Status::Fail),
            ],
        );
        a.blessed.push(blessing("x86_64-tiny"));
        let mut b = part(
            "2025-01-01T10:00:00Z",
            50.0,
            vec![result("arm64-lto-none", Status::Incomplete)],
        );
        b.blessed.push(blessing("arm64-tiny"));
        let c = part("2025-01-01T10:00:01Z", 10.0, vec![]);
        let m = merge(vec![a.clone(), b.clone(), c.clone()]).unwrap();
        let order: Vec<&str> = m.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            ["arm64-lto-none", "arm64-lto-thin-cfi", "x86_64-lto-none"]
        );
        assert_eq!(
            (
                m.summary.pass,
                m.summary.fail,
                m.summary.incomplete,
                m.summary.skipped
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(m.exit_code(), 1);
        // 10:00:00Z is earlier than 10:00:00.5Z, though it sorts later as text.
        assert_eq!(m.started_at, "2025-01-01T10:00:00Z");
        assert_eq!(m.seconds, 50.0);
        let fams: Vec<&str> = m.blessed.iter().map(|b| b.family.as_str()).collect();
        assert_eq!(fams, ["x86_64-tiny", "arm64-tiny"]);
        // The order of the parts does not change the cases' order.
        let m2 = merge(vec![c, b, a]).unwrap();
        let order2: Vec<&str> = m2.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, order2);
        assert_eq!(m2.started_at, m.started_at);
        // One part merges to itself.
        let one = merge(vec![part(
            "t",
            1.0,
            vec![result("b", Status::Pass), result("a", Status::Pass)],
        )])
        .unwrap();
        assert_eq!(one.cases[0].name, "a");
        assert_eq!(one.summary.pass, 2);
        assert!(merge(vec![]).is_err());
    }

    #[test]
    fn merge_refuses_a_case_in_two_parts() {
        let a = part("t", 1.0, vec![result("x86_64-lto-none", Status::Pass)]);
        let b = part(
            "t",
            1.0,
            vec![
                result("arm64-lto-none", Status::Pass),
                result("x86_64-lto-none", Status::Pass),
            ],
        );
        let e = merge(vec![a, b]).unwrap_err().to_string();
        assert!(
            e.contains("`x86_64-lto-none`") && e.contains("part 1") && e.contains("part 2"),
            "{e}"
        );
        let e = merge_named(vec![(
            "B1".into(),
            part(
                "t",
                1.0,
                vec![result("a", Status::Pass), result("a", Status::Pass)],
            ),
        )])
        .unwrap_err()
        .to_string();
        assert!(e.contains("B1"), "{e}");
    }

    #[test]
    fn merge_refuses_parts_of_different_inputs() {
        let a = part("t", 1.0, vec![result("a", Status::Pass)]);
        let mut b = part("t", 1.0, vec![result("b", Status::Pass)]);
        b.source = Some(SourceIdentity::Tarball {
            path: "/usr/src/linux-source-6.12.tar.xz".into(),
            sha256: "cd".repeat(32),
        });
        let e = merge_named(vec![("A".into(), a.clone()), ("B".into(), b)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source")
                && e.contains("sha256 abababab")
                && e.contains("sha256 cdcdcdcd")
                && e.contains("in A")
                && e.contains("in B"),
            "{e}"
        );
        // The same tarball at another path is the same source.
        let mut moved = part("t", 1.0, vec![result("c", Status::Pass)]);
        moved.source = Some(SourceIdentity::Tarball {
            path: "/elsewhere/linux.tar.xz".into(),
            sha256: "ab".repeat(32),
        });
        assert!(merge(vec![a.clone(), moved]).is_ok());

        let mut t = part("t", 1.0, vec![result("d", Status::Pass)]);
        t.toolchain = Some("clang 18.1.8".into());
        let e = merge(vec![a.clone(), t]).unwrap_err().to_string();
        assert!(
            e.contains("toolchain") && e.contains("clang 19.1.7") && e.contains("clang 18.1.8"),
            "{e}"
        );
        let mut v = part("t", 1.0, vec![result("e", Status::Pass)]);
        v.kernel_version = None;
        let e = merge(vec![a, v]).unwrap_err().to_string();
        assert!(
            e.contains("kernel_version") && e.contains("6.12.117") && e.contains("(none)"),
            "{e}"
        );
    }

    /// A results.json with the first copy of case `a` failing, a second
    /// passing, then case `b`; and with the copies the other way round.
    fn with_duplicate_cases(failing_first: bool) -> RunResults {
        let (fail, pass) = (result("a", Status::Fail), result("a", Status::Pass));
        let cases = if failing_first {
            vec![fail, pass, result("b", Status::Pass)]
        } else {
            vec![pass, fail, result("b", Status::Pass)]
        };
        part("t", 1.0, cases)
    }

    #[test]
    fn load_results_refuses_a_case_or_check_listed_twice_in_either_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.json");
        for failing_first in [true, false] {
            let r = with_duplicate_cases(failing_first);
            std::fs::write(&p, serde_json::to_vec(&r).unwrap()).unwrap();
            let e = load_results(d.path()).unwrap_err();
            assert!(matches!(e, InputError::Invalid { .. }), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: not a consistent results file: case `a` is listed 2 times",
                    p.display()
                )
            );
        }
        // Two copies of a check within a case, the failing one first.
        let mut c = result("a", Status::Pass);
        c.checks = vec![
            CheckResult::new("cfi", Status::Fail, "trap not taken"),
            CheckResult::new("cfi", Status::Pass, "ok"),
        ];
        c.compute_status();
        std::fs::write(&p, serde_json::to_vec(&part("t", 1.0, vec![c])).unwrap()).unwrap();
        let e = load_results(&p).unwrap_err().to_string();
        assert!(e.ends_with("case `a` lists check `cfi` 2 times"), "{e}");
    }

    #[test]
    fn load_results_refuses_a_status_its_steps_contradict() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.json");
        // The boot failed, the case says pass; and the other way round.
        let mut hides = result("a", Status::Fail);
        hides.status = Status::Pass;
        let mut invents = result("b", Status::Pass);
        invents.status = Status::Fail;
        let r = part("t", 1.0, vec![hides.clone(), invents.clone()]);
        std::fs::write(&p, serde_json::to_vec(&r).unwrap()).unwrap();
        let e = load_results(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: not a consistent results file: \
                 case `a` has status `pass` but its steps and checks say `fail`; \
                 case `b` has status `fail` but its steps and checks say `pass`",
                p.display()
            )
        );
        // merge refuses such a part made in memory too, naming it.
        let e = merge_named(vec![("P".into(), part("t", 1.0, vec![hides]))])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("P: not a consistent results file: case `a`"),
            "{e}"
        );
        assert!(merge(vec![part("t", 1.0, vec![invents])]).is_err());
    }

    #[test]
    fn load_results_refuses_a_file_over_its_limit_without_reading_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.json");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(RESULTS_MAX_BYTES + 1).unwrap();
        let e = load_results(d.path()).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("larger than 64 MiB"), "{e}");
    }

    #[test]
    fn load_results_reads_a_dir_or_a_file() {
        let d = tempfile::tempdir().unwrap();
        let r = part("t", 1.0, vec![result("a", Status::Pass)]);
        crate::output::write_all(&r, d.path(), &Default::default()).unwrap();
        assert_eq!(load_results(d.path()).unwrap().cases[0].name, "a");
        assert_eq!(
            load_results(&d.path().join("results.json")).unwrap().cases[0].name,
            "a"
        );
        let e = load_results(&d.path().join("nope")).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
