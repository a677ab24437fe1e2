//! Helpers the trials share: the built binary run as a user would, results read back, processes found, git trees of the default source.

use libtest_mimic::Failed;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_lto-harness");

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lto-harness-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) fn harness(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(repo()).stdin(Stdio::null());
    // A test binary that is interrupted or killed takes its harnesses with
    // it: each gets the SIGINT a user's Ctrl-C would send, and stops its
    // make and QEMU groups as it does then.
    // SAFETY: prctl is async-signal-safe and touches no memory.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // A toolchain matrix in the user's environment is not the trials'.
    c.env_remove("LTO_HARNESS_LLVM");
    // Test runs must not land in the user's performance history.
    c.env(
        "LTO_HARNESS_HISTORY",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("lto-harness-tests/history.jsonl"),
    );
    c
}

pub(crate) fn run(mut cmd: Command) -> Result<Output, Failed> {
    let out = cmd
        .output()
        .map_err(|e| format!("running lto-harness: {e}"))?;
    Ok(out)
}

pub(crate) fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

pub(crate) fn results(dir: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(dir.join("results.json"))
        .map_err(|e| format!("no results.json in {}: {e}", dir.display()))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

pub(crate) fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(msg().into())
    }
}

/// QEMU processes whose command line mentions `needle` (our results dir).
pub(crate) fn qemu_processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with("qemu-system") && cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// The 7.x tree beside the repository (`shared/kernels/linux-7*.tar.xz`
/// in the checkout's parent or a folder above it, see its README for
/// provenance; else the workplace's `/work/shared/kernels`, for a clone
/// made elsewhere), or `$LTO_HARNESS_LINUX7` when set.
pub(crate) fn linux7_tarball() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LTO_HARNESS_LINUX7") {
        return Some(PathBuf::from(p));
    }
    let repo = repo().canonicalize().unwrap_or_else(|_| repo());
    let dirs = repo
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/kernels"))
        .chain([PathBuf::from("/work/shared/kernels")]);
    dirs.into_iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("linux-7.") && n.ends_with(".tar.xz"))
            })
            .collect();
        found.sort();
        found.pop()
    })
}

/// One check's entry in a case's results.
pub(crate) fn check<'a>(case: &'a Value, name: &str) -> Result<&'a Value, Failed> {
    case["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .ok_or_else(|| format!("no {name} check in {case}").into())
}

/// The artefacts dir of a shipped case's (cached) kernel, via a warm run.
pub(crate) fn artifacts(dir: &Path, case: &str) -> Result<PathBuf, Failed> {
    let res = dir.join(format!("warm-{case}"));
    let out = run(harness(&["run", case, "--results", res.to_str().unwrap()]))?;
    let r = results(&res).map_err(|e| {
        format!(
            "{e}
{}",
            describe(&out)
        )
    })?;
    let a = r["cases"][0]["build"]["artifacts"]
        .as_str()
        .ok_or_else(|| {
            format!(
                "no artifacts for {case}
{}",
                describe(&out)
            )
        })?;
    Ok(PathBuf::from(a))
}

/// A copy of one shipped case and its golden in a scratch cases dir.
pub(crate) fn scratch_cases(dir: &Path, case: &str, golden: &str) -> PathBuf {
    let cases = dir.join("cases");
    std::fs::create_dir_all(cases.join("golden")).unwrap();
    std::fs::copy(
        repo().join(format!("cases/{case}.yaml")),
        cases.join(format!("{case}.yaml")),
    )
    .unwrap();
    std::fs::write(cases.join(format!("golden/{golden}.initcalls")), "").unwrap();
    // The case's fragments, at the same place relative to it.
    std::fs::create_dir_all(cases.join("fragments")).unwrap();
    for f in std::fs::read_dir(repo().join("cases/fragments"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(f.path(), cases.join("fragments").join(f.file_name())).unwrap();
    }
    cases
}

/// Swaps the first level-6 initcall of `golden` with the one three lines
/// on (in one level: the minimal diff moves both lines, where an adjacent
/// swap would show one of them as context); returns the two lines.
pub(crate) fn swap_level_6(golden: &Path) -> Result<(String, String), Failed> {
    let text = std::fs::read_to_string(golden).map_err(|e| e.to_string())?;
    let mut lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("6 "))
        .ok_or("no level-6 initcall in the golden")?;
    let swapped = (lines[i].to_string(), lines[i + 3].to_string());
    lines.swap(i, i + 3);
    std::fs::write(golden, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
    Ok(swapped)
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, Failed> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test Dev",
            "-c",
            "user.email=dev@example.org",
        ])
        .args(args)
        // Fixed dates: the same tree and patches give the same commits in
        // every clone, so a fresh checkout finds their kernels in the cache.
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("git: {e}"))?;
    ensure(out.status.success(), || {
        format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The series and mutate trials share one git tree (and the harness's
/// worktree of it), and the series ones make branches in it: one at a time.
pub(crate) static GIT_TREE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A real kernel git tree: Debian's linux-source committed once into the
/// harness's cache by the library (about a minute), the same commit on
/// every machine, and the tree `lto-harness mutate` uses by default, so the
/// series and mutate trials share its kernels. `master` is that one
/// commit. Callers hold [`GIT_TREE`].
pub(crate) fn kernel_git_tree() -> Result<PathBuf, Failed> {
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| format!("{e:#}"))?;
    let tree =
        lto_harness::stages::source::default_git_tree(&cache).map_err(|e| format!("{e:#}"))?;
    ensure(tree.branch == "master", || format!("{tree:?}"))?;
    Ok(tree.path)
}

/// Commits `edits` (file, from, to) on a throwaway branch off master and
/// returns the patch files `git format-patch` makes of them; the branch
/// is deleted and master checked out again.
pub(crate) fn make_series(
    tree: &Path,
    out: &Path,
    patches: &[(&str, &str, &str, &str)],
) -> Result<Vec<PathBuf>, Failed> {
    // -f: a run interrupted halfway may have left edits behind.
    git(
        tree,
        &[
            "checkout",
            "-q",
            "-f",
            "-B",
            "lto-harness-test-series",
            "master",
        ],
    )?;
    for (subject, file, from, to) in patches {
        let path = tree.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        ensure(text.contains(from), || format!("{file} lacks `{from}`"))?;
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        git(tree, &["add", "-f", file])?;
        git(tree, &["commit", "-q", "-m", subject])?;
    }
    let _ = std::fs::remove_dir_all(out);
    let listed = git(
        tree,
        &[
            "format-patch",
            "-o",
            out.to_str().unwrap(),
            "master..lto-harness-test-series",
        ],
    )?;
    git(tree, &["checkout", "-q", "master"])?;
    git(tree, &["branch", "-q", "-D", "lto-harness-test-series"])?;
    Ok(listed.lines().map(PathBuf::from).collect())
}

pub(crate) const DOC_PATCH: (&str, &str, &str, &str) = (
    "README: say how to validate LTO kernels",
    "README",
    "Linux kernel\n",
    "Linux kernel\n\nBuilt with Clang LTO? Validate it with lto-harness.\n",
);

pub(crate) const LATE_PATCH: (&str, &str, &str, &str) = (
    "x86/setup: register the kernel offset dumper at late_initcall",
    "arch/x86/kernel/setup.c",
    "__initcall(register_kernel_offset_dumper);",
    "late_initcall(register_kernel_offset_dumper);",
);

pub(crate) const BACK_PATCH: (&str, &str, &str, &str) = (
    "x86/setup: back to device_initcall for the offset dumper",
    "arch/x86/kernel/setup.c",
    "late_initcall(register_kernel_offset_dumper);",
    "__initcall(register_kernel_offset_dumper);",
);

/// The user's tree is as it was: master checked out, clean; besides it
/// at most the harness's own worktree, detached, in the cache (kept so the
/// next run's builds are incremental).
pub(crate) fn tree_untouched(tree: &Path, head: &str) -> Result<(), Failed> {
    ensure(git(tree, &["rev-parse", "HEAD"])? == head, || {
        "HEAD moved".into()
    })?;
    ensure(
        git(tree, &["status", "--porcelain", "--ignored=no"])?.is_empty(),
        || "the user's checkout was modified".into(),
    )?;
    let wts = git(tree, &["worktree", "list", "--porcelain"])?;
    // The fault trial's own worktree (its edited copy of the tree) is the
    // suite's, not the harness's: it may exist while this trial runs.
    let others: Vec<&str> = wts
        .split("\n\n")
        .filter(|w| !w.trim().is_empty())
        .filter(|w| !w.starts_with(&format!("worktree {}\n", tree.display())))
        .filter(|w| !w.contains(FAULT_WORKTREE))
        .collect();
    ensure(
        others.len() <= 1
            && others
                .iter()
                .all(|w| w.contains("/series/") && w.contains("\ndetached")),
        || format!("worktrees other than the harness's:\n{wts}"),
    )?;
    Ok(())
}

/// Processes (other than this test) whose command line mentions `needle`,
/// with their names: what a fault must not leave behind.
pub(crate) fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Zombies have no command line; `stat` says who they were.
        if cmdline.contains(needle) {
            found.push(format!(
                "{pid}: {}",
                cmdline.chars().take(160).collect::<String>()
            ));
        }
    }
    found
}

/// Waits up to `limit` for `pred`, polling.
pub(crate) fn wait_for(limit: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// The fault table's signal rows, on real builds. A git worktree of the
/// default tree with one changed file (unique per run, so the kernel is
/// never cached) is built as x86_64-lto-none: its `O=` dir is seeded from
/// the shipped kernel's, so each `make` is incremental. The harness gets
/// SIGINT, then SIGTERM, then SIGKILL while its make runs: 130 and 143
/// within 5 s, and after each (SIGKILL included, through the watchdog) no
/// process mentioning the worktree's `O=` dir within 5 s and no results;
/// then two runs at once: one builds, the other waits and reuses its
/// kernel, and both pass; then its cache entry damaged twice (vmlinux
/// cut, metadata edited): each time detected, rebuilt and passed.
/// Where [`signals_during_a_build_leave_nothing`] puts its worktree, under
/// its output directory.
pub(crate) const FAULT_WORKTREE: &str = "/lto-harness-tests/fault-signals/linux\n";

/// Removes the fault trial's worktree from the cached kernel tree when the
/// trial ends, passed or not.
pub(crate) struct WorktreeGuard {
    pub(crate) tree: PathBuf,
    pub(crate) worktree: PathBuf,
}

impl Drop for WorktreeGuard {
    fn drop(&mut self) {
        let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
        let wt = self.worktree.to_string_lossy();
        let _ = git(&self.tree, &["worktree", "remove", "--force", &wt]);
        let _ = std::fs::remove_dir_all(&self.worktree);
        let _ = git(&self.tree, &["worktree", "prune"]);
    }
}
