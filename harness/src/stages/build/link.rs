//! The ThinLTO link inside the shared job pool.
//!
//! lld's ThinLTO backend compiles on `--thinlto-jobs` threads (by default
//! one per core) and takes no jobserver token, so a pooled thin-LTO link
//! beside other compile jobs would run more threads than the pool has
//! tokens. In a pooled thin-LTO build, make's `LD` is a small script
//! ([`wrapper_script`]) that runs the real `ld.lld` through `lto-harness
//! link-in-pool` ([`link_in_pool`]): the link takes the pool's tokens that
//! are free when it starts (one per further thread, up to the machine's
//! cores), runs with `--thinlto-jobs` = the token its make job holds plus
//! those, and gives them back when it exits or is stopped. A link that
//! starts while every token is taken runs on one thread. Outside a run (a
//! maintainer's make in the same `O=` dir) the script runs `ld.lld` itself.
//!
//! The thread count does not change what lld writes (ThinLTO splits the
//! work by module, not by thread), so `LD` is not part of the build's
//! cache key. Each link through the pool is one line of
//! `lto-harness-links.log` in the `O=` dir: threads, seconds, output.

use crate::host::jobserver::{borrow_free_tokens, Borrowed};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The hidden first argument of `lto-harness` that runs a link in the pool.
pub const SUBCOMMAND: &str = "link-in-pool";

/// The environment variable naming the file each link appends its line to.
pub const LOG_ENV: &str = "LTO_HARNESS_LINK_LOG";

/// The log's name in the `O=` dir.
pub const LOG_NAME: &str = "lto-harness-links.log";

static HARNESS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Called by the `lto-harness` binary's `main`: this process can run
/// [`SUBCOMMAND`] (a test binary cannot), as the executable it was
/// started from, whatever its file is named.
pub fn register_harness_binary() {
    if let Ok(exe) = std::env::current_exe() {
        let _ = HARNESS.set(exe);
    }
}

/// The running `lto-harness` binary, once [`register_harness_binary`]
/// was called.
pub fn this_harness() -> Option<PathBuf> {
    HARNESS.get().cloned()
}

/// Writes, in `dir`, the script a pooled thin-LTO build's make runs as
/// `LD` (rewritten only when it differs, atomically), and returns its
/// path: the same for the same linker, so an `O=` dir's link commands do
/// not change from one run to the next.
pub fn wrapper_script(dir: &Path, harness: &Path, real_ld: &Path) -> io::Result<PathBuf> {
    let name = real_ld
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ld.lld".into());
    let tag =
        &crate::host::cache::hash_parts([("ld", real_ld.as_os_str().as_encoded_bytes())])[..12];
    let dir = dir.join(format!("link-{tag}"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let (h, ld) = (quote(harness), quote(real_ld));
    let text = format!(
        "#!/bin/sh\n\
         # Written by lto-harness: make's LD in a pooled thin-LTO build. In a run\n\
         # ({pool} set), the link takes the pool's free job tokens for its ThinLTO\n\
         # threads (--thinlto-jobs); anywhere else it is {ld} itself.\n\
         if [ -n \"${{{pool}:-}}\" ] && [ -x {h} ]; then\n\
         \texec {h} {sub} {ld} \"$@\"\n\
         fi\n\
         exec {ld} \"$@\"\n",
        pool = crate::host::jobserver::POOL_ENV,
        sub = SUBCOMMAND,
    );
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        use std::os::unix::fs::PermissionsExt;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))?;
        tmp.persist(&path).map_err(|e| e.error)?;
    }
    Ok(path)
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// What a link in the pool did.
#[derive(Debug)]
pub struct Linked {
    pub status: ExitStatus,
    /// `--thinlto-jobs` it ran with.
    pub threads: usize,
    /// Why it could not reach the pool (then it ran on one thread).
    pub pool_error: Option<String>,
}

/// Runs `real_ld args` with `--thinlto-jobs` = 1 + the tokens of `pool`
/// it could take now (at most `cores - 1`), gives them back when lld has
/// exited (or when this process is told to stop: lld is stopped with it),
/// and appends a line to `log` when given. With `guard`, SIGTERM, SIGINT
/// and SIGHUP are caught while lld runs (the `link-in-pool` process: see
/// [`StopGuard`]).
pub fn link_in_pool(
    real_ld: &Path,
    args: &[OsString],
    pool: Option<&Path>,
    cores: usize,
    log: Option<&Path>,
    guard: bool,
) -> io::Result<Linked> {
    let (borrowed, pool_error) = match pool.map(|p| borrow_free_tokens(p, cores.saturating_sub(1)))
    {
        Some(Ok(b)) => (Some(b), None),
        Some(Err(e)) => (None, Some(format!("cannot open the job pool: {e}"))),
        None => (None, None),
    };
    let threads = 1 + borrowed.as_ref().map_or(0, Borrowed::count);
    let held: Arc<Mutex<Option<Borrowed>>> = Arc::new(Mutex::new(borrowed));
    let t = Instant::now();
    let mut child = Command::new(real_ld)
        .arg(format!("--thinlto-jobs={threads}"))
        .args(args)
        .spawn()?;
    // Without the guard (signals that cannot be caught) a stopped link
    // loses its tokens, as a make killed outright does; lld is waited for
    // either way.
    let guard = guard
        .then(|| StopGuard::install(child.id(), Arc::clone(&held)).ok())
        .flatten();
    let status = child.wait();
    drop(guard);
    if let Some(mut b) = held.lock().unwrap_or_else(|e| e.into_inner()).take() {
        b.give_back()?;
    }
    let status = status?;
    if let Some(log) = log {
        let output = args
            .iter()
            .skip_while(|a| *a != "-o")
            .nth(1)
            .map(|o| o.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        writeln!(
            f,
            "{threads} {:.2} {output}{}",
            t.elapsed().as_secs_f64(),
            pool_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )?;
    }
    Ok(Linked {
        status,
        threads,
        pool_error,
    })
}

/// While a link runs: SIGTERM, SIGINT or SIGHUP to this process gives the
/// borrowed tokens back, passes the signal to lld and exits 128 + signal.
struct StopGuard {
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StopGuard {
    fn install(child: u32, held: Arc<Mutex<Option<Borrowed>>>) -> io::Result<StopGuard> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                if let Some(mut b) = held.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = b.give_back();
                }
                // SAFETY: kill(2) with a pid this process started and has
                // not yet waited for.
                unsafe { libc::kill(child as libc::pid_t, sig) };
                std::process::exit(128 + sig);
            }
        });
        Ok(StopGuard {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `lto-harness link-in-pool LD ARGS…`: the exit code of the link (2 when
/// lld could not be run at all).
pub fn main(args: &[OsString]) -> u8 {
    let Some((real, rest)) = args.split_first() else {
        eprintln!("lto-harness {SUBCOMMAND}: usage: lto-harness {SUBCOMMAND} LD [ARGS…]");
        return 2;
    };
    let pool = std::env::var_os(crate::host::jobserver::POOL_ENV).map(PathBuf::from);
    let log = std::env::var_os(LOG_ENV).map(PathBuf::from);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match link_in_pool(
        Path::new(real),
        rest,
        pool.as_deref(),
        cores,
        log.as_deref(),
        true,
    ) {
        Ok(l) => {
            use std::os::unix::process::ExitStatusExt;
            match (l.status.code(), l.status.signal()) {
                (Some(c), _) => c.clamp(0, 255) as u8,
                (None, Some(s)) => (128 + s).clamp(0, 255) as u8,
                _ => 2,
            }
        }
        Err(e) => {
            eprintln!(
                "lto-harness {SUBCOMMAND}: cannot run {}: {e}",
                Path::new(real).display()
            );
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::jobserver::Pool;

    /// A stand-in linker that writes its arguments to a file.
    fn fake_ld(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let ld = dir.join("ld.lld-19");
        std::fs::write(
            &ld,
            format!("#!/bin/sh\necho \"$@\" > {}/args\nexit 3\n", dir.display()),
        )
        .unwrap();
        std::fs::set_permissions(&ld, std::fs::Permissions::from_mode(0o755)).unwrap();
        ld
    }

    #[test]
    fn a_link_runs_on_the_free_tokens_and_gives_them_back() {
        let d = tempfile::tempdir().unwrap();
        let ld = fake_ld(d.path());
        let pool = Pool::new(4, None).unwrap();
        let path = pool.pipe_path().unwrap();
        let _make_job = pool.acquire().unwrap();
        let log = d.path().join(LOG_NAME);
        let args: Vec<OsString> = ["-r", "-o", "vmlinux.o", "vmlinux.a"]
            .iter()
            .map(OsString::from)
            .collect();
        // Three tokens free, two cores: one more thread than the make job's.
        let l = link_in_pool(&ld, &args, Some(&path), 2, Some(&log), false).unwrap();
        assert_eq!((l.threads, l.status.code()), (2, Some(3)));
        assert_eq!(
            std::fs::read_to_string(d.path().join("args")).unwrap(),
            "--thinlto-jobs=2 -r -o vmlinux.o vmlinux.a\n"
        );
        assert_eq!(pool.available().unwrap(), 3, "the tokens came back");
        // Every token taken: one thread, the one the make job holds.
        let _rest: Vec<_> = (0..3).map(|_| pool.acquire().unwrap()).collect();
        let l = link_in_pool(&ld, &args, Some(&path), 8, Some(&log), false).unwrap();
        assert_eq!(l.threads, 1);
        let lines = std::fs::read_to_string(&log).unwrap();
        let threads: Vec<&str> = lines
            .lines()
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(threads, ["2", "1"]);
        assert!(lines.lines().all(|l| l.ends_with(" vmlinux.o")), "{lines}");
        // No pool: one thread; a pool that cannot be opened: one, and why.
        assert_eq!(
            link_in_pool(&ld, &args, None, 8, None, false)
                .unwrap()
                .threads,
            1
        );
        let gone = link_in_pool(&ld, &args, Some(&d.path().join("nope")), 8, None, false).unwrap();
        assert!(gone.threads == 1 && gone.pool_error.is_some(), "{gone:?}");
    }

    #[test]
    fn the_script_runs_the_harness_in_a_run_and_lld_elsewhere() {
        let d = tempfile::tempdir().unwrap();
        let ld = fake_ld(d.path());
        let harness = d.path().join("lto-harness");
        std::fs::write(
            &harness,
            format!(
                "#!/bin/sh\necho harness \"$@\" > {}/args\n",
                d.path().display()
            ),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&harness, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let tools = d.path().join("tools");
        let script = wrapper_script(&tools, &harness, &ld).unwrap();
        assert_eq!(script.file_name().unwrap(), "ld.lld-19");
        // The same path and file the next time.
        let again = wrapper_script(&tools, &harness, &ld).unwrap();
        assert_eq!(script, again);
        let args = d.path().join("args");
        let run = |pool: Option<&str>| {
            let mut c = Command::new(&script);
            c.args(["-o", "x"])
                .env_remove(crate::host::jobserver::POOL_ENV);
            if let Some(p) = pool {
                c.env(crate::host::jobserver::POOL_ENV, p);
            }
            let st = c.status().unwrap();
            (st.code(), std::fs::read_to_string(&args).unwrap())
        };
        assert_eq!(run(None), (Some(3), "-o x\n".to_owned()));
        assert_eq!(
            run(Some("/proc/1/fd/3")),
            (
                Some(0),
                format!("harness {SUBCOMMAND} {} -o x\n", ld.display())
            )
        );
    }
}
