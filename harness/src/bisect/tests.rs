//! The driver on a real git history (a repository of 17 commits, with a
//! merge in it) and a tester that decides each commit from a table: how
//! many builds a break takes to find, that an incomplete point is retried
//! and then skipped, that a wrong good end is said, and that a stopped
//! bisection resumes without building again what it had built.

use super::*;
use crate::events::Silent;
use crate::model::testdata;
use crate::model::Status;
use std::cell::RefCell;
use std::collections::HashMap;

use crate::host::testgit::git as sh;

/// A repository: `c00` .. `c16` on main, where `c06` is a merge of a side
/// branch with two commits (`s1`, `s2`) forked at `c03`. The hashes by
/// subject.
fn repo(dir: &Path) -> HashMap<String, String> {
    std::fs::create_dir_all(dir).unwrap();
    sh(dir, &["init", "-q", "-b", "main"]);
    let commit = |name: &str| {
        std::fs::write(dir.join(format!("{name}.txt")), name).unwrap();
        sh(dir, &["add", "."]);
        sh(dir, &["commit", "-q", "-m", name]);
    };
    for i in 0..=5 {
        commit(&format!("c{i:02}"));
        if i == 3 {
            sh(dir, &["branch", "side"]);
        }
    }
    sh(dir, &["checkout", "-q", "side"]);
    commit("s1");
    commit("s2");
    sh(dir, &["checkout", "-q", "main"]);
    sh(dir, &["merge", "-q", "--no-ff", "-m", "c06", "side"]);
    for i in 7..=16 {
        commit(&format!("c{i:02}"));
    }
    let log = sh(dir, &["log", "--all", "--format=%H %s"]);
    log.lines()
        .map(|l| {
            let (h, s) = l.split_once(' ').unwrap();
            (s.to_owned(), h.to_owned())
        })
        .collect()
}

/// Decides each commit by its subject from `table` (default: good), and
/// counts the tests; fails (as an interrupted run would) at the subject
/// named `stop`.
struct Table<'a> {
    wt: &'a Worktree,
    table: HashMap<&'static str, Vec<Status>>,
    tested: RefCell<Vec<String>>,
    stop: Option<&'static str>,
}

impl Tester for Table<'_> {
    fn test(&mut self, commit: &str, label: &str) -> Result<(RunResults, PathBuf)> {
        let s = self.wt.subject(commit);
        if self.stop == Some(s.as_str()) {
            bail!("interrupted at {s}");
        }
        let n = self.tested.borrow().iter().filter(|t| **t == s).count();
        self.tested.borrow_mut().push(s.clone());
        let statuses = self.table.get(s.as_str()).cloned().unwrap_or_default();
        let status = statuses
            .get(n)
            .or(statuses.last())
            .copied()
            .unwrap_or(Status::Pass);
        let check = testdata::check("initcalls.static", status, "m");
        let r = testdata::run(vec![testdata::case(
            "k",
            Status::Pass,
            Status::Pass,
            vec![check],
        )]);
        Ok((r, PathBuf::from(label)))
    }
    fn subject(&self, commit: &str) -> String {
        self.wt.subject(commit)
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    wt: Worktree,
    hashes: HashMap<String, String>,
    state: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let hashes = repo(&dir);
    let cache = Cache::open(Some(&tmp.path().join("cache"))).unwrap();
    let wt = Worktree::create(&cache, &dir, "main").unwrap();
    let state = tmp.path().join("results/bisect.json");
    Fixture {
        _tmp: tmp,
        wt,
        hashes,
        state,
    }
}

impl Fixture {
    fn request(&self) -> Request {
        Request {
            tree: PathBuf::from("/t"),
            good: vec![self.hashes["c00"].clone()],
            bad: self.hashes["c16"].clone(),
            cases: vec!["k".into()],
            target: Target::parse(Some("initcalls.static")),
            toolchain: "clang-19".into(),
        }
    }

    /// Bisects with `table`; the results and the subjects tested.
    fn bisect(
        &self,
        table: &[(&'static str, &[Status])],
        stop: Option<&'static str>,
    ) -> (Result<BisectResults>, Vec<String>) {
        let mut results = match state::load_or_start(&self.state, self.request(), false) {
            Ok(r) => r,
            Err(e) => return (Err(e), vec![]),
        };
        let tester = Table {
            wt: &self.wt,
            table: table.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
            tested: RefCell::new(vec![]),
            stop,
        };
        let mut driver = Driver {
            history: &self.wt,
            tester,
            retries: 1,
            reporter: &Silent,
            path: &self.state,
        };
        let r = driver.run(&mut results).map(|()| results);
        let tested = driver.tester.tested.into_inner();
        (r, tested)
    }
}

const FAIL: &[Status] = &[Status::Fail];

/// Every commit from `first` on fails (main's order; the side branch's
/// commits fail when `side` is set).
fn broken_from(first: usize, side: bool) -> Vec<(&'static str, &'static [Status])> {
    const NAMES: [&str; 17] = [
        "c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11", "c12",
        "c13", "c14", "c15", "c16",
    ];
    let mut t: Vec<(&'static str, &'static [Status])> =
        NAMES[first..].iter().map(|n| (*n, FAIL)).collect();
    if side {
        t.push(("s1", FAIL));
        t.push(("s2", FAIL));
    }
    t
}

fn found(r: &BisectResults) -> String {
    match &r.outcome {
        Some(Outcome::Found { subject, .. }) => subject.clone(),
        o => panic!("not found: {o:?}"),
    }
}

#[test]
fn finds_the_break_in_log2_plus_one_builds_across_a_merge() {
    let f = fixture();
    // 18 commits could be it (c01..c16 and s1, s2): ⌈log2 18⌉ + 1 = 6.
    for first in [1, 5, 9, 16] {
        let _ = std::fs::remove_file(&f.state);
        // The side branch forks at c03: a break at or before it is there too.
        let (r, tested) = f.bisect(&broken_from(first, first <= 3), None);
        let r = r.unwrap();
        assert_eq!(found(&r), format!("c{first:02}"), "tested {tested:?}");
        assert_eq!(r.range, 18);
        assert_eq!(r.expected_builds, 6);
        // One more when every commit built was bad: the good end, which
        // the answer then rests on.
        let good_built = usize::from(tested.iter().any(|t| t == "c00"));
        assert_eq!(good_built == 1, first == 1, "{first}: {tested:?}");
        assert!(tested.len() <= 6 + good_built, "{first}: {tested:?}");
        assert_eq!(tested[0], "c16", "the bad end first");
        assert_eq!(r.exit_code(), 0);
    }
    // The break on the side branch: the merge's second parent's commit.
    let _ = std::fs::remove_file(&f.state);
    let mut t = broken_from(6, true);
    t.retain(|(n, _)| *n != "s1");
    let (r, tested) = f.bisect(&t, None);
    assert_eq!(found(&r.unwrap()), "s2", "{tested:?}");
}

#[test]
fn an_incomplete_point_is_retried_then_skipped_never_judged() {
    let f = fixture();
    let mut t = broken_from(9, false);
    // c08 is incomplete once, then passes: retried, and good.
    t.push(("c08", &[Status::Incomplete, Status::Pass]));
    let (r, tested) = f.bisect(&t, None);
    let r = r.unwrap();
    assert_eq!(found(&r), "c09");
    let p = r.points.iter().find(|p| p.subject == "c08");
    let p = p.unwrap_or_else(|| panic!("c08 is next to the break, so it is tested: {tested:?}"));
    assert_eq!((p.verdict, p.attempts), (Verdict::Good, 2), "{tested:?}");
    // Every commit from c08 to c10 incomplete: skipped, and the answer
    // says the break is one of them (or c11), not that it is c11.
    let _ = std::fs::remove_file(&f.state);
    let mut t = broken_from(11, false);
    for n in ["c08", "c09", "c10"] {
        t.push((n, &[Status::Incomplete]));
    }
    let (r, tested) = f.bisect(&t, None);
    let r = r.unwrap();
    let Some(Outcome::Ambiguous { commits }) = &r.outcome else {
        panic!("{:?} after {tested:?}", r.outcome)
    };
    let mut subjects: Vec<&str> = commits.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(subjects.last(), Some(&"c11"), "the bad one last");
    subjects.sort();
    assert_eq!(subjects, ["c08", "c09", "c10", "c11"], "{tested:?}");
    assert!(r
        .points
        .iter()
        .filter(|p| p.verdict == Verdict::Skip)
        .all(|p| p.attempts == 2));
    assert_eq!(r.exit_code(), 2);
}

#[test]
fn ends_that_are_not_what_they_are_said_to_be() {
    let f = fixture();
    // Nothing fails: the bad end passes, one build.
    let (r, tested) = f.bisect(&[], None);
    let r = r.unwrap();
    assert_eq!(
        r.outcome,
        Some(Outcome::BadPasses {
            commit: f.hashes["c16"].clone()
        })
    );
    assert_eq!(tested, ["c16"]);
    // Everything fails: every tested commit is bad, so the answer rests on
    // the good end, which is built and fails too.
    let _ = std::fs::remove_file(&f.state);
    let mut t = broken_from(0, true);
    t.push(("c00", FAIL));
    let (r, tested) = f.bisect(&t, None);
    let r = r.unwrap();
    assert_eq!(
        r.outcome,
        Some(Outcome::GoodFails {
            commit: f.hashes["c00"].clone()
        })
    );
    assert_eq!(tested.last().map(String::as_str), Some("c00"));
    assert_eq!(r.exit_code(), 1);
    // The break at the first commit: the good end is built to be sure.
    let _ = std::fs::remove_file(&f.state);
    let (r, tested) = f.bisect(&broken_from(1, true), None);
    assert_eq!(found(&r.unwrap()), "c01");
    assert!(tested.contains(&"c00".to_string()), "{tested:?}");
}

#[test]
fn a_stopped_bisection_resumes_where_it_stopped() {
    let f = fixture();
    let t = broken_from(9, false);
    let (whole, all) = f.bisect(&t, None);
    let whole = whole.unwrap();
    std::fs::remove_file(&f.state).unwrap();
    // Stop at the third commit the search picks.
    let third: &'static str = Box::leak(all[2].clone().into_boxed_str());
    let (r, before) = f.bisect(&t, Some(third));
    assert!(r.is_err());
    assert_eq!(before.len(), 2);
    // Again: the two saved points are not built again.
    let (r, after) = f.bisect(&t, None);
    let r = r.unwrap();
    assert_eq!(found(&r), "c09");
    assert_eq!(r.resumed, 2);
    assert_eq!(after, all[2..].to_vec());
    assert_eq!(r.points.len(), whole.points.len());
    // Another request in the same place is refused, naming the file.
    let other = Request {
        bad: f.hashes["c15"].clone(),
        ..f.request()
    };
    let e = state::load_or_start(&f.state, other.clone(), false).unwrap_err();
    assert!(
        e.to_string()
            .contains("bisect.json holds a bisection of something else"),
        "{e}"
    );
    assert_eq!(
        state::load_or_start(&f.state, other, true)
            .unwrap()
            .points
            .len(),
        0
    );
}
