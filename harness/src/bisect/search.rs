//! The search: from the verdicts so far, the commit to test next, or the
//! answer. Git does the graph work (`git rev-list --bisect-all`, which
//! handles merges as `git bisect` does); this file only picks from what
//! git ranks, so the whole state of a bisection is its list of verdicts
//! and a resumed one recomputes where it was.

pub use crate::model::bisection::Verdict;
use anyhow::Result;

/// The commit graph the search walks.
pub trait History {
    /// Every commit reachable from `bad` and from none of `goods` (`bad`
    /// itself included), the best bisection point first.
    fn ranked(&self, bad: &str, goods: &[String]) -> Result<Vec<String>>;
}

impl History for crate::series::Worktree {
    fn ranked(&self, bad: &str, goods: &[String]) -> Result<Vec<String>> {
        let mut args = vec!["rev-list".to_owned(), "--bisect-all".into(), bad.into()];
        args.extend(goods.iter().map(|g| format!("^{g}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(parse_bisect_all(&self.query(&args)?))
    }
}

/// `git rev-list --bisect-all` lines (`<hash> (dist=N)`) → the hashes,
/// in git's order (best first).
pub fn parse_bisect_all(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|h| h.len() >= 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

/// Where the search stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Build and check this commit next; `left` commits could still be the
    /// first bad one.
    Test { commit: String, left: usize },
    /// The first bad commit.
    Found(String),
    /// Only skipped commits are left between the last good and the first
    /// bad: the break is one of these (the bad one last).
    Ambiguous(Vec<String>),
}

/// The next step from the verdicts so far (`(commit, verdict)` in the
/// order they were given; the starting good commits are among them).
/// `bad` is the newest bad verdict's commit: each later bad one is an
/// ancestor of the one before, as in `git bisect`.
pub fn next(history: &dyn History, verdicts: &[(String, Verdict)]) -> Result<Option<Next>> {
    let Some(bad) = verdicts
        .iter()
        .rev()
        .find(|(_, v)| *v == Verdict::Bad)
        .map(|(c, _)| c.clone())
    else {
        return Ok(None);
    };
    let goods: Vec<String> = verdicts
        .iter()
        .filter(|(_, v)| *v == Verdict::Good)
        .map(|(c, _)| c.clone())
        .collect();
    let skipped = |c: &String| verdicts.iter().any(|(s, v)| s == c && *v == Verdict::Skip);
    let ranked = history.ranked(&bad, &goods)?;
    let left = ranked.len();
    if let Some(c) = ranked.iter().find(|c| **c != bad && !skipped(c)) {
        return Ok(Some(Next::Test {
            commit: c.clone(),
            left,
        }));
    }
    let mut could_be: Vec<String> = ranked.into_iter().filter(|c| *c != bad).collect();
    if could_be.is_empty() {
        return Ok(Some(Next::Found(bad)));
    }
    could_be.push(bad);
    Ok(Some(Next::Ambiguous(could_be)))
}

/// How many builds a range of `n` candidate commits needs at most, with
/// the bad end's own: ⌈log2 n⌉ + 1.
pub fn expected_builds(n: usize) -> usize {
    let mut steps = 0;
    while (1usize << steps) < n.max(1) {
        steps += 1;
    }
    steps + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight line of commits `c00`..: `ranked` lists those after the
    /// newest good up to `bad`, middle first, as git does on a line.
    struct Line(Vec<String>);

    impl Line {
        fn new(n: usize) -> Line {
            Line((0..n).map(|i| format!("c{i:02}")).collect())
        }
        fn at(&self, c: &str) -> usize {
            self.0.iter().position(|x| x == c).unwrap()
        }
    }

    impl History for Line {
        fn ranked(&self, bad: &str, goods: &[String]) -> Result<Vec<String>> {
            let lo = goods.iter().map(|g| self.at(g) + 1).max().unwrap_or(0);
            let hi = self.at(bad);
            let mut v: Vec<(usize, String)> = (lo..=hi)
                .map(|i| {
                    let before = i - lo + 1;
                    let after = hi - i;
                    (before.min(after), self.0[i].clone())
                })
                .collect();
            v.sort_by_key(|x| std::cmp::Reverse(x.0));
            Ok(v.into_iter().map(|(_, c)| c).collect())
        }
    }

    /// Runs a search with `oracle` deciding each commit; the tested
    /// commits and the result.
    fn search(line: &Line, oracle: impl Fn(usize) -> Verdict) -> (Vec<String>, Next) {
        let mut verdicts = vec![
            (line.0[0].clone(), Verdict::Good),
            (line.0.last().unwrap().clone(), Verdict::Bad),
        ];
        let mut tested = vec![];
        loop {
            match next(line, &verdicts).unwrap().unwrap() {
                Next::Test { commit, .. } => {
                    let v = oracle(line.at(&commit));
                    tested.push(commit.clone());
                    verdicts.push((commit, v));
                }
                done => return (tested, done),
            }
        }
    }

    #[test]
    fn a_break_among_sixteen_commits_takes_four_tests() {
        // c00 good, c16 bad: 16 candidates (c01..c16).
        let line = Line::new(17);
        for first_bad in 1..=16 {
            let (tested, done) = search(&line, |i| {
                if i >= first_bad {
                    Verdict::Bad
                } else {
                    Verdict::Good
                }
            });
            assert_eq!(done, Next::Found(format!("c{first_bad:02}")));
            assert!(tested.len() <= 4, "{first_bad}: tested {tested:?}");
        }
        assert_eq!(expected_builds(16), 5);
        assert_eq!(expected_builds(1), 1);
        assert_eq!(expected_builds(17), 6);
    }

    #[test]
    fn a_skipped_commit_is_neither_good_nor_bad() {
        let line = Line::new(17);
        // c08 cannot be judged; the break is later, at c12.
        let (tested, done) = search(&line, |i| match i {
            8 => Verdict::Skip,
            i if i >= 12 => Verdict::Bad,
            _ => Verdict::Good,
        });
        assert_eq!(done, Next::Found("c12".into()), "{tested:?}");
        // The break right after the skipped commit, or at it: the answer
        // says it may be either, never that c09 is the culprit.
        for first_bad in [8, 9] {
            let (tested, done) = search(&line, |i| match i {
                8 => Verdict::Skip,
                i if i >= first_bad => Verdict::Bad,
                _ => Verdict::Good,
            });
            assert_eq!(done, Next::Ambiguous(vec!["c08".into(), "c09".into()]));
            assert!(tested.contains(&"c08".to_string()));
        }
    }

    #[test]
    fn no_bad_verdict_means_nothing_to_search() {
        let line = Line::new(3);
        assert_eq!(next(&line, &[("c00".into(), Verdict::Good)]).unwrap(), None);
    }

    #[test]
    fn bisect_all_lines_give_hashes() {
        let h = "a".repeat(40);
        let text = format!("{h} (dist=3)\nnot a hash\n{} (dist=0)\n", "b".repeat(40));
        assert_eq!(parse_bisect_all(&text), vec![h, "b".repeat(40)]);
    }
}
