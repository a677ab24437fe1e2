//! Child processes that cannot outlive the harness.
//!
//! Every `make` and every QEMU is started here, in a process group of its
//! own, with `PR_SET_PDEATHSIG` so that the leader dies if the harness does.
//! Live groups are registered so that SIGINT, SIGTERM or SIGHUP kills all
//! of them before the harness exits (130, 143, 129), and a [`GroupChild`]
//! dropped on any error path kills its whole group. A harness killed
//! outright (SIGKILL) cannot do that, and `PR_SET_PDEATHSIG` only reaches
//! the leader, not make's compilers and linker: a small watchdog process
//! (`sh`, in a group of its own) is told each group as it starts and ends,
//! over a pipe only the harness holds, and kills every group still listed
//! when that pipe closes, however the harness died. Waiting uses `wait4`, which also gives the
//! CPU time and peak memory of the child and every descendant it reaped
//! (for `make`, the compilers and the LTO link); duct hides that, which is
//! why this module uses `std::process` directly.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// Set by [`stop_everything`]: [`spawn`] starts nothing more.
static STOPPING: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();
/// The watchdog's stdin (None when it could not be started).
static WATCHDOG: Mutex<Option<Option<std::process::ChildStdin>>> = Mutex::new(None);

/// The watchdog: `+PGID` adds a group, `-PGID` removes one; at end of
/// input (the harness is gone), every group left is killed.
const WATCHDOG_SCRIPT: &str = r#"set -f
groups=""
while read -r op pg; do
  case "$op" in
    +) groups="$groups $pg" ;;
    -) left=""; for g in $groups; do [ "$g" = "$pg" ] || left="$left $g"; done; groups=$left ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
"#;

/// Tells the watchdog (started on first use) that `pgid` started (`+`)
/// or ended (`-`). Best effort: without a watchdog, signals and drops
/// still kill every group.
fn tell_watchdog(op: char, pgid: i32) {
    let Ok(mut w) = WATCHDOG.lock() else { return };
    let stdin = w.get_or_insert_with(|| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", WATCHDOG_SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        cmd.spawn().ok().and_then(|mut c| c.stdin.take())
    });
    if let Some(pipe) = stdin {
        use std::io::Write;
        if writeln!(pipe, "{op} {pgid}").is_err() {
            *stdin = None;
        }
    }
}

/// Installs the SIGINT/SIGTERM/SIGHUP handler that kills every live group
/// and exits with 128 + the signal (130, 143, 129). Idempotent.
pub fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let n = kill_all_groups();
                let name = match sig {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                eprintln!("lto-harness: {name}; killed {n} child process group(s)");
                std::process::exit(128 + sig);
            }
        });
    });
}

/// Winds the process down without exiting (`run --fail-fast` after the
/// first failure): [`spawn`] refuses from now on and every group running
/// is killed; returns how many were.
pub fn stop_everything() -> usize {
    STOPPING.store(true, Ordering::SeqCst);
    kill_all_groups()
}

/// Lets [`spawn`] start processes again after [`stop_everything`] (the
/// run that stopped is over).
pub fn resume_spawning() {
    STOPPING.store(false, Ordering::SeqCst);
}

/// Whether [`stop_everything`] was called (and not resumed).
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Kills every registered process group; returns how many there were.
pub fn kill_all_groups() -> usize {
    let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for &pgid in &groups {
        kill_group(pgid);
    }
    groups.len()
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Resource usage of a finished child and the descendants it waited for.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    pub user_seconds: f64,
    pub system_seconds: f64,
    /// Largest resident set of any single process in the tree, in KiB.
    pub max_rss_kib: u64,
}

impl Usage {
    pub fn cpu_seconds(&self) -> f64 {
        self.user_seconds + self.system_seconds
    }
}

/// A child that leads its own process group.
pub struct GroupChild {
    child: Child,
    pgid: i32,
    reaped: bool,
}

/// Spawns `cmd` as the leader of a new process group.
pub fn spawn(cmd: &mut Command) -> io::Result<GroupChild> {
    if stopping() {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "not started: the run is stopping",
        ));
    }
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pgid = child.id() as i32;
    LIVE_GROUPS.lock().map(|mut g| g.insert(pgid)).ok();
    tell_watchdog('+', pgid);
    // Started while the run began to stop: it goes with the others.
    if stopping() {
        kill_group(pgid);
    }
    Ok(GroupChild {
        child,
        pgid,
        reaped: false,
    })
}

impl GroupChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, for taking its pipes.
    pub fn inner(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills the whole group (the leader and anything it started).
    pub fn kill(&self) {
        kill_group(self.pgid);
    }

    /// Waits for the leader with `wait4`, then kills whatever is left of
    /// its group, so no grandchild survives the step.
    pub fn wait(mut self) -> io::Result<(ExitStatus, Usage)> {
        let mut status = 0;
        // SAFETY: rusage is plain old data, fully written by wait4 on success.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = self.pgid;
        loop {
            // SAFETY: valid pointers to local status and rusage.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        self.reaped = true;
        self.kill();
        self.unregister();
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok((
            ExitStatus::from_raw(status),
            Usage {
                user_seconds: tv(ru.ru_utime),
                system_seconds: tv(ru.ru_stime),
                max_rss_kib: ru.ru_maxrss.max(0) as u64,
            },
        ))
    }

    /// Non-blocking check whether the leader has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn unregister(&self) {
        let was = LIVE_GROUPS
            .lock()
            .map(|mut g| g.remove(&self.pgid))
            .unwrap_or(false);
        if was {
            tell_watchdog('-', self.pgid);
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            // Reap the leader so it does not linger as a zombie.
            let _ = self.child.wait();
        }
        self.unregister();
    }
}

/// Waits up to `limit` for `child` to exit by itself, polling.
pub fn wait_exit_for(child: &mut GroupChild, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if child.has_exited() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[test]
    fn dropping_a_child_kills_its_grandchildren() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 300 & echo $!; wait"]);
        cmd.stdout(std::process::Stdio::piped());
        let mut child = spawn(&mut cmd).unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.inner().stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        assert!(alive(grandchild));
        drop(child);
        // The grandchild is reparented and reaped by init; give it a moment.
        let mut gone = false;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat"));
            if stat.map(|s| s.contains(") Z ")).unwrap_or(true) {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone, "grandchild {grandchild} survived its group");
    }

    fn gone(pid: i32) -> bool {
        for _ in 0..250 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            if stat.map(|s| s.contains(") Z ")).unwrap_or(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The watchdog kills the groups still listed when its input closes
    /// (the harness died), and not the ones taken off the list.
    #[test]
    fn the_watchdog_kills_listed_groups_when_its_pipe_closes() {
        // A group of two: sh and the sleep it started (whose pid it prints).
        let group = || {
            let mut c = Command::new("sh");
            c.args(["-c", "sleep 60 & echo $!; wait"])
                .stdout(std::process::Stdio::piped())
                .process_group(0);
            let mut child = c.spawn().unwrap();
            let mut line = String::new();
            use std::io::BufRead;
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            (child, line.trim().parse::<i32>().unwrap())
        };
        let ((mut listed, listed_sleep), (mut removed, removed_sleep)) = (group(), group());
        let mut dog = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut pipe = dog.stdin.take().unwrap();
            writeln!(pipe, "+ {}", listed.id()).unwrap();
            writeln!(pipe, "+ {}", removed.id()).unwrap();
            writeln!(pipe, "- {}", removed.id()).unwrap();
        }
        dog.wait().unwrap();
        // The whole group, not only its leader, and at once (not in 60 s).
        assert!(gone(listed_sleep), "a listed group's grandchild survived");
        assert!(gone(listed.id() as i32), "a listed group's leader survived");
        let _ = listed.wait();
        assert!(alive(removed_sleep), "an unlisted group was killed");
        kill_group(removed.id() as i32);
        let _ = removed.wait();
    }

    #[test]
    fn wait_reports_exit_status_and_cpu_time() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3",
        ]);
        let child = spawn(&mut cmd).unwrap();
        let (status, usage) = child.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(usage.cpu_seconds() > 0.0, "{usage:?}");
        assert!(usage.max_rss_kib > 0);
    }
}
