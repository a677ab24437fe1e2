//! Running make (or any build command) the way the build stage needs:
//! in its own process group ([`crate::host::proc`]), its output appended
//! whole to a log and fed line by line to a progress callback, the lines
//! worth showing of a failure picked out, and every command as a shell
//! line runnable by hand; a build's make is also profiled (its process
//! group's CPU seconds sampled as it runs). In a shared job pool (`run --pool`, see
//! [`crate::host::jobserver`]) each command holds a token while it runs,
//! and a make joins the pool instead of its own `-jN`.

use crate::host::cpustat::GroupSampler;
use crate::host::jobserver::Pool;
use crate::host::proc;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `argv` in its own process group with stdout+stderr appended to
/// `log`, feeding each output line to `on_line`.
pub fn run_logged(
    argv: &[String],
    log: &Path,
    append: bool,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(std::process::ExitStatus, proc::Usage)> {
    run_logged_in(argv, log, append, None, on_line)
}

/// [`run_logged`], in `pool` when given: the command waits for a job
/// token and holds it until it has been waited for; a make runs without
/// its `-jN` and takes its further jobs from the pool. The log's `$` line
/// is the command as it ran.
pub fn run_logged_in(
    argv: &[String],
    log: &Path,
    append: bool,
    pool: Option<&Pool>,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(std::process::ExitStatus, proc::Usage)> {
    let ran = run_timed_in(argv, log, append, pool, on_line)?;
    Ok((ran.status, ran.usage))
}

/// [`run_logged_in`], also saying how long the command waited for a token
/// apart from how long it ran (its samples are empty).
pub fn run_timed_in(
    argv: &[String],
    log: &Path,
    append: bool,
    pool: Option<&Pool>,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<Profiled> {
    run_inner(argv, log, append, pool, None, on_line)
}

/// What [`run_profiled`] and [`run_timed_in`] saw of a command.
#[derive(Debug)]
pub struct Profiled {
    pub status: std::process::ExitStatus,
    pub usage: proc::Usage,
    /// `[seconds since it started, CPU seconds so far]`, from its start to
    /// its end (the last sample is the waited-for total).
    pub samples: Vec<[f64; 2]>,
    /// How long it waited for a job token before it started (0 outside a
    /// pool): not part of its wall time.
    pub queued_seconds: f64,
    /// How long it ran, from its start to its exit.
    pub wall_seconds: f64,
}

/// [`run_logged_in`], sampling the command's process group every `every`
/// (see [`GroupSampler`]), and timing its wait for a token apart from its run.
pub fn run_profiled(
    argv: &[String],
    log: &Path,
    append: bool,
    pool: Option<&Pool>,
    every: Duration,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<Profiled> {
    run_inner(argv, log, append, pool, Some(every), on_line)
}

fn run_inner(
    argv: &[String],
    log: &Path,
    append: bool,
    pool: Option<&Pool>,
    profile: Option<Duration>,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<Profiled> {
    let argv = &match pool {
        Some(p) => p.argv_for(argv),
        None => argv.to_vec(),
    };
    let program = &argv[0];
    let package = if program == "make" {
        "make"
    } else {
        "the package that provides it"
    };
    if !program.contains('/') {
        crate::host::toolchain::require(program, package)?;
    }
    let mut logf = std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    writeln!(logf, "$ {}", shell_line(argv))?;
    if let Some(p) = pool {
        writeln!(logf, "# {}", p.describe())?;
    }
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    // Held until the child has been waited for (the end of this function).
    let queued = Instant::now();
    let _token = match pool {
        Some(p) => Some(
            p.join(&mut cmd)
                .context("taking a job token from the pool")?,
        ),
        None => None,
    };
    let queued_seconds = queued.elapsed().as_secs_f64();
    let t = Instant::now();
    let child = proc::spawn(&mut cmd).with_context(|| format!("starting {}", shell_line(argv)))?;
    drop(cmd); // close our copies of the pipe's write end
               // The child leads its own process group (proc::spawn).
    let sampler = profile.map(|every| GroupSampler::start(child.pid() as i32, every));
    std::thread::scope(|s| {
        let pump = s.spawn(move || -> std::io::Result<()> {
            let mut r = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                if r.read_until(b'\n', &mut buf)? == 0 {
                    return Ok(());
                }
                logf.write_all(&buf)?;
                on_line(String::from_utf8_lossy(&buf).trim_end());
            }
        });
        let waited = child.wait();
        let wall = t.elapsed().as_secs_f64();
        let pumped = pump.join().unwrap_or(Ok(()));
        let (status, usage) = waited?;
        pumped?;
        let samples = sampler
            .map(|s| s.finish(Some([wall, usage.cpu_seconds()])))
            .unwrap_or_default();
        Ok(Profiled {
            status,
            usage,
            samples,
            queued_seconds,
            wall_seconds: wall,
        })
    })
}

/// The lines of a failed build worth showing: the last lines that look like
/// errors, else the last lines.
pub fn error_tail(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            l.contains("error:")
                || l.contains("Error ")
                || l.contains("undefined")
                || l.contains("*** ")
        })
        .collect();
    let pick = if errors.is_empty() {
        &lines[..]
    } else {
        &errors[..]
    };
    pick[pick.len().saturating_sub(15)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Quotes argv as a line a shell would run.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let v: Vec<String> = ["make", "O=/tmp/a b", "it's", "-j2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(shell_line(&v), "make 'O=/tmp/a b' 'it'\\''s' -j2");
    }

    #[test]
    fn error_tail_prefers_error_lines() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        std::fs::write(
            &log,
            "  CC a.o\nfoo.c:1:2: error: boom\n  CC b.o\nmake[2]: *** [x] Error 1\n",
        )
        .unwrap();
        assert_eq!(
            error_tail(&log),
            vec!["foo.c:1:2: error: boom", "make[2]: *** [x] Error 1"]
        );
    }

    #[test]
    fn run_logged_saves_output_and_status() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let seen = std::sync::Mutex::new(Vec::new());
        let argv: Vec<String> = ["sh", "-c", "echo out; echo err >&2; exit 4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (status, _) = run_logged(&argv, &log, false, &|l| {
            seen.lock().unwrap().push(l.to_owned())
        })
        .unwrap();
        assert_eq!(status.code(), Some(4));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    /// A command waiting for a token has not started: the wait is its
    /// `queued_seconds`, not part of its wall time nor of its samples.
    #[test]
    fn the_wait_for_a_token_is_not_run_time() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let pool = Pool::new(1, None).unwrap();
        let held = pool.acquire().unwrap();
        let argv: Vec<String> = ["sh", "-c", "sleep 0.2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ran = std::thread::scope(|s| {
            let run = s.spawn(|| {
                run_profiled(
                    &argv,
                    &log,
                    false,
                    Some(&pool),
                    Duration::from_millis(50),
                    &|_| {},
                )
            });
            std::thread::sleep(Duration::from_millis(800));
            drop(held);
            run.join().unwrap().unwrap()
        });
        assert!(ran.status.success());
        assert!(ran.queued_seconds >= 0.7, "{ran:?}");
        assert!(
            (0.15..0.7).contains(&ran.wall_seconds),
            "the run alone: {ran:?}"
        );
        let last = ran.samples.last().unwrap();
        assert_eq!(last[0], ran.wall_seconds);
    }
}
