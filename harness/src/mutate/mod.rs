//! Mutate: a kernel for every check to fail on. A *mutant* is a small
//! patch to the kernel tree that breaks one LTO mechanism
//! (`<cases>/mutants/<name>.yaml` beside its `.patch`, see [`file`]). In
//! the harness's own worktree of a kernel git tree (the series machinery,
//! [`crate::series::Worktree`]) every selected mutant's patch must apply
//! to the base before anything is built; then the mutants' cases and
//! controls run at the base (their unmutated kernels must pass; the build
//! cache has them after the first time), and each mutant is committed and
//! its cases and controls run on it, each an incremental make in the
//! worktree's `O=` dirs. Each case gets a typed [`Verdict`] ([`verdict`]);
//! the run is written as `mutate.json` and a table ([`report`]).
//!
//! Nothing here knows a mechanism: what a mutant breaks and which checks
//! must see it are in its file.

pub mod file;
pub mod report;
pub mod verdict;

pub use file::{load_dir, select, Mutant, MutantError, BASE};
pub use verdict::{classify, Classified, Failure, Kernel};

use crate::case::Case;
use crate::events::{Event, Reporter};
use crate::host::cache::Cache;
use crate::host::toolchain::Toolchain;
use crate::model::mutation::{Role, Verdict};
use crate::model::results::{BuildStep, CaseResult, RunResults};
use crate::model::Status;
use crate::run::RunOptions;
use crate::series::{patch_from_file, Checker, Worktree};
use crate::stages::build::BuildMetadata;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What to run.
pub struct MutateRequest<'a> {
    /// A kernel git tree; the harness works in its own worktree of it.
    pub tree: &'a Path,
    /// The commit (or branch, tag) the mutants apply to.
    pub base: &'a str,
    pub mutants: &'a [&'a Mutant],
}

/// Why a mutate run could not start.
#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    /// A mutant's patch does not apply to the base: nothing was built.
    #[error(
        "{}: its patch {} does not apply to {base}{}",
        file.display(),
        patch.display(),
        failed(files)
    )]
    DoesNotApply {
        file: PathBuf,
        patch: PathBuf,
        base: String,
        /// The files git could not patch.
        files: Vec<String>,
        /// What git said.
        output: String,
    },
    /// A mutant names a case the run does not have.
    #[error("{}: no case named `{case}`", file.display())]
    NoSuchCase { file: PathBuf, case: String },
}

fn failed(files: &[String]) -> String {
    if files.is_empty() {
        String::new()
    } else {
        format!(" (failed: {})", files.join(", "))
    }
}

/// What a kernel's build cost: make's wall seconds when it was built
/// (from its metadata.json), and whether this run found it in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BuildCost {
    pub seconds: Option<f64>,
    pub reused: bool,
}

impl BuildCost {
    /// From the build step: its metadata's make time, else (a build that
    /// wrote none) the step's own time when it built.
    pub fn of(step: &BuildStep) -> BuildCost {
        let meta = step
            .metadata
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|d| serde_json::from_slice::<BuildMetadata>(&d).ok());
        BuildCost {
            seconds: meta
                .map(|m| m.wall_seconds)
                .or((!step.reused && step.status == Status::Pass).then_some(step.seconds)),
            reused: step.reused,
        }
    }
}

/// One case at the base: the unmutated kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseCase {
    pub case: String,
    pub status: Status,
    /// Its steps and checks that failed or were incomplete.
    pub failures: Vec<Failure>,
    pub build: BuildCost,
}

/// The unmutated kernels of every case a selected mutant runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasePoint {
    pub results_dir: PathBuf,
    pub cases: Vec<BaseCase>,
}

/// One case with one mutant applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseVerdict {
    pub case: String,
    pub role: Role,
    pub verdict: Verdict,
    /// What failed (or was incomplete) behind the verdict.
    pub failures: Vec<Failure>,
    /// Whose failures: the mutant's kernel, or the base's
    /// (`base_failed`, incomplete at the base).
    pub failures_of: Kernel,
    /// The mutant kernel's build.
    pub build: BuildCost,
}

/// One mutant: what it is and what it did to each of its cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutantResult {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub mechanism: String,
    pub patch: PathBuf,
    pub killed_by: Vec<String>,
    /// The commit the patch made on the base (the same on every machine).
    pub commit: String,
    pub results_dir: PathBuf,
    /// Its cases, then its controls.
    pub cases: Vec<CaseVerdict>,
}

/// The whole run, as written to mutate.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutateResults {
    pub tree: PathBuf,
    pub base: String,
    pub base_commit: String,
    /// The base's kernel version (its Makefile's), which picked each
    /// mutant's patch for its series.
    #[serde(default)]
    pub kernel_version: Option<String>,
    #[serde(rename = "base_kernels")]
    pub base_point: BasePoint,
    pub mutants: Vec<MutantResult>,
}

impl MutateResults {
    /// Every verdict, mutant by mutant.
    pub fn verdicts(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.mutants
            .iter()
            .flat_map(|m| m.cases.iter().map(|c| c.verdict))
    }

    /// 1 when a mutant survived, a control failed or a base failed; else
    /// 2 when something was incomplete; else 0.
    pub fn exit_code(&self) -> u8 {
        if self.verdicts().any(Verdict::fails_the_run) {
            1
        } else if self.verdicts().any(|v| v == Verdict::Incomplete) {
            2
        } else {
            0
        }
    }
}

/// The cases named, in order.
fn cases_named<'a>(all: &'a [Case], m: &Mutant, names: &[&String]) -> Result<Vec<&'a Case>> {
    names
        .iter()
        .map(|n| {
            all.iter().find(|c| &c.name == *n).ok_or_else(|| {
                MutateError::NoSuchCase {
                    file: m.file.clone(),
                    case: (*n).clone(),
                }
                .into()
            })
        })
        .collect()
}

/// Applies every mutant's patch to the base, one at a time: the commit
/// each makes, or the first that does not apply. The worktree is back at
/// the base after each.
fn apply_all(
    wt: &Worktree,
    mutants: &[&Mutant],
    base: &str,
    base_commit: &str,
    series: Option<(u32, u32)>,
) -> Result<Vec<String>> {
    let mut commits = Vec::new();
    for m in mutants {
        let chosen = m.patch_for(series).to_owned();
        let patch = patch_from_file(1, chosen.clone(), 1)?;
        let applied = wt.apply(&patch, 1)?;
        wt.checkout(base_commit)?;
        match applied {
            Ok(commit) => commits.push(commit),
            Err(f) => {
                return Err(MutateError::DoesNotApply {
                    file: m.file.clone(),
                    patch: chosen,
                    base: base.to_owned(),
                    files: f.files,
                    output: f.output,
                }
                .into())
            }
        }
    }
    Ok(commits)
}

/// One mutant's patch applied to the base, without building: what
/// `mutate --dry-run` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub name: String,
    pub patch: PathBuf,
    pub commit: String,
}

/// Applies every mutant's patch for the base's kernel series in the
/// harness's worktree of the tree, one at a time, and builds nothing: the
/// base's kernel version and each mutant's patch and commit, or the first
/// patch that does not apply.
pub fn check_patches(cache: &Cache, req: &MutateRequest) -> Result<(Option<String>, Vec<Applied>)> {
    let wt = Worktree::create(cache, req.tree, req.base)?;
    let base_commit = wt.head()?;
    let version = crate::stages::source::tree_version(&wt.path);
    let series = version.as_deref().and_then(crate::kseries::version_pair);
    let commits = apply_all(&wt, req.mutants, req.base, &base_commit, series)?;
    let applied = req
        .mutants
        .iter()
        .zip(commits)
        .map(|(m, commit)| Applied {
            name: m.name.clone(),
            patch: m.patch_for(series).to_owned(),
            commit,
        })
        .collect();
    Ok((version, applied))
}

/// The base point: every case, its status and what failed.
fn base_point(r: &RunResults, results_dir: PathBuf) -> BasePoint {
    BasePoint {
        results_dir,
        cases: r
            .cases
            .iter()
            .map(|c| BaseCase {
                case: c.name.clone(),
                status: c.status,
                failures: c
                    .tests()
                    .iter()
                    .filter(|t| t.status.is_bad())
                    .map(|t| Failure {
                        check: t.name.to_owned(),
                        status: t.status,
                        message: t.message.lines().next().unwrap_or("").trim().to_owned(),
                    })
                    .collect(),
                build: BuildCost::of(&c.build),
            })
            .collect(),
    }
}

/// The verdicts of one mutant's cases and controls.
fn verdicts(m: &Mutant, base: &RunResults, on_mutant: &RunResults) -> Vec<CaseVerdict> {
    let find = |r: &RunResults, name: &str| -> Option<CaseResult> {
        r.cases.iter().find(|c| c.name == name).cloned()
    };
    let roles = m
        .cases
        .iter()
        .map(|c| (c, Role::Case))
        .chain(m.controls.iter().map(|c| (c, Role::Control)));
    roles
        .map(|(name, role)| {
            let mutant = find(on_mutant, name);
            let c = classify(
                role,
                find(base, name).as_ref(),
                mutant.as_ref(),
                &m.killed_by,
            );
            CaseVerdict {
                case: name.clone(),
                role,
                verdict: c.verdict,
                failures: c.failures,
                failures_of: c.failures_of,
                build: mutant.map_or(
                    BuildCost {
                        seconds: None,
                        reused: false,
                    },
                    |r| BuildCost::of(&r.build),
                ),
            }
        })
        .collect()
}

/// Runs the mutants: every patch must apply first; then the base, then
/// each mutant, in the harness's worktree of `req.tree`. Each point's
/// results go under `opts.results_dir/<base|mutant>/`.
pub fn run(
    all_cases: &[Case],
    cache: &Cache,
    toolchain: &Toolchain,
    opts: &RunOptions,
    req: &MutateRequest,
    reporter: &dyn Reporter,
) -> Result<MutateResults> {
    let wt = Worktree::create(cache, req.tree, req.base)?;
    let base_commit = wt.head()?;
    // Each mutant's patch for the base's kernel series (its Makefile).
    let kernel_version = crate::stages::source::tree_version(&wt.path);
    let series = kernel_version
        .as_deref()
        .and_then(crate::kseries::version_pair);
    let commits = apply_all(&wt, req.mutants, req.base, &base_commit, series)?;
    // Every case a mutant runs, once each, in the order the mutants name them.
    let mut names: Vec<&String> = Vec::new();
    let mut base_cases: Vec<&Case> = Vec::new();
    for m in req.mutants {
        for n in m.all_cases() {
            if !names.contains(&n) {
                names.push(n);
                base_cases.extend(cases_named(all_cases, m, &[n])?);
            }
        }
    }
    // The LTO-none kernels hygiene.build compares with, where no mutant
    // names one: built at the base and at each point, never judged as the
    // mutant's.
    let extra = crate::run::hygiene::baselines(all_cases, &base_cases);
    base_cases.extend(extra.iter().copied());
    let mut checker = Checker::new(cache, toolchain, opts, reporter);
    checker.prepare(&wt, &base_cases)?;
    let title = if req.base == base_commit {
        format!("{}, unmutated", short(&base_commit))
    } else {
        format!("{} ({}), unmutated", req.base, short(&base_commit))
    };
    reporter.report(&Event::MutantPoint {
        label: BASE,
        title: &title,
    });
    let (base_run, base_dir) = checker.run_at(&wt, &base_commit, BASE, &base_cases)?;
    let mut mutants = Vec::new();
    for (m, commit) in req.mutants.iter().zip(commits) {
        reporter.report(&Event::MutantPoint {
            label: &m.name,
            title: &m.description,
        });
        let mut cases = cases_named(all_cases, m, &m.all_cases().collect::<Vec<_>>())?;
        let extra = crate::run::hygiene::baselines(all_cases, &cases);
        cases.extend(extra);
        let (r, results_dir) = checker.run_at(&wt, &commit, &m.name, &cases)?;
        let cases = verdicts(m, &base_run, &r);
        for c in &cases {
            let detail: Vec<String> = c.failures.iter().map(Failure::to_string).collect();
            reporter.report(&Event::MutantVerdict {
                mutant: &m.name,
                case: &c.case,
                verdict: c.verdict,
                detail: &detail.join("; "),
            });
        }
        mutants.push(MutantResult {
            name: m.name.clone(),
            file: m.file.clone(),
            description: m.description.clone(),
            mechanism: m.mechanism.clone(),
            patch: m.patch_for(series).to_owned(),
            killed_by: m.killed_by.clone(),
            commit,
            results_dir,
            cases,
        });
    }
    // Left at the base: the next run's reset has the least to rewrite.
    wt.checkout(&base_commit)?;
    Ok(MutateResults {
        tree: req.tree.to_owned(),
        base: req.base.to_owned(),
        base_commit: base_commit.clone(),
        kernel_version,
        base_point: base_point(&base_run, base_dir),
        mutants,
    })
}

/// The first 12 characters of a commit.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Sample results for the tests of the table, the exit code and mutate.json.
#[cfg(test)]
pub(crate) mod testdata {
    use super::*;

    fn cost(seconds: Option<f64>, reused: bool) -> BuildCost {
        BuildCost { seconds, reused }
    }

    fn failure(check: &str, status: Status, message: &str) -> Failure {
        Failure {
            check: check.into(),
            status,
            message: message.into(),
        }
    }

    pub fn sample() -> MutateResults {
        let row = |case: &str, role, verdict, failures, failures_of, build| CaseVerdict {
            case: case.into(),
            role,
            verdict,
            failures,
            failures_of,
            build,
        };
        let mutant = |name: &str, cases| MutantResult {
            name: name.into(),
            file: format!("/c/mutants/{name}.yaml").into(),
            description: "d".into(),
            mechanism: "initcalls".into(),
            patch: format!("/c/mutants/{name}.patch").into(),
            killed_by: vec!["initcalls.static".into()],
            commit: "c1".into(),
            results_dir: format!("/r/{name}").into(),
            cases,
        };
        MutateResults {
            tree: "/t".into(),
            base: "master".into(),
            base_commit: "c0".into(),
            kernel_version: Some("6.12.118".into()),
            base_point: BasePoint {
                results_dir: "/r/base".into(),
                cases: vec![
                    BaseCase {
                        case: "x86_64-lto-full-cfi".into(),
                        status: Status::Pass,
                        failures: vec![],
                        build: cost(Some(391.24), true),
                    },
                    BaseCase {
                        case: "x86_64-lto-none".into(),
                        status: Status::Pass,
                        failures: vec![],
                        build: cost(Some(301.0), false),
                    },
                ],
            },
            mutants: vec![
                mutant(
                    "initcall-order-reversed",
                    vec![
                        row(
                            "x86_64-lto-full-cfi",
                            Role::Case,
                            Verdict::Killed,
                            vec![
                                failure(
                                    "initcalls.static",
                                    Status::Fail,
                                    "level 6: a out of place",
                                ),
                                failure("initcalls.boot", Status::Fail, "level 6: a | b"),
                            ],
                            Kernel::Mutant,
                            cost(Some(95.4), false),
                        ),
                        row(
                            "x86_64-lto-none",
                            Role::Control,
                            Verdict::ControlOk,
                            vec![],
                            Kernel::Mutant,
                            cost(None, false),
                        ),
                    ],
                ),
                mutant(
                    "other",
                    vec![row(
                        "x86_64-lto-full-cfi",
                        Role::Case,
                        Verdict::BaseFailed,
                        vec![failure("boot", Status::Fail, "init never ran")],
                        Kernel::Base,
                        cost(Some(391.24), true),
                    )],
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::sample;
    use super::*;

    /// `sample` with every verdict replaced by `verdicts`, in order.
    fn with_verdicts(verdicts: &[Verdict]) -> MutateResults {
        let mut r = sample();
        let mut it = verdicts.iter();
        for m in &mut r.mutants {
            for c in &mut m.cases {
                c.verdict = *it.next().unwrap_or(&Verdict::Killed);
            }
        }
        r
    }

    #[test]
    fn exit_codes() {
        use Verdict::*;
        assert_eq!(with_verdicts(&[Killed, ControlOk, Killed]).exit_code(), 0);
        assert_eq!(
            with_verdicts(&[KilledElsewhere, ControlOk, Killed]).exit_code(),
            0
        );
        for bad in [Survived, ControlFailed, BaseFailed] {
            assert_eq!(
                with_verdicts(&[Killed, ControlOk, bad]).exit_code(),
                1,
                "{bad}"
            );
            // Worse than incomplete.
            assert_eq!(
                with_verdicts(&[Incomplete, bad, Killed]).exit_code(),
                1,
                "{bad}"
            );
        }
        assert_eq!(with_verdicts(&[Killed, Incomplete, Killed]).exit_code(), 2);
        assert_eq!(sample().exit_code(), 1, "the sample has a base that failed");
    }

    #[test]
    fn mutate_json_round_trips_with_snake_case_verdicts() {
        let r = sample();
        let json = serde_json::to_value(&r).unwrap();
        let row = &json["mutants"][0]["cases"][0];
        assert_eq!(row["verdict"], "killed");
        assert_eq!(row["role"], "case");
        assert_eq!(row["failures"][0]["check"], "initcalls.static");
        assert_eq!(row["failures"][0]["status"], "fail");
        assert_eq!(row["failures_of"], "mutant");
        assert_eq!(json["mutants"][0]["cases"][1]["verdict"], "control_ok");
        assert_eq!(json["mutants"][1]["cases"][0]["verdict"], "base_failed");
        assert_eq!(json["base_kernels"]["cases"][0]["build"]["reused"], true);
        let back: MutateResults = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_patch_that_does_not_apply_names_the_file_and_what_failed() {
        let e = MutateError::DoesNotApply {
            file: "cases/mutants/m.yaml".into(),
            patch: "cases/mutants/m.patch".into(),
            base: "master".into(),
            files: vec!["scripts/generate_initcall_order.pl".into()],
            output: "error: patch failed".into(),
        };
        assert_eq!(
            e.to_string(),
            "cases/mutants/m.yaml: its patch cases/mutants/m.patch does not apply to master \
             (failed: scripts/generate_initcall_order.pl)"
        );
    }

    use crate::host::testgit::git as sh;

    #[test]
    fn every_patch_must_apply_before_anything_is_built() {
        crate::skip_unless!(
            "every_patch_must_apply_before_anything_is_built",
            crate::host::needs::Need::Tool {
                tool: "git",
                package: "git"
            }
        );
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("order.pl"), "print a;\nprint b;\n").unwrap();
        sh(&repo, &["add", "order.pl"]);
        sh(&repo, &["commit", "-q", "-m", "base"]);
        let patch = |name: &str, from: &str| {
            let p = tmp.path().join(format!("{name}.patch"));
            std::fs::write(
                &p,
                format!(
                    "From: M <m@example.org>\nDate: Thu, 1 Jan 2026 00:00:00 +0000\n\
                     Subject: [PATCH] {name}\n\n---\n\
                     diff --git a/order.pl b/order.pl\n--- a/order.pl\n+++ b/order.pl\n\
                     @@ -1,2 +1,2 @@\n-{from}\n+print b;\n print b;\n"
                ),
            )
            .unwrap();
            Mutant {
                name: name.into(),
                file: tmp.path().join(format!("{name}.yaml")),
                description: "d".into(),
                mechanism: "m".into(),
                patch: p,
                patches: vec![],
                cases: vec!["k".into()],
                controls: vec![],
                killed_by: vec![],
                tags: vec![],
            }
        };
        let good = patch("good", "print a;");
        let bad = patch("bad", "print z;");
        let cache = Cache::open(Some(&tmp.path().join("cache"))).unwrap();
        let wt = Worktree::create(&cache, &repo, "main").unwrap();
        let base = wt.head().unwrap();
        let commits = apply_all(&wt, &[&good, &good], "main", &base, None).unwrap();
        assert_eq!(commits[0], commits[1], "the same commit every time");
        assert_eq!(wt.head().unwrap(), base, "back at the base");
        let e = apply_all(&wt, &[&good, &bad], "main", &base, None).unwrap_err();
        let Some(MutateError::DoesNotApply { file, files, .. }) = e.downcast_ref() else {
            panic!("not DoesNotApply: {e:#}")
        };
        assert_eq!(file, &bad.file);
        assert_eq!(files, &["order.pl"]);
        assert!(
            e.to_string().starts_with(&format!(
                "{}: its patch {} does not apply to main (failed: order.pl)",
                bad.file.display(),
                bad.patch.display()
            )),
            "{e}"
        );
        assert_eq!(wt.head().unwrap(), base);
        assert_eq!(sh(&wt.path, &["status", "--porcelain"]), "");
    }

    #[test]
    fn build_cost_from_metadata_or_the_step() {
        let mut step = crate::model::testdata::case("k", Status::Pass, Status::Pass, vec![]).build;
        assert_eq!(
            BuildCost::of(&step),
            BuildCost {
                seconds: Some(394.25),
                reused: false
            }
        );
        step.reused = true;
        assert_eq!(
            BuildCost::of(&step).seconds,
            None,
            "a cached build without metadata"
        );
    }
}
